"""The configs compose as Lightning + Hydra users compose them, from a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

# What a notebook or the reference template's test fixtures do: Hydra's compose API alone.
NOTEBOOK = """
from hydra import compose, initialize
from hydra.utils import instantiate

with initialize(version_base="1.3", config_path="conf"):
    cfg = compose("train", overrides=["model=lenet5", "data=fashion_permuted"])
print(cfg.model._target_, cfg.data.dataset, cfg.data.permutation_seed, cfg.trainer.max_epochs)
print(type(instantiate(cfg.model)).__name__, type(instantiate(cfg.data)).__name__)
"""


def test_the_config_composes_in_a_fresh_interpreter_without_importing_the_project():
    result = subprocess.run(
        [sys.executable, "-c", NOTEBOOK], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shown = ["mlp_vs_cnn.models.ConvNet", "FashionMNIST", "0", "10", "ConvNet", "ImageDataModule"]
    assert result.stdout.split() == shown
