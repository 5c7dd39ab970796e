"""Faults: interruption and exact resume, determinism, NaN loss, bad checkpoints, failing jobs."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from mlp_vs_cnn.checkpoints import AtomicCheckpointIO, CheckpointError
from mlp_vs_cnn.training import train
from tests.conftest import ROOT

# Two epochs of 10 optimizer steps on the fixture (500 training images), quiet and quick.
SMALL_RUN = (
    "trainer.max_epochs=2",
    "data.batch_size=50",
    "data.limit_eval_samples=100",
    "logger=none",
    "callbacks.rich_progress_bar=null",
    "callbacks.rich_model_summary=null",
)


class SignalAtStep(L.Callback):
    """Send a signal to this process after the training batch that ends with optimizer step
    `step` (counted from 1), as a user or SLURM would."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def interrupt_at(step: int, signum: signal.Signals) -> tuple[str, ...]:
    return (
        f"+callbacks.interrupt._target_={__name__}.SignalAtStep",
        f"+callbacks.interrupt.step={step}",
        f"+callbacks.interrupt.signum={int(signum)}",
    )


@pytest.fixture
def restore_sigint():
    # Python only turns SIGINT into KeyboardInterrupt if the process did not inherit it ignored,
    # as a background job of a non-interactive shell does (CI may run so): install the handler.
    # Lightning ignores further Ctrl+C while it shuts down after one; restore it afterwards.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_same_seed_gives_identical_metrics_on_cpu(compose_cfg, tmp_path):
    first = train(compose_cfg(*SMALL_RUN, f"hydra.runtime.output_dir={tmp_path / 'a'}"))
    second = train(compose_cfg(*SMALL_RUN, f"hydra.runtime.output_dir={tmp_path / 'b'}"))
    assert first == second
    for name, tensor in final_weights(tmp_path / "a").items():
        assert torch.equal(tensor, final_weights(tmp_path / "b")[name]), name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "ctrl_c"]
)
def test_an_interrupted_run_saves_a_checkpoint_and_resumes_to_the_same_metrics(
    compose_cfg, tmp_path, restore_sigint, signum, status
):
    uninterrupted = train(compose_cfg(*SMALL_RUN, f"hydra.runtime.output_dir={tmp_path / 'a'}"))

    run_dir = tmp_path / "b"
    stop = (*SMALL_RUN, *interrupt_at(17, signum), f"hydra.runtime.output_dir={run_dir}")
    with pytest.raises(SystemExit) as stopped:
        train(compose_cfg(*stop))
    assert stopped.value.code == status  # 128 + the signal: a script can tell it did not finish
    # The signal came after step 17, in the middle of epoch 1 (10 steps per epoch). SIGTERM is
    # handled before the next batch; Ctrl+C is noticed at the end of the next one.
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == (17 if signum == signal.SIGTERM else 18)
    assert saved["epoch"] == 1
    assert not (run_dir / "metrics.json").exists()

    resume = (*SMALL_RUN, "ckpt_path=last", f"hydra.runtime.output_dir={run_dir}")
    resumed = train(compose_cfg(*resume))
    # The epoch means of the interrupted epoch (training accuracy and loss) only count the batches
    # after the resume (they are kept in memory, not in checkpoints); every other metric,
    # val/acc_best included, and every weight are the same.
    for epoch_mean in ("train/acc", "train/loss_epoch"):
        assert resumed.pop(epoch_mean) != uninterrupted.pop(epoch_mean)
    assert resumed == uninterrupted
    for name, tensor in final_weights(tmp_path / "a").items():
        assert torch.equal(tensor, final_weights(run_dir)[name]), name


def test_a_nan_loss_stops_the_run_with_a_clear_message(compose_cfg):
    cfg = compose_cfg(*SMALL_RUN, "data.mean=nan")  # every input is NaN
    with pytest.raises(FloatingPointError, match=r"loss is nan at epoch 0, step 0 .*diverged"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").exists()


@pytest.mark.parametrize(
    "other", [("model=cnn_small",), ("data=mnist_shifted",)], ids=["model", "input_size"]
)
def test_resuming_from_a_checkpoint_of_another_network_is_refused(compose_cfg, tmp_path, other):
    first_run = f"hydra.runtime.output_dir={tmp_path / 'a'}"
    train(compose_cfg(*SMALL_RUN, "trainer.max_epochs=1", first_run))
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=r"another network.*MLP\(image_size=28"):
        train(compose_cfg(*SMALL_RUN, *other, f"ckpt_path={ckpt}"))


