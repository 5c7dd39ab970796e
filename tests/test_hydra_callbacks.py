"""The Hydra callbacks of every command. Each step of a run has one owner and runs once: the
config is checked once per run (a sweep's jobs once each, plus the sweep's own check of its first
job), the run folder once, and the data module, classifier and network once per run (plus the
sweep's check of its first job). A failed job is told in one line (in its log and error.txt) and
the sweep goes on; its end lists the failed jobs beside a summary of all."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from mlp_vs_cnn.checks import check_config
from mlp_vs_cnn.errors import ConfigError
from mlp_vs_cnn.hydra_callbacks import CheckConfig, ReportJobs
from mlp_vs_cnn.record import ERROR_FILE
from tests.conftest import ROOT
from tests.test_errors import run_script

# Runs train.py (or the script named first) in this process after wrapping the checks and the
# constructors of a run's objects, counting their calls.
COUNT_CHECKS = """
import atexit, functools, json, runpy, sys
import mlp_vs_cnn.checks, mlp_vs_cnn.run_folders
from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.models import ImageClassifier
from mlp_vs_cnn.models.mlp import MLP

counts = {}

def counting(owner, name, counted=None):
    original = getattr(owner, name)
    counted = counted or name
    @functools.wraps(original)  # the schemas read a class's signature
    def wrapper(*args, **kwargs):
        counts[counted] = counts.get(counted, 0) + 1
        return original(*args, **kwargs)
    setattr(owner, name, wrapper)

counting(mlp_vs_cnn.checks, "check_config")
counting(mlp_vs_cnn.run_folders, "check_run_folder")
for built in (ImageDataModule, ImageClassifier, MLP):  # the objects of a run
    counting(built, "__init__", built.__name__)
atexit.register(lambda: print("COUNTS " + json.dumps(counts)))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


QUICK = ("debug=quick", "logger=none", "callbacks=default", "data.val_size=100")


def counted_calls(tmp_path, data_dir, *command: str) -> dict[str, int]:
    command = [sys.executable, "-c", COUNT_CHECKS, *command, f"paths.data_dir={data_dir}",
               f"paths.log_dir={tmp_path}"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("COUNTS ")]
    return json.loads(line.removeprefix("COUNTS "))


@pytest.mark.slow
def test_a_single_run_checks_its_config_and_its_folder_once(tmp_path, fixture_data_dir):
    once = {"ImageDataModule": 1, "ImageClassifier": 1, "MLP": 1}
    counts = counted_calls(tmp_path, fixture_data_dir, "train.py", *QUICK)
    assert counts == {"check_config": 1, "check_run_folder": 1, **once}
    # Evaluating its checkpoint on a data config checks the same way and builds that data module
    # and the checkpoint's classifier once each.
    (checkpoint,) = tmp_path.glob("train/runs/*/checkpoints/last.ckpt")
    counts = counted_calls(
        tmp_path, fixture_data_dir, "eval.py", f"ckpt_path={checkpoint}", "data=mnist",
        "data.val_size=100",
    )  # fmt: skip
    assert counts == {"check_config": 1, "check_run_folder": 1, **once}


@pytest.mark.slow
def test_each_job_of_a_sweep_checks_its_config_and_its_folder_once(tmp_path, fixture_data_dir):
    counts = counted_calls(tmp_path, fixture_data_dir, "train.py", "-m", *QUICK, "seed=1,2")
    # The sweep checks its first job before starting any (it stops a sweep of bad jobs at once);
    # then each job checks its own config and folder, in its own process with other launchers,
    # and builds its objects once. The sweep's check of its first job builds that job's too.
    built = {"ImageDataModule": 1 + 2, "ImageClassifier": 1 + 2, "MLP": 1 + 2}
    assert counts == {"check_config": 1 + 2, "check_run_folder": 2, **built}


def test_training_until_stopped_is_accepted_and_said_in_the_log(compose_cfg, caplog):
    cfg = compose_cfg("trainer.max_epochs=-1")
    check_config(cfg)
    with caplog.at_level(logging.INFO, logger="mlp_vs_cnn.hydra_callbacks"):
        CheckConfig().on_job_start(config=cfg)
    assert "trainer.max_epochs=-1: training goes on until it is stopped" in caplog.text


def job_config(job_dir: Path, mode: RunMode, num: int = 0):
    return OmegaConf.create(
        {"hydra": {"runtime": {"output_dir": str(job_dir)}, "mode": mode, "job": {"num": num}}}
    )


def failed(error: BaseException) -> JobReturn:
    return JobReturn(status=JobStatus.FAILED, _return_value=error)


def test_a_failed_job_of_a_sweep_is_told_in_one_line_and_the_sweep_goes_on(tmp_path, capsys):
    job_return = failed(ConfigError("optimizer.lr=-1: must be a finite number > 0"))
    ReportJobs().on_job_end(config=job_config(tmp_path, RunMode.MULTIRUN, 3), job_return=job_return)
    line = "optimizer.lr=-1: must be a finite number > 0"
    assert (tmp_path / ERROR_FILE).read_text() == line + "\n"
    (told,) = capsys.readouterr().err.splitlines()  # one line: not Hydra's as well
    assert told.endswith(f": job 3 failed: {line}")
    # The sweeper does not raise it (which would end the sweep before its summary).
    assert job_return.status == JobStatus.COMPLETED and job_return.return_value is None


