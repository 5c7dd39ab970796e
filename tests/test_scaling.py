"""Scaling out: parallel and submitit sweeps, a resumable Optuna search, DDP on two CPU processes.

Each test runs `train.py` from the command line, as a user would, on the fixture data.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import joblib
import lightning as L
import optuna
import pytest

from mlp_vs_cnn.evaluation import evaluate
from tests.conftest import ROOT

QUIET = ("logger=none", "callbacks.rich_progress_bar=null", "callbacks.rich_model_summary=null")


def train_command(tmp_path: Path, data_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "train.py"),
        *overrides,
        "debug=quick",
        "data.val_size=100",
        *QUIET,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def sweep_jobs(tmp_path: Path) -> list[Path]:
    jobs = (tmp_path / "logs" / "train" / "multiruns").glob("*/*_*")
    return sorted((job for job in jobs if job.is_dir()), key=lambda p: p.name)


@pytest.mark.slow
def test_parallel_launcher_runs_jobs_at_once_with_cores_shared_out(tmp_path, fixture_data_dir):
    command = train_command(
        tmp_path, fixture_data_dir, "-m", "hydra/launcher=parallel", "model=mlp,cnn_small"
    )
    run(command, cwd=tmp_path)
    jobs = sweep_jobs(tmp_path)
    assert [json.loads((j / "metrics.json").read_text())["choices"]["model"] for j in jobs] == [
        "mlp",
        "cnn_small",
    ]
    threads = max(joblib.cpu_count() // 2, 1)  # n_jobs: 2 in conf/hydra/launcher/parallel.yaml
    for job in jobs:
        assert f"torch uses {threads} CPU threads" in (job / "train.log").read_text()


@pytest.mark.slow
def test_submitit_local_runs_a_sweep_with_the_slurm_presets_resources(
    tmp_path, fixture_data_dir, compose_cfg
):
    # The resources of hydra/launcher=slurm, given to submitit's local executor instead of sbatch.
    slurm = compose_cfg(
        "hydra/launcher=slurm", "trainer=cpu", "hydra.sweep.dir=sweep", "hydra.job.name=train"
    ).hydra.launcher
    assert slurm.tasks_per_node == slurm.gpus_per_node == 1 and slurm.nodes == 1
    shared = {k: slurm[k] for k in ("timeout_min", "tasks_per_node", "nodes", "cpus_per_task")}
    command = train_command(
        tmp_path,
        fixture_data_dir,
        "-m",
        "hydra/launcher=submitit_local",
        "trainer=cpu",
        "model=mlp",
        *(f"hydra.launcher.{k}={v}" for k, v in shared.items()),
    )
    run(command, cwd=tmp_path)
    (job,) = sweep_jobs(tmp_path)
    assert json.loads((job / "metrics.json").read_text())["metrics"]["test/acc"] > 0.2
    assert list(job.parent.glob(".submitit/*/*_result.pkl"))  # submitit ran it and kept its result


def test_slurm_preset_asks_for_one_task_per_gpu(compose_cfg):
    overrides = ("trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2")
    launcher = compose_cfg(
        "hydra/launcher=slurm", *overrides, "hydra.sweep.dir=sweep", "hydra.job.name=train"
    ).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)


class HoldSecondTrial(L.Callback):
    """Marks in `folder` when the second trial of a search has trained a batch, then waits until
    Ctrl+C has asked the run to stop (which it then does at the end of the next batch): the test
    sends Ctrl+C at a state it can see, not at a moment it guesses."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.held = False

    def on_train_batch_end(self, trainer, *args) -> None:
        first = self.folder / "first_trial_started"
        if not first.exists():
            first.touch()
            self.held = True  # nothing to hold in the first trial
        if self.held:
            return
        self.held = True
        (self.folder / "second_trial_waiting").touch()
        deadline = time.monotonic() + 300
        while not any(getattr(c, "stop_requested", False) for c in trainer.callbacks):
            if time.monotonic() > deadline:
                raise RuntimeError("the second trial was never interrupted")
            time.sleep(0.05)