def test_strategy_ddp_is_refused_in_a_local_sweep(compose_cfg):
    cfg = compose_cfg(*SMALL_RUN, "trainer=ddp_sim", "trainer.strategy=ddp", "hydra.mode=MULTIRUN")
    with pytest.raises(ValueError, match="ddp_spawn"):
        train(cfg)


@pytest.mark.slow
def test_failing_jobs_of_a_sweep_are_reported_and_the_others_finish(tmp_path, fixture_data_dir):
    # A bad override (a negative learning rate) and a NaN loss (data.mean=nan) fail; the last job
    # runs.
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "optimizer.lr=-1,0.001",
        "data.mean=nan,0.1307",
        *SMALL_RUN,
        "trainer.max_epochs=1",
        "data.val_size=100",
        f"paths.data_dir={fixture_data_dir}",
        f"paths.log_dir={tmp_path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode != 0  # the sweep lists its failures at its end ...
    assert "optimizer.lr=-1: must be a finite number > 0" in done.stderr
    jobs = sorted((tmp_path / "train" / "multiruns").glob("*/*_*"), key=lambda p: p.name)
    assert len(jobs) == 4
    # ... each failed job logged its own error, and the good job kept its results.
    for job in jobs[:2]:
        assert "optimizer.lr=-1: must be a finite number > 0" in (job / "train.log").read_text()
    assert "training diverged" in (jobs[2] / "train.log").read_text()
    assert [(job / "metrics.json").exists() for job in jobs] == [False, False, False, True]


def test_a_failed_checkpoint_save_keeps_the_previous_file_and_leaves_no_temporary_file(
    tmp_path, monkeypatch
):
    other_filesystem = tmp_path / "tmpdir"  # where Lightning's own writer would stage the file
    other_filesystem.mkdir()
    monkeypatch.setenv("TMPDIR", str(other_filesystem))
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)
    before = path.read_bytes()

    def disk_full(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": 2}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]
    assert not list(other_filesystem.iterdir())


def test_a_temporary_file_left_by_a_killed_save_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "last.ckpt"
    (tmp_path / ".last.ckpt.k1ll3d.tmp").write_bytes(b"a save killed half way")
    AtomicCheckpointIO().save_checkpoint({"step": 3}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.load(path, weights_only=True) == {"step": 3}


def test_a_truncated_last_checkpoint_is_named_and_the_newest_intact_one_offered(
    compose_cfg, tmp_path
):
    run = f"hydra.runtime.output_dir={tmp_path / 'run'}"
    train(compose_cfg(*SMALL_RUN, "trainer.max_epochs=1", run, "test=false"))
    checkpoints = tmp_path / "run" / "checkpoints"
    last = checkpoints / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # as a crash in the middle of a copy leaves it
    # The run finished; asked for a second epoch, it reads its last.ckpt and names it broken.
    with pytest.raises(CheckpointError) as refused:
        train(compose_cfg(*SMALL_RUN, "ckpt_path=last", run))
    message = str(refused.value)
    assert f"{last} cannot be loaded safely" in message
    assert f"The newest intact checkpoint there is {checkpoints / 'epoch_000.ckpt'}" in message


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a real full disk. Needs the right to mount (root); skipped without it."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_save_on_a_full_disk_keeps_the_previous_checkpoint_and_no_temporary_file(small_disk):
    path = small_disk / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"weights": torch.zeros(1000)}, path)  # 4 kB: fits
    before = path.read_bytes()
    with pytest.raises(OSError, match="could not be written .* the previous one is intact") as full:
        io.save_checkpoint({"weights": torch.zeros(1_000_000)}, path)  # 4 MB: does not
    causes, error = [], full.value  # torch.save wraps the disk's own error in a RuntimeError
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(getattr(c, "errno", None) == errno.ENOSPC for c in causes)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


