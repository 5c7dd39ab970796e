"""Read the IDX files of MNIST and Fashion-MNIST into uint8 tensors, without writing anywhere.

The files live where torchvision puts them, `<data_dir>/<MNIST|FashionMNIST>/raw/`, gzipped
or not. When none are there, torchvision downloads them (if the machine is online); otherwise
the error says which folder and which files are expected.
"""

from __future__ import annotations

import gzip
import logging
import struct
import zlib
from pathlib import Path

import torch

log = logging.getLogger(__name__)

# The IDX magic number is 0x0000 + data type (0x08 = unsigned byte) + number of dimensions.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}


class DataFilesError(RuntimeError):
    """The IDX files are missing or not valid; the message says what to do."""


def raw_folder(data_dir: str | Path, dataset: str) -> Path:
    return Path(data_dir).expanduser() / dataset / "raw"


EXPECTED_FILES = [name + ".gz" for split in SPLIT_FILES.values() for name in split]


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, expected_magic: int) -> torch.Tensor:
    """Parse one IDX file (plain or gzipped) into a uint8 tensor, checking header and size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip: a truncated or corrupt stream
        raise DataFilesError(
            f"{path} cannot be read ({err}); delete it and fetch it again."
        ) from err
    if len(content) < 8:
        raise DataFilesError(
            f"{path} is too short to be an IDX file; delete it and fetch it again."
        )
    (magic,) = struct.unpack(">I", content[:4])
    if magic != expected_magic:
        raise DataFilesError(
            f"{path} has magic number {magic:#010x}, expected {expected_magic:#010x}: "
            "it is not the IDX file its name says; delete it and fetch it again."
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataFilesError(
            f"{path} ends inside its header: the file is truncated; delete it and fetch it again."
        )
    dims = struct.unpack(f">{ndim}I", content[4:header])
    expected_bytes = header + int(torch.tensor(dims).prod())
    if len(content) != expected_bytes:
        raise DataFilesError(
            f"{path} holds {len(content)} bytes but its header {dims} promises {expected_bytes}: "
            "the file is truncated or corrupt; delete it and fetch it again."
        )
    # bytearray: torch.frombuffer needs a writable buffer to avoid a warning.
    data = torch.frombuffer(bytearray(content[header:]), dtype=torch.uint8)
    return data.view(*dims)


def load_split(
    data_dir: str | Path, dataset: str, split: str, download: bool = True, image_size: int = 28
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images [N, H, W] uint8, labels [N] int64) of one split, checked for consistency."""
    folder = raw_folder(data_dir, dataset)
    image_name, label_name = SPLIT_FILES[split]
    image_path, label_path = _find(folder, image_name), _find(folder, label_name)
    if image_path is None or label_path is None:
        missing = [n for n, p in ((image_name, image_path), (label_name, label_path)) if p is None]
        _download(data_dir, dataset, missing, download)
        image_path, label_path = _find(folder, image_name), _find(folder, label_name)
    images = read_idx(image_path, IMAGES_MAGIC)
    labels = read_idx(label_path, LABELS_MAGIC)
    if images.shape[1:] != (image_size, image_size):
        raise DataFilesError(
            f"{image_path} holds images of shape {tuple(images.shape[1:])}, "
            f"expected {image_size}x{image_size}."
        )
    if len(images) != len(labels):
        raise DataFilesError(
            f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels: "
            "the two files do not belong together."
        )
    if len(labels) and int(labels.max()) > 9:
        raise DataFilesError(f"{label_path} has a label {int(labels.max())} outside 0..9.")
    if len(images) != SPLIT_SIZES[split]:
        log.warning(
            "%s holds %d images, not the %d of the full %s split.",
            image_path,
            len(images),
            SPLIT_SIZES[split],
            dataset,
        )
    return images, labels.long()


def ensure_files(data_dir: str | Path, dataset: str, download: bool = True) -> None:
    """Make sure the four files of `dataset` are in `data_dir` (downloading them if allowed and
    none is there), or raise `DataFilesError` saying what to do: a sweep asks once for all its
    jobs."""
    names = [name for split in SPLIT_FILES.values() for name in split]
    missing = [name for name in names if _find(raw_folder(data_dir, dataset), name) is None]
    if missing:
        _download(data_dir, dataset, missing, download)


def _download(data_dir: str | Path, dataset: str, missing: list[str], download: bool) -> None:
    """Fetch the raw files with torchvision; when that is off or fails, say what should be where.

    Only a folder that holds none of the files is downloaded into, so a data folder that a user
    filled by hand (or a read-only shared copy) is never written to.
    """
    folder = raw_folder(data_dir, dataset)
    advice = (
        f"Put these four files in {folder} (gzipped or not): "
        f"{', '.join(EXPECTED_FILES)},\n"
        "or point DATA_DIR (or `data.data_dir=...`) at a folder that has them."
    )
    if not download:
        raise DataFilesError(
            f"{', '.join(missing)} not found in {folder} (download is off). {advice}"
        )
    if any(_find(folder, name) for split in SPLIT_FILES.values() for name in split):
        raise DataFilesError(
            f"{folder} holds some {dataset} files but not {', '.join(missing)}; "
            f"it is left untouched rather than downloaded over. {advice}"
        )
    import torchvision

    log.info("%s not found in %s: downloading it with torchvision.", dataset, folder)
    try:
        getattr(torchvision.datasets, dataset)(root=str(Path(data_dir).expanduser()), download=True)
    except Exception as err:  # offline, read-only folder, mirror down: the remedy is the same
        raise DataFilesError(
            f"{dataset} is not in {folder} and the download failed ({err}). {advice}"
        ) from err
