"""An entry point stops on a user's error in one line: train.py, eval.py and scripts/visualize.py
run from the command line to check what a user sees: one line, no traceback (unless
HYDRA_FULL_ERROR=1), a non-zero exit code and no run folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_checks import NOT_INT


def run_script(script: str, *overrides: str, log_dir: Path, **env: str):
    command = [sys.executable, script, *overrides, f"paths.log_dir={log_dir}"]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "overrides", "line"),
    [
        ("train.py", ["data.batch_size=abc"], f"train.py: data.batch_size=abc: {NOT_INT}"),
        ("train.py", ["data.std=0", "model=lenet5"], "train.py: data.std=0.0: must be a finite"),
        (
            "train.py",
            ["-m", "data.std=0,-1", "seed=1,2"],
            "train.py: each of the 4 jobs of this sweep has a bad value, the first: data.std=0.0",
        ),
        ("eval.py", ["data=mnist"], "eval.py: ckpt_path=???: required; set it on the command"),
        (
            "scripts/visualize.py",
            ["ckpt_path=nothing.ckpt"],
            "visualize.py: ckpt_path=nothing.ckpt: no such file; allowed: a .ckpt file",
        ),
    ],
    ids=["compose", "check", "sweep", "eval", "visualize"],
)
def test_a_bad_value_stops_the_command_in_one_line_before_any_folder_is_made(
    tmp_path, fixture_data_dir, script, overrides, line
):
    done = run_script(
        script, *overrides, f"paths.data_dir={fixture_data_dir}", log_dir=tmp_path / "logs"
    )
    assert done.returncode == 1
    (told,) = done.stderr.splitlines()  # one line, no traceback
    assert told.startswith(line) and done.stdout == ""
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_hydra_full_error_still_shows_the_traceback(tmp_path):
    done = run_script("train.py", "data.std=0", log_dir=tmp_path / "logs", HYDRA_FULL_ERROR="1")
    assert done.returncode == 1
    assert (
        "Traceback" in done.stderr and "mlp_vs_cnn.errors.ConfigError: data.std=0.0" in done.stderr
    )
    assert not (tmp_path / "logs").exists()


def test_a_folder_name_the_file_system_refuses_is_told_in_one_line(tmp_path):
    too_long = tmp_path / ("x" * 300)
    command = [sys.executable, str(ROOT / "train.py"), "debug=fast_dev_run",
               f"hydra.run.dir={too_long}"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"train.py: File name too long: {too_long}"


def test_a_run_log_that_cannot_be_opened_is_told_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "train.log").mkdir(parents=True)  # as unwritable as a read-only folder, for root
    command = [sys.executable, str(ROOT / "train.py"), "debug=fast_dev_run",
               f"hydra.run.dir={run_dir}"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"train.py: Is a directory: {run_dir / 'train.log'}"
    )


def test_a_command_line_hydra_refuses_is_told_in_one_line(tmp_path):
    command = [sys.executable, str(ROOT / "train.py"), "-m", "--cfg", "job"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "train.py: Only one of --run, --multirun, --cfg, --info and --shell_completion can be "
        "specified"
    ]