@pytest.mark.parametrize("how", ["last", "path"])
def test_a_finished_run_trained_further_equals_an_uninterrupted_run_and_keeps_both_stages(
    compose_cfg, tmp_path, how
):
    train(compose_cfg(*SMALL_RUN, f"hydra.runtime.output_dir={tmp_path / 'a'}"))
    run_dir = tmp_path / "b"
    one_epoch = (*SMALL_RUN, "trainer.max_epochs=1", f"hydra.runtime.output_dir={run_dir}")
    first = train(compose_cfg(*one_epoch))
    ckpt = "last" if how == "last" else str(run_dir / "checkpoints" / "last.ckpt")
    train(compose_cfg(*SMALL_RUN, f"ckpt_path={ckpt}", f"hydra.runtime.output_dir={run_dir}"))
    for name, tensor in final_weights(tmp_path / "a").items():
        assert torch.equal(tensor, final_weights(run_dir)[name]), name
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["epochs"] == 2
    # the validation curve goes on from the checkpoint: whole, as the uninterrupted run's
    uninterrupted = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert len(record["history"]["val/acc"]) == 2
    assert record["history"] == uninterrupted["history"]
    assert [(s["epochs"], s["global_step"]) for s in record["stages"]] == [(1, 10), (2, 20)]
    assert record["stages"][0]["metrics"] == first
    assert record["resumed_from"] == str((run_dir / "checkpoints" / "last.ckpt").resolve())


def test_files_written_atomically_are_as_readable_as_the_umask_allows(tmp_path):
    from mlp_vs_cnn.record import write_atomically

    previous = os.umask(0o027)  # a research group's shared folder: group may read
    try:
        path = write_atomically(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640  # not mkstemp's private 0600


def test_a_run_whose_study_record_cannot_be_written_stays_unfinished_and_completes_on_resume(
    compose_cfg, tmp_path
):
    run_dir = tmp_path / "run"
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("a file where the results folder should be")
    run = (*SMALL_RUN, f"hydra.runtime.output_dir={run_dir}")
    with pytest.raises(OSError):
        train(compose_cfg(*run, f"results_dir={blocked / 'results'}"))
    assert not (run_dir / "metrics.json").exists()  # not "finished": it is not skipped
    results = tmp_path / "results"
    metrics = train(compose_cfg(*run, f"results_dir={results}", "ckpt_path=last"))
    (record,) = results.rglob("*.json")
    assert json.loads(record.read_text())["metrics"]["test/acc"] == metrics["test/acc"]
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"


@pytest.mark.parametrize(
    ("first", "then", "named"),
    [
        (["seed=42"], ["seed=1"], "data.shuffle_seed=42 (this run: 1)"),
        (["data=mnist_block_shuffle", "data.block_size=7"],
         ["data=mnist_block_shuffle", "data.block_size=4"], "data.block_size=7 (this run: 4)"),
    ],
    ids=["seed", "block_size"],
)  # fmt: skip
def test_a_resume_with_other_data_settings_than_its_checkpoint_is_refused(
    compose_cfg, tmp_path, first, then, named
):
    run = (*SMALL_RUN, "trainer.max_epochs=1", f"hydra.runtime.output_dir={tmp_path / 'run'}")
    train(compose_cfg(*run, *first))
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = ckpt.read_bytes()
    again = (*SMALL_RUN, f"ckpt_path={ckpt}", f"hydra.runtime.output_dir={tmp_path / 'other'}")
    with pytest.raises(CheckpointError, match=re.escape(named)):
        train(compose_cfg(*again, *then))
    assert ckpt.read_bytes() == before and not (tmp_path / "other" / "metrics.json").exists()


def test_a_resume_asking_for_fewer_epochs_than_its_checkpoint_has_is_refused(compose_cfg, tmp_path):
    train(compose_cfg(*SMALL_RUN, f"hydra.runtime.output_dir={tmp_path / 'run'}"))  # 2 epochs
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    fewer = (*SMALL_RUN, "trainer.max_epochs=1", f"ckpt_path={ckpt}",
             f"hydra.runtime.output_dir={tmp_path / 'other'}")  # fmt: skip
    with pytest.raises(CheckpointError, match="is from epoch 2, past trainer.max_epochs=1"):
        train(compose_cfg(*fewer))


@pytest.mark.slow
def test_a_sweep_that_fills_its_disk_tells_each_job_in_one_line_without_a_traceback(
    small_disk, fixture_data_dir
):
    command = [sys.executable, "train.py", "-m", "model=mlp,lenet5", "debug=quick",
               "data.val_size=100", f"paths.data_dir={fixture_data_dir}",
               f"hydra.sweep.dir={small_disk / 'sweep'}",
               "callbacks.activation_maximization=null"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    told = [line for line in result.stderr.splitlines() if line.startswith("train.py: job ")]
    assert [line.split(":")[1] for line in told] == [" job 0 failed", " job 1 failed"]
    assert all("No space left on device" in line or "could not be written" in line for line in told)
    assert "2 of 2 jobs failed:" in result.stderr
