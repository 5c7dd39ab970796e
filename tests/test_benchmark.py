"""scripts/benchmark.py runs end to end on the tiny fixture data (it is timed by hand, not here)."""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import ROOT


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", ROOT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_measures_every_pipeline_and_writes_json(fixture_data_dir, tmp_path):
    json_path = tmp_path / "bench.json"
    # 500 training images in batches of 16, 200 test images in batches of 50.
    load_benchmark().main([
        "--models", "mlp", "--data", "mnist", "mnist_shifted",
        "--warmup", "1", "--batches", "2", "--rounds", "1", "--no-train-run",
        "--json", str(json_path), "--alternative", "channels_last=true",
        "--override", f"paths.data_dir={fixture_data_dir}", "data.val_size=100",
        "data.batch_size=16", "data.eval_batch_size=50", "trainer.accelerator=cpu",
    ])  # fmt: skip
    results = json.loads(json_path.read_text())["results"]
    assert [r["data"] for r in results] == ["mnist", "mnist_shifted"]
    assert [r["timed_steps"] for r in results] == [2, 2]
    for r in results:
        for stage in ("train", "eval"):
            assert all(r[f"{stage}_{p}"] > 0 for p in ("ours", "bare", "per_sample"))
            assert r[f"{stage}_ours_over_bare"] > 0 and r[f"{stage}_ours_over_per_sample"] > 0
            assert r[f"{stage}_alt"] > 0 and r[f"{stage}_alt_over_ours"] > 0
    assert "variant_extra" in results[1]
