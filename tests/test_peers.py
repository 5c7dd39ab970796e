"""The peer scripts of scripts/peers/ keep the time-to-accuracy protocol (see _protocol.py there):
one PEER_EPOCH line per epoch on stdout and nothing else, a stop at the first epoch reaching the
target, and one line on stderr, exit code 1, when the data is missing. Run on tiny IDX files."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.data.idx import load_split
from tests.conftest import ROOT, write_dataset

PEERS = ROOT / "scripts" / "peers"
N_TRAIN, N_TEST = 240, 100
# The recipe scripts/time_to_accuracy.py times, on a conv net (channels-last; bfloat16 where
# native).
RECIPE = ["experiment=time_to_accuracy", "model=lenet5"]
# Arguments that make each peer run on the tiny data: (a) and (c) take the first images, (b)
# holds out 40 of the 240 training images for validation, as its val_size says, and takes enough
# steps for a one-cycle schedule to have a warm-up (torch divides by its length).
TINY = {
    "pytorch_mnist_example": ["--limit-train", "200", "--limit-test", str(N_TEST)],
    "per_sample": ["--", *RECIPE, "data.val_size=40", "data.batch_size=32"],
    "lightning_template_mlp": ["--limit-train", str(N_TRAIN), "--limit-test", str(N_TEST)],
}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """Decompressed IDX files in torchvision's layout, as the benchmark prepares them."""
    root = tmp_path_factory.mktemp("peer_root")
    for dataset in ("MNIST", "FashionMNIST"):
        write_dataset(root, dataset, n_train=N_TRAIN, n_test=N_TEST, gz=False)
    return root


def run_peer(peer: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(PEERS / f"{peer}.py"), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def epoch_lines(done: subprocess.CompletedProcess) -> list[dict]:
    """The PEER_EPOCH records of a finished peer; fails if stdout holds anything else."""
    assert done.returncode == 0, done.stderr[-2000:]
    records = []
    for line in done.stdout.splitlines():
        prefix, _, record = line.partition(" ")
        assert prefix == "PEER_EPOCH", f"stdout holds more than epoch lines: {line!r}"
        records.append(json.loads(record))
    return records


def peer_arguments(peer: str, root: Path, *protocol: str) -> list[str]:
    """The protocol's options first: per_sample's overrides come last, after `--`."""
    return ["--root", str(root), *protocol, *TINY[peer]]


@pytest.mark.slow
@pytest.mark.parametrize("peer", TINY)
def test_a_peer_prints_one_epoch_line_per_epoch_and_nothing_else(peer, tiny_root):
    records = epoch_lines(run_peer(peer, *peer_arguments(peer, tiny_root, "--max-epochs", "2")))
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert isinstance(record["test_acc"], float) and 0.0 <= record["test_acc"] <= 1.0
        assert record["train_seconds"] > 0
    if peer == "lightning_template_mlp":  # the time of its extra tests, cumulative
        extra = [r["extra_test_seconds"] for r in records]
        assert 0 < extra[0] <= extra[1]


@pytest.mark.slow
@pytest.mark.parametrize("peer", TINY)
def test_a_peer_stops_after_the_first_epoch_that_reaches_the_target(peer, tiny_root):
    protocol = ["--max-epochs", "2", "--target", "0.0"]
    # On FashionMNIST, chosen the way each peer chooses its data.
    if peer == "per_sample":
        args = [*peer_arguments(peer, tiny_root, *protocol), "data=fashion"]
    else:
        args = peer_arguments(peer, tiny_root, *protocol, "--dataset", "FashionMNIST")
    (record,) = epoch_lines(run_peer(peer, *args))
    assert record["epoch"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("peer", TINY)
def test_a_peer_without_its_data_stops_in_one_line_without_a_traceback(peer, tmp_path):
    done = run_peer(peer, *peer_arguments(peer, tmp_path / "nowhere"))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (told,) = done.stderr.splitlines()
    assert told.startswith(f"{peer}.py: {tmp_path / 'nowhere' / 'MNIST' / 'raw'} lacks ")


@pytest.mark.slow
def test_a_network_value_its_class_refuses_stops_our_per_sample_recipe_in_one_line(tiny_root):
    args = peer_arguments("per_sample", tiny_root, "--max-epochs", "1")
    done = run_peer("per_sample", *args, "model.padding=mirror")
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    (told,) = done.stderr.splitlines()
    assert told.startswith("per_sample.py: model (mlp_vs_cnn.models.ConvNet): ")


def test_per_sample_trains_on_the_images_our_data_module_trains_on(fixture_data_dir):
    spec = importlib.util.spec_from_file_location("per_sample", PEERS / "per_sample.py")
    per_sample = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(PEERS))  # where the script finds _protocol
    try:
        spec.loader.exec_module(per_sample)
    finally:
        sys.path.remove(str(PEERS))
    datamodule = ImageDataModule(
        data_dir=str(fixture_data_dir), download=False, val_size=100, split_seed=7
    )
    datamodule.setup("fit")
    images, _ = load_split(fixture_data_dir, "MNIST", "train", download=False)
    _, index = per_sample.split_indices(len(images), val_size=100, split_seed=7)  # what it uses
    assert len(index) == len(images) - 100
    assert torch.equal(images[index], datamodule.splits["train"][0])
