"""End-to-end: every model trains on every data variant; train.py and eval.py agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlp_vs_cnn.training import train
from tests.conftest import DATA_CONFIGS, MODEL_CONFIGS


@pytest.mark.parametrize("data", DATA_CONFIGS)
@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_every_model_runs_fast_dev_run_on_every_data_config(compose_cfg, model, data):
    cfg = compose_cfg(f"model={model}", f"data={data}", "debug=fast_dev_run")
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["choices"]["model"] == model and record["choices"]["data"] == data
    assert record["num_parameters"] > 0
