"""scripts/benchmark.py runs end to end on the tiny fixture data (it is timed by hand, not here)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from mlp_vs_cnn.data import ImageDataModule
from tests.conftest import ROOT


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", ROOT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_measures_every_pipeline_and_writes_json(fixture_data_dir, tmp_path):
    json_path = tmp_path / "bench.json"
    # 500 training images in batches of 16, 200 test images in batches of 50.
    load_benchmark().main([
        "--models", "mlp", "--data", "mnist", "mnist_shifted",
        "--warmup", "1", "--batches", "2", "--rounds", "1", "--no-train-run",
        "--json", str(json_path), "--alternative", "channels_last=true",
        "--override", f"paths.data_dir={fixture_data_dir}", "data.val_size=100",
        "data.batch_size=16", "data.eval_batch_size=50", "trainer.accelerator=cpu",
    ])  # fmt: skip
    results = json.loads(json_path.read_text())["results"]
    assert [r["data"] for r in results] == ["mnist", "mnist_shifted"]
    assert [r["timed_steps"] for r in results] == [2, 2]
    for r in results:
        for stage in ("train", "eval"):
            assert all(r[f"{stage}_{p}"] > 0 for p in ("ours", "bare", "per_sample"))
            for ratio in ("ours_over_bare", "ours_over_per_sample", "bare_over_per_sample"):
                assert r[f"{stage}_{ratio}"] > 0
            assert r[f"{stage}_alt"] > 0 and r[f"{stage}_alt_over_ours"] > 0
    assert "variant_extra" in results[1]


def test_the_per_sample_pipeline_shifts_as_seed_003_does(fixture_data_dir):
    """RandomCrop with padding on the PIL image: the whole digit somewhere on a blank canvas."""
    datamodule = ImageDataModule(
        data_dir=str(fixture_data_dir), val_size=100, canvas_size=56, image_size=56, normalize=False
    )
    datamodule.setup("fit")
    loader = load_benchmark().per_sample_loader(datamodule, "test", batch_size=50, workers=0)
    images, labels = next(iter(loader))
    assert images.shape == (50, 1, 56, 56)
    source, source_labels, *_ = datamodule.splits["test"]
    assert torch.equal(labels, source_labels[:50])
    corners = set()
    for canvas, digit in zip(images[:, 0], source[:50].float() / 255, strict=True):
        windows = canvas.unfold(0, 28, 1).unfold(1, 28, 1)  # [29, 29, 28, 28]
        matches = (windows == digit).flatten(2).all(-1).nonzero().tolist()
        assert matches, "the whole image is on the canvas"
        row, col = matches[0]
        rest = canvas.clone()
        rest[row : row + 28, col : col + 28] = 0
        assert not rest.any()  # and nothing else
        corners.add((row, col))
    assert len(corners) > 10  # at random positions


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "line"),
    [
        (
            "data.download=false",
            "benchmark.py: train-images-idx3-ubyte, train-labels-idx1-ubyte not ",
        ),
        ("data.batch_size=abc", "benchmark.py: data.batch_size=abc: "),
    ],
    ids=["missing data", "bad value"],
)
def test_a_users_mistake_stops_the_benchmark_in_one_line(tmp_path, override, line):
    command = [
        sys.executable, "scripts/benchmark.py", "--models", "mlp", "--data", "mnist",
        "--no-train-run", "--override", f"paths.data_dir={tmp_path}", override,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    (told,) = done.stderr.splitlines()  # one line, no traceback
    assert told.startswith(line)


@pytest.mark.parametrize(
    ("arguments", "told"),
    [
        (["--rounds", "0"], "--rounds 0: must be at least 1"),
        (["--threads", "-1"], "--threads -1: must be at least 1"),
        (["--batches", "0"], "--batches 0: must be at least 1"),
        (["--json", "/no/such/folder/bench.json"], "the folder /no/such/folder does not exist"),
    ],
)
def test_a_bad_argument_stops_the_benchmark_before_it_measures_anything(capsys, arguments, told):
    with pytest.raises(SystemExit) as stop:
        load_benchmark().main(arguments)
    assert stop.value.code == 2  # argparse's usage error
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(told)