@pytest.mark.slow
def test_optuna_search_continues_from_its_sqlite_file_after_an_interruption(
    tmp_path, fixture_data_dir
):
    command = train_command(
        tmp_path, fixture_data_dir, "hparams_search=optuna", "hydra.sweeper.n_trials=2"
    )
    hold = (
        f"+callbacks.hold._target_={__name__}.HoldSecondTrial",
        f"+callbacks.hold.folder={tmp_path}",
    )
    # Ctrl+C once the second trial is training: the first one is then finished and stored. The
    # child gets SIGINT's default action back: a background job (CI may run so) inherits it ignored.
    with (
        open(tmp_path / "search.log", "w") as output,
        subprocess.Popen(
            [*command, *hold],
            cwd=tmp_path,
            stderr=subprocess.STDOUT,
            stdout=output,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        ) as search,
    ):
        waiting = tmp_path / "second_trial_waiting"
        while not waiting.exists() and search.poll() is None:
            time.sleep(0.1)
        assert waiting.exists(), (tmp_path / "search.log").read_text()[-3000:]
        search.send_signal(signal.SIGINT)
        search.wait(timeout=120)
    assert search.returncode != 0

    storage = f"sqlite:///{tmp_path / 'logs' / 'optuna' / 'mlp_mnist.db'}"
    before = optuna.load_study(study_name="mlp_mnist", storage=storage).trials
    assert [t.state for t in before] == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.RUNNING,
    ]

    done = run([*command, "hydra.sweeper.n_trials=1"], cwd=tmp_path)
    assert "Using an existing study" in done.stdout + done.stderr
    after = optuna.load_study(study_name="mlp_mnist", storage=storage).trials
    complete = [t for t in after if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2 and complete[0].params == before[0].params
    assert all(0.0 < t.value <= 1.0 for t in complete)


@pytest.mark.slow
def test_ddp_sim_test_accuracy_matches_a_single_process_evaluation(
    tmp_path, fixture_data_dir, compose_cfg
):
    # Two processes each test half of the 200 images; the synchronised accuracy must be that of
    # all 200, as one process evaluating the same checkpoint finds.
    run(train_command(tmp_path, fixture_data_dir, "trainer=ddp_sim"), cwd=tmp_path)
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["choices"]["trainer"] == "ddp_sim"
    assert record["metrics"]["val/acc_best"] >= record["metrics"]["val/acc"]

    cfg = compose_cfg(f"ckpt_path={record['best_checkpoint']}", "logger=none", config_name="eval")
    single = evaluate(cfg)
    assert single["test/acc"] == pytest.approx(record["metrics"]["test/acc"], abs=1e-6)
    assert single["test/loss"] == pytest.approx(record["metrics"]["test/loss"], rel=1e-5)


def test_a_damaged_optuna_study_file_stops_the_search_in_one_line_and_is_left_as_it_is(
    tmp_path, fixture_data_dir
):
    study = tmp_path / "optuna" / "mlp_mnist.db"
    study.parent.mkdir()
    study.write_text("not a database")
    command = [sys.executable, "train.py", "hparams_search=optuna", "debug=quick",
               "hydra.sweeper.n_trials=1", f"paths.log_dir={tmp_path}",
               f"paths.data_dir={fixture_data_dir}"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"train.py: {study} is not a readable Optuna study (file is not a database). Move it "
        f"away to start the study afresh, or set hydra.sweeper.storage to another file."
    )
    assert study.read_text() == "not a database"


def test_an_optuna_study_on_a_read_only_disk_stops_the_search_in_one_line(
    tmp_path, fixture_data_dir
):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        study = disk / "optuna" / "mlp_mnist.db"
        study.parent.mkdir()
        sqlite3.connect(study).close()  # an empty, valid SQLite file
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        command = [sys.executable, "train.py", "hparams_search=optuna", "debug=quick",
                   "hydra.sweeper.n_trials=1", f"paths.log_dir={disk}",
                   f"paths.data_dir={fixture_data_dir}"]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"train.py: {study} cannot be written (a read-only file or disk)")
    )
