"""scripts/report.py on synthetic run folders: the numbers it prints, the files it writes, and
what its figures show (bars from zero, chance, spread over seeds, legends off the data)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from PIL import Image

from mlp_vs_cnn.record import settings_key
from scripts.report import (
    accuracy_figure,
    find_runs,
    group_runs,
    is_matrix,
    locality_figure,
    main,
    matrix_cells,
    matrix_figure,
    matrix_table,
    mean_std,
    shift_figure,
)


def write_run(
    folder: Path, model: str, data: str, seed: int, acc: float, consistency=None, local=None
) -> None:
    metrics = {"test/acc": acc, "val/acc": acc}
    record = {
        "status": "finished",
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


def write_sweep(sweep: Path) -> None:
    """Three seeds of fc_small on mnist (90 ± 1 %) and of cnn_small on mnist_shifted (80 ± 1 %,
    with shift curves), and a run that died before writing metrics.json."""
    for seed, acc in zip((1, 2, 3), (0.89, 0.90, 0.91), strict=True):
        write_run(sweep / f"{seed}_fc", "fc_small", "mnist", seed, acc)
        local = 0.7 + (seed - 2) / 10
        write_run(sweep / f"{seed}_cnn", "cnn_small", "mnist_shifted", seed, acc - 0.1, 0.5, local)
    (sweep / "9_unfinished").mkdir()


def test_report_gives_mean_std_and_count_per_model_and_data_and_writes_figures(tmp_path, capsys):
    sweep = tmp_path / "multirun"
    write_sweep(sweep)
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
    for name in ("accuracy_permutation", "shift_permutation"):
        png = Image.open(out / f"{name}.png")
        assert png.info["dpi"] == pytest.approx((150, 150), abs=0.1)
        assert png.size[0] >= 4.5 * 150  # a figure of at least 4.5 inches, not a thumbnail
    assert not list(out.glob("*.pdf"))


@pytest.mark.parametrize(
    ("options", "suffixes"),
    [(["--format", "pdf"], {".pdf"}), (["--format", "png", "--format", "pdf"], {".png", ".pdf"})],
)
def test_report_writes_pdf_on_request(tmp_path, options, suffixes):
    write_sweep(tmp_path / "multirun")
    out = tmp_path / "figures"
    assert main([str(tmp_path / "multirun"), "--out", str(out), *options]) == 0
    written = {p.name for p in out.iterdir()}
    assert written == {
        f"{n}{s}" for n in ("accuracy_permutation", "shift_permutation") for s in suffixes
    }
    for pdf in out.glob("*.pdf"):
        assert pdf.read_bytes().startswith(b"%PDF")


def test_report_png_resolution_is_set_by_dpi(tmp_path):
    write_sweep(tmp_path / "multirun")
    out = tmp_path / "figures"
    assert main([str(tmp_path / "multirun"), "--out", str(out), "--dpi", "300"]) == 0
    assert Image.open(out / "accuracy_permutation.png").info["dpi"] == pytest.approx(
        (300, 300), abs=0.1
    )


def test_accuracy_bars_start_at_zero_with_chance_marked_and_the_legend_off_the_data(tmp_path):
    write_sweep(tmp_path / "multirun")
    fig = accuracy_figure(group_runs(find_runs([tmp_path / "multirun"])), "permutation")
    fig.canvas.draw()
    (ax,) = fig.axes
    assert ax.get_ylim() == (0, 100)
    bars = sorted(ax.patches, key=lambda bar: bar.get_x())
    # The fully connected net first, then the conv net.
    assert [bar.get_height() for bar in bars] == pytest.approx([90, 80])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc_small", "cnn_small"]
    (chance,) = ax.get_lines()[-1:]
    assert chance.get_ydata() == [10, 10]
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["mnist", "mnist_shifted"]
    assert legend.get_window_extent(renderer).x0 > ax.get_window_extent(renderer).x1
    title = fig.get_suptitle()
    assert "mean ± std over 3 seeds" in title and "permutation on mnist, mnist_shifted" in title


def test_shift_curves_show_the_mean_and_std_over_seeds(tmp_path):
    write_sweep(tmp_path / "multirun")
    fig = shift_figure(group_runs(find_runs([tmp_path / "multirun"])), "permutation")
    (ax,) = fig.axes
    mean, chance = ax.get_lines()
    assert mean.get_label() == "cnn_small (mnist_shifted, n=3)"
    # The curves are [acc, acc, acc / 2] for acc = 0.79, 0.80, 0.81.
    assert list(mean.get_xdata()) == [0, 1, 2]
    assert mean.get_ydata() == pytest.approx([0.8, 0.8, 0.4])
    std = statistics.stdev([0.79, 0.80, 0.81])
    (band,) = ax.collections
    corners = band.get_paths()[0].vertices
    at_two = sorted({round(y, 6) for x, y in corners if x == 2})
    assert at_two == pytest.approx([0.4 - std / 2, 0.4 + std / 2], abs=1e-5)
    assert chance.get_ydata() == [0.1, 0.1]


def test_report_on_a_folder_without_finished_runs_says_so(tmp_path, capsys):
    (tmp_path / "empty_sweep" / "0_job").mkdir(parents=True)
    assert main([str(tmp_path / "empty_sweep"), "--out", str(tmp_path / "figures")]) == 1
    assert "No finished runs under" in capsys.readouterr().err
    assert not (tmp_path / "figures").exists()


def test_records_of_unfinished_runs_and_unreadable_files_are_named_and_not_counted(
    tmp_path, capsys
):
    sweep = tmp_path / "multirun"
    write_run(sweep / "1_fc", "fc_small", "mnist", 1, 0.9)
    failed = {"choices": {"model": "fc_small", "data": "mnist"}, "metrics": {"test/acc": 0.1}}
    (sweep / "2_failed").mkdir()
    (sweep / "2_failed" / "metrics.json").write_text(json.dumps(failed))  # no status: finished
    (sweep / "3_cut").mkdir()
    (sweep / "3_cut" / "metrics.json").write_text('{"status": "finished", "metr')  # truncated
    records = find_runs([sweep])
    assert [r["seed"] for r in records] == [1]
    errors = capsys.readouterr().err
    assert f"skipped {sweep / '2_failed' / 'metrics.json'}: not the record of a finished" in errors
    assert f"skipped {sweep / '3_cut' / 'metrics.json'}: not readable as JSON" in errors


def study_record(folder: Path, model: str, data: str, k: int, seed: int, acc: float) -> None:
    """A record as results/ holds it (`write_study_record`): settings instead of the config."""
    settings = {"model": model, "data": {"block_size": k}, "seed": seed}
    record = {
        "status": "finished",
        "task": "locality",
        "choices": {"experiment": "locality", "model": model, "data": data},
        "settings": settings,
        "key": settings_key(settings),
        "seed": seed,
        "num_parameters": 6442,
        "fit_seconds": 1.0,
        "epochs": 1,
        "global_step": 10,
        "code": "0123456789ab",
        "metrics": {"test/acc": acc},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model}_{data}_k{k}_s{seed}-{record['key']}.json"
    path.write_text(json.dumps(record))


def test_study_records_group_by_block_size_and_draw_accuracy_against_k(tmp_path):
    results = tmp_path / "results" / "locality"
    for k, acc in ((1, 0.95), (4, 0.9), (28, 0.8)):
        for seed in (1, 2):
            study_record(results, "cnn_small", "mnist_block_local", k, seed, acc + seed / 100)
            study_record(results, "fc_small", "mnist_block_local", k, seed, 0.85)
    groups = group_runs(find_runs([tmp_path / "results"]))
    cnn = [g for g in groups if g.model == "cnn_small"]
    assert [(g.data, g.block_size, g.n) for g in cnn] == [
        ("mnist_block_local k=1", 1, 2),
        ("mnist_block_local k=4", 4, 2),
        ("mnist_block_local k=28", 28, 2),
    ]
    fig = locality_figure(groups, "locality")
    (ax,) = [a for a in fig.axes if a.get_title() == "mnist_block_local"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["cnn_small"].get_xdata()) == [1, 4, 28]
    assert list(lines["cnn_small"].get_ydata()) == pytest.approx([96.5, 91.5, 81.5])


def test_the_matrix_has_one_row_per_model_and_one_column_per_data_config(tmp_path):
    sweep = tmp_path / "grid"
    for i, data in enumerate(("mnist", "mnist_permuted", "mnist_shifted")):
        write_run(sweep / f"{i}_cnn", "cnn_small", data, 1, 0.95 - i / 10)
        write_run(sweep / f"{i}_mlp", "mlp", data, 1, 0.9 - i / 10)
    groups = group_runs(find_runs([sweep]))
    assert is_matrix(groups, "permutation")
    table = matrix_table(groups, "permutation")
    # Columns original, shifted, permuted; rows the fully connected nets before the conv nets.
    assert table.splitlines()[0] == (
        "| permutation: test accuracy % | mnist | mnist_shifted | mnist_permuted |"
    )
    assert table.splitlines()[2] == (
        "| mlp | 90.00 ± 0.00 (1) | 70.00 ± 0.00 (1) | 80.00 ± 0.00 (1) |"
    )
    assert table.splitlines()[3].startswith("| cnn_small | 95.00 ± 0.00 (1) |")

    fig = matrix_figure(groups, "permutation")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mlp", "cnn_small"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "mnist",
        "mnist_shifted",
        "mnist_permuted",
    ]
    assert ax.images[0].get_array()[0].tolist() == pytest.approx([90.0, 70.0, 80.0])
    assert "70.0\n± 0.0" in [t.get_text() for t in ax.texts]


def test_a_recipe_over_two_data_configs_gets_no_matrix(tmp_path):
    sweep = tmp_path / "sweep"
    write_sweep(sweep)
    main([str(sweep), "--out", str(tmp_path / "figures")])
    assert not is_matrix(group_runs(find_runs([sweep])), "permutation")
    assert not list((tmp_path / "figures").glob("matrix_*"))


def test_the_readme_matrix_shows_the_numbers_of_the_heat_map_rounded_once():
    root = Path(__file__).resolve().parents[1]
    models, datas, cell = matrix_cells(group_runs(find_runs([root / "results"])), "grid")
    readme = (root / "README.md").read_text()
    for model in models:
        # The heat map's text: the mean and std of the records, each rounded once to 0.1.
        shown = [
            "{:.1f} ± {:.1f}".format(*(100 * x for x in mean_std(cell[model, data].test_acc)))
            for data in datas
        ]
        assert f"| {' | '.join(shown)} |" in readme, model
