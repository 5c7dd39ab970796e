"""scripts/report.py on synthetic run folders: the numbers it prints and the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.report import main


def write_run(
    folder: Path, model: str, data: str, seed: int, acc: float, consistency=None, local=None
) -> None:
    metrics = {"test/acc": acc, "val/acc": acc}
    record = {
        "choices": {"experiment": "permutation", "model": model, "data": data},
        "seed": seed,
        "num_parameters": 6442,
        "fit_seconds": 10.0 + seed,
        "metrics": metrics,
    }
    if consistency is not None:
        metrics["shift/consistency"] = consistency
        curve = {"distances": [0, 1, 2], "accuracy_by_distance": [acc, acc, acc / 2]}
        record["shift_robustness"] = curve
    if local is not None:
        metrics["shift/consistency_local"] = local
        record["shift_robustness"]["local_radius"] = 4
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(record))


def test_report_gives_mean_std_and_count_per_model_and_data_and_writes_figures(tmp_path, capsys):
    sweep = tmp_path / "multirun"
    for seed, acc in zip((1, 2, 3), (0.89, 0.90, 0.91), strict=True):
        write_run(sweep / f"{seed}_fc", "fc_small", "mnist", seed, acc)
        local = 0.7 + (seed - 2) / 10
        write_run(sweep / f"{seed}_cnn", "cnn_small", "mnist_shifted", seed, acc - 0.1, 0.5, local)
    (sweep / "9_unfinished").mkdir()  # a run that died before writing metrics.json
    out = tmp_path / "figures"
    assert main([str(sweep), "--out", str(out), "--markdown", str(tmp_path / "table.md")]) == 0
    printed = capsys.readouterr().out
    assert "| permutation | fc_small | mnist | 90.00 ± 1.00 (3) |  |  | 6,442 | 12 |" in printed
    row = (
        "| permutation | cnn_small | mnist_shifted | 80.00 ± 1.00 (3) | 50.00 ± 0.00 (3) "
        "| 70.00 ± 10.00 (3) ±4 | 6,442 | 12 |"
    )
    assert row in printed
    assert (tmp_path / "table.md").read_text().strip() in printed
    assert (out / "accuracy_permutation.png").stat().st_size > 0
    assert (out / "shift_permutation.png").stat().st_size > 0


def test_report_on_a_folder_without_finished_runs_says_so(tmp_path, capsys):
    (tmp_path / "empty_sweep" / "0_job").mkdir(parents=True)
    assert main([str(tmp_path / "empty_sweep"), "--out", str(tmp_path / "figures")]) == 1
    assert "No finished runs under" in capsys.readouterr().err
    assert not (tmp_path / "figures").exists()
