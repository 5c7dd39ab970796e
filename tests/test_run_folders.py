"""Run folders: names that say what ran, never shared, a finished run never written into."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_vs_cnn import run_folders
from mlp_vs_cnn.run_folders import (
    RunFolderError,
    check_run_folder,
    claim_folder,
    claim_subfolder,
    folder_lock,
    job_name,
)
from tests.conftest import ROOT


def test_a_job_name_puts_model_data_and_seed_first_and_shortens_override_keys():
    name = job_name("lenet5", "mnist_permuted", "trainer.max_epochs=2,data.batch_size=64", 3)
    assert name == "lenet5_mnist_permuted_s3_max_epochs=2_batch_size=64"
    assert job_name("mlp", "mnist", "", 1) == "mlp_mnist_s1"
    # Only keys are shortened: a value keeps its dots, and ++ (add or override) is left out.
    both = "++trainer.limit_train_batches=0.1,optimizer.lr=1e-3"
    assert job_name("mlp", "mnist", both, 1) == "mlp_mnist_s1_limit_train_batches=0.1_lr=1e-3"
    # A path in a value stays inside the name: one folder per job, never a nested one.
    assert job_name("mlp", "mnist", "some.dir=/tmp/x", 1) == "mlp_mnist_s1_dir=%tmp%x"
    long = job_name("mlp", "mnist", ",".join(f"data.key{i}={i}" for i in range(30)), 1)
    assert len(long) < 90 and long.startswith("mlp_mnist_s1_key0=0_key1=1")


def test_a_folder_that_exists_is_never_claimed_again(tmp_path):
    first = claim_folder(tmp_path / "2026_mlp_mnist")
    (Path(first) / "metrics.json").write_text("{}")
    second = claim_folder(str(tmp_path / "2026_mlp_mnist") + "")  # asked again: same answer
    assert second == first
    # Other processes (each with its own memo) asking for the same name get new folders.
    run_folders._claimed.clear()
    third = claim_folder(tmp_path / "2026_mlp_mnist")
    assert third == str(tmp_path / "2026_mlp_mnist-2") and Path(third).is_dir()
    run_folders._claimed.clear()
    assert claim_subfolder(str(tmp_path), "2026_mlp_mnist") == "2026_mlp_mnist-3"
    # A resume uses the folder it names.
    assert claim_folder(tmp_path / "2026_mlp_mnist", "last") == str(tmp_path / "2026_mlp_mnist")


def finished(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"status": "finished", "epochs": 1, "metrics": {"test/acc": 0.9}}
    (folder / "metrics.json").write_text(json.dumps(record))
    return folder


def test_a_finished_run_is_left_alone_and_an_unfinished_one_only_resumed(tmp_path):
    done = finished(tmp_path / "done")
    assert check_run_folder(done, "last")["metrics"] == {"test/acc": 0.9}
    assert check_run_folder(done, "last", max_epochs=1)["metrics"] == {"test/acc": 0.9}
    with pytest.raises(RunFolderError, match="holds a finished run"):
        check_run_folder(done, None)
    with pytest.raises(RunFolderError, match="holds a finished run"):
        check_run_folder(done, str(tmp_path / "elsewhere" / "last.ckpt"), max_epochs=5)
    stopped = tmp_path / "stopped"
    (stopped / "checkpoints").mkdir(parents=True)
    (stopped / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert check_run_folder(stopped, "last") is None
    with pytest.raises(RunFolderError, match="unfinished run. Resume it with ckpt_path=last"):
        check_run_folder(stopped, None)
    assert check_run_folder(stopped, str(stopped / "checkpoints" / "last.ckpt")) is None
    assert check_run_folder(tmp_path / "new", None) is None


def test_a_finished_run_is_trained_further_from_its_own_checkpoint_when_asked_for_more_epochs(
    tmp_path,
):
    done = finished(tmp_path / "done")
    assert check_run_folder(done, "last", max_epochs=3) is None
    assert check_run_folder(done, str(done / "checkpoints" / "last.ckpt"), max_epochs=2) is None
    assert check_run_folder(done, "last", max_epochs=-1) is None  # until stopped


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@pytest.mark.slow
def test_train_py_never_writes_into_a_finished_run_folder(tmp_path, fixture_data_dir):
    run_dir = finished(tmp_path / "logs" / "train" / "runs" / "done")
    before = snapshot(run_dir)
    command = [sys.executable, str(ROOT / "train.py"), "debug=quick", "logger=none",
               f"paths.data_dir={fixture_data_dir}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"train.py: {run_dir} holds a finished run; a new run never writes into it. Drop "
        f"hydra.run.dir to get a new folder, or train it further with ckpt_path=last and a larger "
        f"trainer.max_epochs (it has 1)."
    ]
    resume = subprocess.run([*command, "ckpt_path=last"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert (
        resume.returncode == 0
        and "holds a finished run of 1 epochs; nothing to do" in resume.stdout
    )
    assert snapshot(run_dir) == before


HOLD_FOLDER = """
import sys
from mlp_vs_cnn.run_folders import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


def test_a_second_process_is_refused_a_run_folder_while_the_first_holds_it(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FOLDER, str(folder)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "locked\n"  # the holder has the folder now
        with pytest.raises(RunFolderError) as refused:
            with folder_lock(folder):
                pass
        assert str(refused.value) == (
            f"{folder} is in use by process {holder.pid}, which is running there; wait for it "
            f"to end (or stop it) and run this again."
        )
        holder.kill()  # dies without releasing anything itself: the kernel does
        holder.wait(timeout=60)
        with folder_lock(folder):
            assert (folder / ".lock").read_text() == f"{os.getpid()}\n"
    finally:
        holder.kill()
        holder.wait(timeout=60)