def test_a_failed_single_run_exits_non_zero_without_hydra_telling_it_again(tmp_path, capsys):
    job_return = failed(FloatingPointError("The training loss is nan: training diverged."))
    report = ReportJobs()
    report.on_job_end(config=job_config(tmp_path, RunMode.RUN), job_return=job_return)
    err = capsys.readouterr().err
    (told,) = err.splitlines()  # one line: not Hydra's as well, no traceback
    assert told.endswith(": The training loss is nan: training diverged.")
    assert job_return.status == JobStatus.FAILED
    with pytest.raises(SystemExit) as stop:
        report.on_run_end(config=job_config(tmp_path, RunMode.RUN), job_return=job_return)
    assert stop.value.code == 1


def test_an_error_that_is_not_the_users_keeps_its_traceback(tmp_path, capsys):
    try:
        [][0]
    except IndexError as err:
        error = err
    ReportJobs().on_job_end(config=job_config(tmp_path, RunMode.MULTIRUN), job_return=failed(error))
    err = capsys.readouterr().err
    assert "Traceback" in err and "job 0 failed: IndexError: list index out of range" in err


def write_job(sweep_dir: Path, name: str, overrides: list[str], **files: str) -> Path:
    job = sweep_dir / name
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    for file, text in files.items():
        (job / file.replace("_", ".")).write_text(text)
    return job


def test_the_end_of_a_sweep_lists_its_failed_jobs_and_writes_a_summary_of_all(tmp_path, capsys):
    sweep_dir = tmp_path / "multirun"
    metrics = {
        "choices": {"model": "mlp", "data": "mnist"},
        "seed": 1,
        "num_parameters": 40785,
        "fit_seconds": 12.5,
        "metrics": {"test/acc": 0.9712, "val/acc_best": 0.975, "test/loss": 0.1},
    }
    write_job(
        sweep_dir, "0_model=mlp,seed=1", ["model=mlp", "seed=1"], metrics_json=json.dumps(metrics)
    )
    write_job(
        sweep_dir,
        "1_model=lenet5,seed=1",
        ["model=lenet5", "seed=1"],
        error_txt="optimizer.lr=-1: bad\n",
    )
    config = OmegaConf.create(
        {
            "hydra": {
                "sweep": {"dir": str(sweep_dir)},
                "overrides": {"task": ["model=mlp,lenet5", "seed=1"]},
                "output_subdir": ".hydra",
            }
        }
    )  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        ReportJobs().on_multirun_end(config=config)
    assert stop.value.code == 1
    out, err = capsys.readouterr()
    assert "0.9712" in out and "40,785" in out
    assert err.splitlines() == ["1 of 2 jobs failed:", "  1 model=lenet5: optimizer.lr=-1: bad"]
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["model"], r["test/acc"], r["error"]) for r in rows] == [
        ("0", "mlp", "0.9712", ""),  # a finished job's model has its own column
        ("1 model=lenet5", "", "", "optimizer.lr=-1: bad"),  # a failed job says what it was
    ]
    assert list(rows[0]) == [
        "job", "model", "data", "seed", "test/acc", "val/acc_best", "num_parameters",
        "fit_seconds", "error",
    ]  # fmt: skip
    markdown = (sweep_dir / "summary.md").read_text().splitlines()
    assert markdown[2] == "| 0 | mlp | mnist | 1 | 0.9712 | 0.9750 | 40,785 | 12.5 |  |"
    assert not list(sweep_dir.glob(".summary*"))  # no temporary file left


@pytest.mark.slow
def test_a_sweep_runs_its_good_jobs_and_lists_the_failed_ones_beside_its_summary(
    tmp_path, fixture_data_dir
):
    done = run_script(
        "train.py", "-m", "optimizer.lr=-1,0.001", "data.mean=nan,0.1307",
        "trainer.max_epochs=1", "data.batch_size=50", "data.val_size=100",
        "data.limit_eval_samples=100", "logger=none",
        "callbacks.rich_progress_bar=null", "callbacks.rich_model_summary=null",
        "callbacks.activation_maximization=null", f"paths.data_dir={fixture_data_dir}",
        "hydra.sweep.subdir=${hydra.job.num}", log_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    bad_lr = "optimizer.lr=-1: must be a finite number > 0"
    diverged = "training diverged"
    assert done.stderr.count(f"job 0 failed: {bad_lr}") == 1
    end = done.stderr[done.stderr.index("3 of 4 jobs failed:") :].splitlines()
    assert end[1:3] == [
        f"  0 optimizer.lr=-1 data.mean=nan: {bad_lr}",
        f"  1 optimizer.lr=-1 data.mean=0.1307: {bad_lr}",
    ]
    assert end[3].startswith("  2 optimizer.lr=0.001 data.mean=nan: The training loss is nan")
    (sweep_dir,) = (tmp_path / "train" / "multiruns").iterdir()
    jobs = [sweep_dir / str(n) for n in range(4)]
    assert bad_lr in (jobs[0] / "train.log").read_text()
    assert diverged in (jobs[2] / "train.log").read_text()
    assert [(j / ERROR_FILE).exists() for j in jobs] == [True, True, True, False]
    assert [(j / "metrics.json").exists() for j in jobs] == [False, False, False, True]
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == [
        "0 optimizer.lr=-1 data.mean=nan",
        "1 optimizer.lr=-1 data.mean=0.1307",
        "2 optimizer.lr=0.001 data.mean=nan",
        "3 optimizer.lr=0.001 data.mean=0.1307",
    ]
    assert (rows[3]["model"], rows[3]["data"], rows[3]["seed"]) == ("mlp", "mnist", "42")
    assert 0.0 <= float(rows[3]["test/acc"]) <= 1.0 and int(rows[3]["num_parameters"]) == 40_785
    summary = (sweep_dir / "summary.md").read_text()
    assert "| 3 optimizer.lr=0.001 data.mean=0.1307 | mlp | mnist | 42 |" in summary
    assert "Sweep " in done.stdout and "40,785" in done.stdout  # the table of finished runs
