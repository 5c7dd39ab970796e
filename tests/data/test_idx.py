"""Reading the IDX files: gzipped or plain, checked, never written to, never downloaded unasked."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from mlp_vs_cnn.data.idx import (
    EXPECTED_FILES,
    IMAGES_MAGIC,
    DataFilesError,
    load_split,
    read_idx,
)
from tests.conftest import make_images, write_dataset, write_idx


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def forbid_download(monkeypatch):
    """Make any torchvision download attempt fail the test."""
    import torchvision

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    for name in ("MNIST", "FashionMNIST"):
        monkeypatch.setattr(torchvision.datasets, name, refuse)


def test_gzipped_and_plain_idx_files_load_the_same(tmp_path):
    write_dataset(tmp_path / "gz", "MNIST", gz=True)
    write_dataset(tmp_path / "plain", "MNIST", gz=False)
    for split in ("train", "test"):
        gz_images, gz_labels = load_split(tmp_path / "gz", "MNIST", split, download=False)
        images, labels = load_split(tmp_path / "plain", "MNIST", split, download=False)
        assert torch.equal(gz_images, images) and torch.equal(gz_labels, labels)


def test_load_split_returns_the_written_images_and_labels(tmp_path):
    write_dataset(tmp_path, "FashionMNIST", n_train=60, n_test=20)
    images, labels = load_split(tmp_path, "FashionMNIST", "test", download=False)
    expected_images, expected_labels = make_images(20, seed=1)
    assert images.dtype == torch.uint8 and images.shape == (20, 28, 28)
    assert labels.dtype == torch.int64
    assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels.long())


def test_missing_files_name_the_folder_and_the_expected_files(tmp_path, forbid_download):
    with pytest.raises(DataFilesError) as err:
        load_split(tmp_path, "MNIST", "train", download=False)
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert all(name in message for name in EXPECTED_FILES)
    assert "DATA_DIR" in message and "download is off" in message


def test_nothing_downloads_when_download_is_off(tmp_path, forbid_download):
    with pytest.raises(DataFilesError):
        load_split(tmp_path, "FashionMNIST", "test", download=False)
    assert not any(tmp_path.rglob("*"))


def test_a_partly_filled_folder_is_not_downloaded_into(tmp_path, forbid_download):
    write_dataset(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    before = snapshot(tmp_path)
    with pytest.raises(DataFilesError, match="t10k-labels-idx1-ubyte.*left untouched"):
        load_split(tmp_path, "MNIST", "test", download=True)
    assert snapshot(tmp_path) == before


def test_a_failed_download_says_where_the_files_should_be(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DataFilesError, match="download failed") as err:
        load_split(tmp_path, "MNIST", "train", download=True)
    assert str(tmp_path / "MNIST" / "raw") in str(err.value)
    assert "network is unreachable" in str(err.value)


def _corrupt(path: Path, how: str) -> None:
    content = gzip.decompress(path.read_bytes())
    if how == "truncated":
        path.write_bytes(gzip.compress(content[:-100]))
    elif how == "too_long":
        path.write_bytes(gzip.compress(content + b"\0" * 10))
    elif how == "header_only":
        path.write_bytes(gzip.compress(content[:8]))
    elif how == "too_short":
        path.write_bytes(gzip.compress(content[:5]))
    elif how == "bad_magic":
        path.write_bytes(gzip.compress(struct.pack(">I", 0x0801) + content[4:]))
    elif how == "truncated_gzip":
        path.write_bytes(path.read_bytes()[:-50])
    elif how == "not_gzip":
        path.write_bytes(b"<html>404 Not Found</html>" * 10)
    elif how == "corrupt_deflate":
        data = bytearray(path.read_bytes())
        for i in range(20, len(data) - 20, 7):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "too_long",
        "header_only",
        "too_short",
        "bad_magic",
        "truncated_gzip",
        "not_gzip",
        "corrupt_deflate",
    ],
)
def test_corrupt_or_truncated_files_give_a_data_files_error_naming_the_file(tmp_path, how):
    write_dataset(tmp_path, "MNIST", n_train=60, n_test=20)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    _corrupt(path, how)
    with pytest.raises(DataFilesError) as err:
        load_split(tmp_path, "MNIST", "train", download=False)
    assert str(path) in str(err.value)
    assert "fetch it again" in str(err.value)


def test_images_and_labels_of_different_lengths_are_refused(tmp_path):
    write_dataset(tmp_path, "MNIST", n_train=60, n_test=20)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", torch.zeros(19), gz=True)
    with pytest.raises(DataFilesError, match="do not belong together"):
        load_split(tmp_path, "MNIST", "test", download=False)


def test_images_of_the_wrong_size_are_refused(tmp_path):
    write_dataset(tmp_path, "MNIST", n_train=60, n_test=20)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte", torch.zeros(20, 32, 32))
    with pytest.raises(DataFilesError, match="expected 28x28"):
        load_split(tmp_path, "MNIST", "test", download=False)


def test_labels_outside_zero_to_nine_are_refused(tmp_path):
    write_dataset(tmp_path, "MNIST", n_train=60, n_test=20)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", torch.full((20,), 11))
    with pytest.raises(DataFilesError, match="outside 0..9"):
        load_split(tmp_path, "MNIST", "test", download=False)


def test_reading_leaves_the_data_folder_unchanged(tmp_path, forbid_download):
    write_dataset(tmp_path, "MNIST", gz=True)
    write_dataset(tmp_path, "FashionMNIST", gz=False)
    before = snapshot(tmp_path)
    for dataset in ("MNIST", "FashionMNIST"):
        for split in ("train", "test"):
            load_split(tmp_path, dataset, split, download=True)
    assert snapshot(tmp_path) == before


def test_read_idx_parses_a_header_and_its_dimensions(tmp_path):
    images = torch.arange(2 * 3 * 4).view(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte", images, gz=False)
    assert torch.equal(read_idx(path, IMAGES_MAGIC), images.to(torch.uint8))
