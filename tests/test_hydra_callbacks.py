"""Each step of a run has one owner and runs once: the config is checked once per run (a sweep's
jobs once each, plus the sweep's own check of its first job), and the run folder once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Runs train.py in this process after wrapping the checks, counting their calls.
COUNT_CHECKS = """
import atexit, json, runpy, sys
import mlp_vs_cnn.checks, mlp_vs_cnn.run_folders

counts = {}

def counting(module, name):
    original = getattr(module, name)
    def wrapper(*args, **kwargs):
        counts[name] = counts.get(name, 0) + 1
        return original(*args, **kwargs)
    setattr(module, name, wrapper)

counting(mlp_vs_cnn.checks, "check_config")
counting(mlp_vs_cnn.run_folders, "check_run_folder")
atexit.register(lambda: print("COUNTS " + json.dumps(counts)))
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def counted_calls(tmp_path, data_dir, *overrides: str) -> dict[str, int]:
    command = [sys.executable, "-c", COUNT_CHECKS, *overrides, "debug=quick", "logger=none",
               "callbacks=default", "data.val_size=100", f"paths.data_dir={data_dir}",
               f"paths.log_dir={tmp_path}"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("COUNTS ")]
    return json.loads(line.removeprefix("COUNTS "))


@pytest.mark.slow
def test_a_single_run_checks_its_config_and_its_folder_once(tmp_path, fixture_data_dir):
    assert counted_calls(tmp_path, fixture_data_dir) == {"check_config": 1, "check_run_folder": 1}


@pytest.mark.slow
def test_each_job_of_a_sweep_checks_its_config_and_its_folder_once(tmp_path, fixture_data_dir):
    counts = counted_calls(tmp_path, fixture_data_dir, "-m", "seed=1,2")
    # The sweep checks its first job before starting any (it stops a sweep of bad jobs at once);
    # then each job checks its own config and folder, in its own process with other launchers.
    assert counts == {"check_config": 1 + 2, "check_run_folder": 2}
