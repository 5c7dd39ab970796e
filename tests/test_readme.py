"""The README's commands work as printed: in a fresh shell that activates the environment as the
README says, with no DATA_DIR set, reading the data where `make train` finds it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REAL_DATA_DIR, ROOT

# Appended to each training command: a tiny complete run instead of minutes of training.
SHORT = "debug=quick trainer.enable_progress_bar=false"


def readme_commands(section: str = "## Using it") -> list[str]:
    """The commands of the first bash block after `section`, without their comments."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text[text.index(section) :], re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def shell(command: str, cwd: Path, log_dir: Path) -> subprocess.CompletedProcess:
    """`command` in a new bash with a clean environment, after `source .venv/bin/activate`."""
    env = {"HOME": os.environ.get("HOME", "/"), "PATH": "/usr/bin:/bin", "LOG_DIR": str(log_dir)}
    script = f"source {ROOT / '.venv' / 'bin' / 'activate'} && {command}"
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.skipif(
    REAL_DATA_DIR.resolve() != (ROOT.parent / "shared" / "data").resolve(),
    reason="the README's commands read the data from ../shared/data when DATA_DIR is not set",
)
def test_every_readme_command_works_as_printed_in_a_fresh_shell(tmp_path):
    commands = readme_commands()
    assert any(c.startswith("python train.py -m") for c in commands)
    logs = tmp_path / "logs"
    # A 56x56 checkpoint for the command that tests one on the canvas.
    shifted = shell(f"python train.py model=mlp data=mnist_shifted {SHORT}", ROOT, logs)
    assert shifted.returncode == 0, shifted.stderr[-2000:]
    checkpoints = {"shifted": next((logs / "train" / "runs").glob("*mnist_shifted*/checkpoints"))}
    for command in commands:
        if command.startswith("python train.py -m experiment="):
            command = f"{command} {SHORT} seed=1 data=mnist"  # the recipe's first cells only
        elif command.startswith("python train.py"):
            command = f"{command} {SHORT}"
        elif command.startswith("python eval.py"):
            # The README's placeholders: a run folder of this test, its checkpoint.
            run = next(r for r in (logs / "train" / "runs").iterdir() if "shifted" not in r.name)
            ckpt = checkpoints["shifted"] if "shifted" in command else run / "checkpoints"
            command = command.replace("logs/train/runs/<run>/checkpoints/last.ckpt", "...")
            command = command.replace("ckpt_path=...", f"ckpt_path={ckpt / 'last.ckpt'}")
        elif command.startswith("tensorboard"):
            command = f"{command} --version_tb"  # on the PATH, and takes the README's arguments
        else:
            pytest.fail(f"a README command this test does not know how to shorten: {command}")
        result = shell(command, ROOT, logs)
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stderr, command
    assert (logs / "permutation" / "multiruns").is_dir()  # the recipe ran, into LOG_DIR
