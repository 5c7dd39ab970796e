"""End-to-end: every model trains on every data variant; train.py and eval.py agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlp_vs_cnn.data import DataFilesError
from mlp_vs_cnn.errors import ConfigError
from mlp_vs_cnn.evaluation import evaluate
from mlp_vs_cnn.training import train
from tests.conftest import DATA_CONFIGS, MODEL_CONFIGS, ROOT, write_dataset


@pytest.mark.parametrize("data", DATA_CONFIGS)
@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_every_model_runs_fast_dev_run_on_every_data_config(compose_cfg, model, data):
    cfg = compose_cfg(f"model={model}", f"data={data}", "debug=fast_dev_run")
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["choices"]["model"] == model and record["choices"]["data"] == data
    assert record["num_parameters"] > 0


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_a_run_writes_checkpoints_metrics_and_tensorboard_events_in_its_folder(compose_cfg):
    cfg = compose_cfg("model=cnn_small", "data=mnist_permuted", "debug=quick")
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    record = json.loads((run / "metrics.json").read_text())
    assert record["num_parameters"] == 6_422
    assert record["metrics"] == metrics
    assert {"val/acc", "val/acc_best", "test/acc", "test/loss"} <= set(metrics)
    assert Path(record["best_checkpoint"]).is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list(run.glob("events.out.tfevents.*"))  # directly in the run folder: its name shows


def test_training_and_evaluation_write_nothing_into_the_data_folder(compose_cfg, tmp_path):
    data_dir = write_dataset(tmp_path / "data", "MNIST")
    before = snapshot(data_dir)
    cfg = compose_cfg("data=mnist_shifted", "debug=quick", "logger=none", data_dir=data_dir)
    train(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    checkpoint = record["best_checkpoint"]
    evaluate(compose_cfg(f"ckpt_path={checkpoint}", config_name="eval", data_dir=data_dir))
    assert snapshot(data_dir) == before


def test_a_run_without_a_seed_draws_one_and_records_it(compose_cfg):
    cfg = compose_cfg("seed=null", "data=mnist_shifted", "debug=fast_dev_run")
    train(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert isinstance(record["seed"], int)
    assert record["config"]["data"]["shuffle_seed"] == record["seed"]


@pytest.mark.parametrize(
    "overrides",
    [
        ["optimizer=sgd", "scheduler=cosine"],
        ["optimizer=adam", "scheduler=plateau"],
        ["optimizer=beta_lasso", "scheduler=cosine"],
        ["logger=csv"],
    ],
)
def test_every_optimizer_scheduler_and_logger_config_trains(compose_cfg, overrides):
    cfg = compose_cfg("model=fc_small", "debug=quick", *overrides)
    metrics = train(cfg)
    assert metrics["train/acc"] >= 0.0 and "test/acc" in metrics


def test_a_run_on_an_empty_data_folder_stops_with_a_data_files_error(compose_cfg, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = compose_cfg("debug=fast_dev_run", "data.download=false", data_dir=empty)
    with pytest.raises(DataFilesError, match="train-images-idx3-ubyte.gz"):
        train(cfg)
    assert not any(empty.iterdir())


@pytest.mark.slow
def test_a_sweep_whose_data_is_missing_stops_once_before_its_jobs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    sweep_dir = tmp_path / "multirun"
    command = [sys.executable, "train.py", "-m", "model=mlp,cnn_small", "data=mnist,fashion",
               "debug=quick", "data.download=false", f"paths.data_dir={empty}",
               f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("train.py: 4 jobs not started: ")
    assert "not found in" in lines[0] and "(download is off)" in lines[0]
    assert not sweep_dir.exists() and not any(empty.iterdir())


def test_the_time_to_accuracy_recipe_anneals_its_rate_over_the_whole_run(compose_cfg):
    from tests.test_lightning_contract import QUIET, fit

    cfg = compose_cfg("experiment=time_to_accuracy", "logger=none", *QUIET)
    assert cfg.trainer.precision in ("bf16-mixed", "32-true")
    model, trainer = fit(cfg)
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.total_steps == trainer.global_step == 20  # 2 epochs of 10 batches
    # Annealed to about a hundredth of its peak (the schedule is stepped once after the last
    # update, which overshoots its end by a step that no update uses).
    assert trainer.optimizers[0].param_groups[0]["lr"] < 0.02 * cfg.scheduler.scheduler.max_lr
    assert trainer.callback_metrics["val/acc"] > 0.9  # the fixture's toy digits are learnt


@pytest.mark.slow
def test_a_multirun_from_the_command_line_writes_one_run_folder_per_job(fixture_data_dir, tmp_path):
    sweep_dir = tmp_path / "multirun"
    command = [
        sys.executable,
        "train.py",
        "-m",
        "model=mlp,cnn_small",
        "data=mnist",
        "debug=quick",
        "data.val_size=100",
        f"paths.data_dir={fixture_data_dir}",
        f"paths.log_dir={tmp_path}",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    # <job>_<model>_<data>_s<seed>_<other overrides, short keys>: what ran, readable at once.
    assert [p.name for p in runs] == [
        "0_mlp_mnist_s42_val_size=100_debug=quick",
        "1_cnn_small_mnist_s42_val_size=100_debug=quick",
    ]
    for run, model in zip(runs, ["mlp", "cnn_small"], strict=True):
        record = json.loads((run / "metrics.json").read_text())
        assert record["choices"]["model"] == model
        assert 0.0 <= record["metrics"]["test/acc"] <= 1.0
    assert not (tmp_path / "train").exists()  # nothing outside the sweep folder


@pytest.mark.slow
def test_mlp_on_real_mnist_is_above_90_percent_after_one_epoch(compose_cfg, real_data_dir):
    before = snapshot(real_data_dir)
    cfg = compose_cfg(
        "model=mlp",
        "data=mnist",
        "data.val_size=5000",
        "data.download=false",
        "trainer.max_epochs=1",
        "logger=none",
        data_dir=real_data_dir,
    )
    metrics = train(cfg)
    assert metrics["test/acc"] > 0.90
    assert snapshot(real_data_dir) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is there: trainer=gpu is fine")
def test_trainer_gpu_without_a_gpu_stops_in_one_line_naming_the_remedy(compose_cfg):
    from mlp_vs_cnn.training import build

    with pytest.raises(ConfigError, match=r"No supported gpu backend found! Use trainer=cpu"):
        build(compose_cfg("trainer=gpu", "trainer.accelerator=gpu", "logger=none"))
