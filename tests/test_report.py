"""scripts/report.py on synthetic run folders: the numbers it prints, the files it writes, and
what its figures show (bars from zero, chance, spread over seeds, legends off the data)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from matplotlib.container import BarContainer
from PIL import Image

from mlp_vs_cnn.record import settings_key
from scripts.report import (
    BLOCK,
    Comparison,
    Group,
    ReportError,
    accuracy_figure,
    claims_table,
    fill_page,
    find_runs,
    first_layer_claims,
    first_layer_figure,
    first_layer_table,
    group_runs,
    interval95,
    is_matrix,
    locality_figure,
    main,
    matrix_figure,
    matrix_table,
    model_label,
    padding_claims,
    padding_table,
    place_records,
    report_sections,
    shift_figure,
    stopped_by_cap,
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
    # 95 % intervals by hand: std 1 point, n = 3: t(0.975, 2) = 4.3027 x 1 / sqrt(3) = 2.48
    assert "| permutation | fc_small | mnist | 90.00 ± 2.48 (3) |  |  | 6,442 | 12 |" in printed
    row = (
        "| permutation | cnn_small | mnist_shifted | 80.00 ± 2.48 (3) | 50.00 ± 0.00 (3) "
        "| 70.00 ± 24.84 (3) ±4 | 6,442 | 12 |"
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
    assert "mean ± 95 % interval over 3 seeds" in title
    assert "permutation on mnist, mnist_shifted" in title
    segments = [seg for c in ax.containers if isinstance(c, BarContainer)
                for seg in c.errorbar.lines[2][0].get_segments()]  # fmt: skip
    # error bars: the 95 % interval, 2.48 points each side (std 1 point, n = 3)
    assert [seg[1][1] - seg[0][1] for seg in segments] == pytest.approx([4.968, 4.968], abs=1e-3)


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
        "| permutation: test accuracy %, mean ± 95 % interval, n = 1 "
        "| mnist | mnist_shifted | mnist_permuted |"
    )
    # one run per cell: no interval to show
    assert table.splitlines()[2] == "| `mlp` (6,442) | 90.0 | 70.0 | 80.0 |"
    assert table.splitlines()[3].startswith("| `cnn_small` (6,442) | 95.0 |")

    fig = matrix_figure(groups, "permutation")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mlp", "cnn_small"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "mnist",
        "mnist_shifted",
        "mnist_permuted",
    ]
    assert ax.images[0].get_array()[0].tolist() == pytest.approx([90.0, 70.0, 80.0])
    assert "70.0" in [t.get_text() for t in ax.texts]


def test_a_recipe_over_two_data_configs_gets_no_matrix(tmp_path):
    sweep = tmp_path / "sweep"
    write_sweep(sweep)
    main([str(sweep), "--out", str(tmp_path / "figures")])
    assert not is_matrix(group_runs(find_runs([sweep])), "permutation")
    assert not list((tmp_path / "figures").glob("matrix_*"))


def test_intervals_and_welch_tests_match_hand_computed_values():
    # n = 3, std 0.01: half-width t(0.975, 2) x 0.01 / sqrt(3) = 4.302653 x 0.0057735 = 0.024841
    mean, half = interval95([0.89, 0.90, 0.91])
    assert (mean, half) == pytest.approx((0.90, 0.024841), abs=1e-6)
    assert math.isnan(interval95([0.9])[1])
    # Welch: difference 0.10, standard error sqrt(2 x 0.01^2 / 3) = 0.0081650, t = 12.247 with
    # 4 degrees of freedom: two-sided p = 0.000255; interval 0.10 ± 2.776445 x 0.0081650.
    c = Comparison.of([0.89, 0.90, 0.91], [0.79, 0.80, 0.81])
    assert c.difference == pytest.approx(0.10)
    assert c.p == pytest.approx(0.000255, abs=2e-6)
    assert (c.low, c.high) == pytest.approx((0.077330, 0.122670), abs=1e-6)
    # unequal variances, 3 and 4 runs: variances 0.01 and 0.0001, standard error
    # sqrt(0.01 / 3 + 0.0001 / 4) = 0.057951; Welch-Satterthwaite degrees of freedom
    # 0.0033583^2 / ((0.01 / 3)^2 / 2 + (0.0001 / 4)^2 / 3) = 2.030, t(0.975, 2.03) = 4.24
    # (between t(0.975, 2) = 4.303 and t(0.975, 3) = 3.182)
    c = Comparison.of([0.5, 0.6, 0.7], [0.5, 0.5, 0.52, 0.5])
    se = math.sqrt(0.01 / 3 + 0.0001 / 4)
    assert c.difference == pytest.approx(0.095)
    assert (c.high - c.low) / 2 / se == pytest.approx(4.24, abs=0.01)
    assert math.isnan(Comparison.of([0.5, 0.5], [0.5, 0.5]).p)  # no spread: no test


def _matrix(tmp_path: Path, cells: dict[tuple[str, str], tuple[float, ...]]) -> list:
    for (model, data), accs in cells.items():
        for seed, acc in enumerate(accs, start=1):
            write_run(tmp_path / f"{model}_{data}_{seed}", model, data, seed, acc)
    return group_runs(find_runs([tmp_path]))


def test_the_findings_are_tested_and_worded_by_their_test(tmp_path):
    groups = _matrix(tmp_path, {
        ("fc_small", "mnist"): (0.899, 0.90, 0.901),
        ("fc_small", "mnist_permuted"): (0.8995, 0.90, 0.9005),
        ("fc_small", "mnist_shifted"): (0.29, 0.30, 0.31),
        ("cnn_small", "mnist"): (0.97, 0.98, 0.99),
        ("cnn_small", "mnist_permuted"): (0.80, 0.90, 0.96),
        ("cnn_small", "mnist_shifted"): (0.86, 0.88, 0.90),
    })  # fmt: skip
    rows = {line.split(" | ")[1]: line.split(" | ") for line in
            claims_table(groups, "permutation").splitlines()[2:]}  # fmt: skip
    beats = rows["`cnn_small` vs `fc_small` on mnist"]
    # 8 points; standard error sqrt(0.01^2 / 3 + 0.001^2 / 3) = 0.0058023, 2.04 degrees of
    # freedom, t(0.975, 2.04) = 4.25: 8.0 ± 2.5 points; t = 13.8, p = 0.005
    assert beats[2:] == ["98.0 ± 2.5", "90.0 ± 0.2", "+8.0 [+5.5, +10.5]", "Welch's t, p = 0.005",
                         "held |"]  # fmt: skip
    unchanged = rows["`fc_small`: mnist_permuted vs mnist"]
    assert unchanged[-1] == "held: equivalent within ±1 point |"
    below = rows["`fc_small` vs `cnn_small` on mnist_permuted"]
    assert below[-1] == "not shown at n = 3 |"  # 90.0 vs 88.7 ± 20: seed noise
    shifted = rows["loss mnist -> mnist_shifted: `fc_small` vs `cnn_small`"]
    # losses 60.9, 60.0, 59.1 against 11, 10, 9 points: standard error
    # sqrt(0.9^2 / 3 + 1^2 / 3) = 0.777, 3.96 degrees of freedom, 50 ± 2.78 x 0.777 = 50 ± 2.2
    assert shifted[4] == "+50.0 [+47.8, +52.2]" and shifted[-1] == "held |"
    assert "`mlp`" not in claims_table(groups, "permutation")  # no cell, no claim


def test_a_page_gets_its_blocks_filled_and_refuses_placeholders_and_unknown_blocks(tmp_path):
    sections = {"matrix grid": "| a |\n| --- |", "claims grid": "| b |"}
    page = "# R\n<!-- report: matrix grid -->\nold\n<!-- /report -->\ntext\n"
    assert fill_page(page, sections) == (
        "# R\n<!-- report: matrix grid -->\n| a |\n| --- |\n<!-- /report -->\ntext\n"
    )
    with pytest.raises(ReportError, match="names no table of this report"):
        fill_page("<!-- report: matrix nothing -->\n<!-- /report -->\n", sections)
    with pytest.raises(ReportError, match="placeholder 'GRID_MATRIX' left"):
        fill_page("## Grid\n\nGRID_MATRIX\n", sections)
    with pytest.raises(ReportError, match="has no <!-- /report --> end"):
        fill_page("<!-- report: matrix grid -->\n| a |\n", sections)
    # make report stops, says why, and leaves the page as it was
    write_sweep(tmp_path / "runs")
    target = tmp_path / "page.md"
    target.write_text("GRID_MATRIX\n")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "f"), "--fill", str(target)]) == 1
    assert target.read_text() == "GRID_MATRIX\n"


def test_the_pages_show_what_the_records_of_results_say():
    """The generated blocks of README.md and docs/results.md are those `make report` writes."""
    root = Path(__file__).resolve().parents[1]
    for page in (root / "README.md", root / "docs" / "results.md"):
        text = page.read_text()
        recipes = {m["name"].split()[-1] for m in BLOCK.finditer(text)} - {"versions"}
        if "padding" in recipes:  # the padding tables join the position and padding recipes
            recipes.add("position")
        if "layer" in recipes:  # `first layer`, `claims first layer`: the beta_lasso recipe
            recipes |= {"beta_lasso"}
        records = place_records([r for r in find_runs([root / "results"]) if r["task"] in recipes])
        assert fill_page(text, report_sections(group_runs(records), records), page) == text


def test_a_matrix_cell_with_runs_stopped_by_the_epoch_cap_is_marked_not_converged(tmp_path):
    for i, data in enumerate(("mnist", "mnist_permuted", "mnist_shifted")):
        for seed in (1, 2):
            write_run(tmp_path / f"{data}_{seed}", "mlp", data, seed, 0.9 - i / 10)
            path = tmp_path / f"{data}_{seed}" / "metrics.json"
            record = json.loads(path.read_text())
            # the shifted runs of seed 2 stopped at the cap of 30 epochs, the others earlier
            epochs = 30 if (data, seed) == ("mnist_shifted", 2) else 12
            settings = {"trainer": {"max_epochs": 30}, "early_stopping": {"monitor": "val/acc"}}
            path.write_text(json.dumps({**record, "settings": settings, "epochs": epochs}))
    table = matrix_table(group_runs(find_runs([tmp_path])), "permutation")
    row = table.splitlines()[2]
    assert "| 70.0 ± 0.0 † |" in row  # mnist_shifted, the second column
    assert row.count("†") == 1
    assert table.splitlines()[-1].startswith("† 1 of the 2 runs of these cells stopped at the")


def test_a_run_whose_rule_fired_at_the_cap_is_not_counted_as_stopped_by_it():
    # as recorded: EarlyStopping's default patience (3) left out of the settings
    stopping = {"_target_": "lightning.pytorch.callbacks.EarlyStopping", "monitor": "val/acc"}
    settings = {"trainer": {"max_epochs": 30}, "early_stopping": stopping}
    rising = [0.5 + i / 100 for i in range(30)]  # best at the last epoch: still improving
    fired = [*rising[:27], 0.7, 0.7, 0.7]  # best at epoch 27, then 3 without: the rule stops it
    assert stopped_by_cap({"settings": settings, "epochs": 30, "history": {"val/acc": rising}})
    assert not stopped_by_cap({"settings": settings, "epochs": 30, "history": {"val/acc": fired}})
    assert not stopped_by_cap({"settings": settings, "epochs": 12, "history": {"val/acc": rising}})
    assert not stopped_by_cap({"settings": {"trainer": {"max_epochs": 30}}, "epochs": 30})


def test_the_padding_tables_give_a_row_per_network_and_padding_and_test_against_circular():
    def group(recipe, model, padding, accs, one_pixel=()):
        name = model_label(model, {"padding": padding})
        g = Group(recipe, name, "mnist_position" if recipe == "position" else "mnist_shifted")
        g.test_acc, g.consistency, g.one_pixel_change = list(accs), list(accs), list(one_pixel)
        return g

    groups = [
        group("position", "cnn_gap", "valid", [0.99, 0.98, 0.99]),
        group("position", "cnn_gap", "circular", [0.50, 0.49, 0.51]),
        group("padding", "cnn_gap", "valid", [0.60, 0.62, 0.61], [0.10, 0.12, 0.11]),
        group("padding", "cnn_gap", "circular", [0.70, 0.71, 0.69], [0.05, 0.04, 0.06]),
    ]
    assert model_label("cnn_gap", {}) == "cnn_gap" and model_label("lenet5", None) == "lenet5"
    table = padding_table(groups).splitlines()
    assert table[2] == (
        "| cnn_gap | valid | 98.67 ± 1.43 (3) | 61.00 ± 2.48 (3) | 61.00 ± 2.48 (3) "
        "| 11.00 ± 2.48 (3) |"
    )
    assert table[3].startswith("| cnn_gap | circular | 50.00 ± 2.48 (3) | 70.00 ± 2.48 (3) |")
    claims = padding_claims(groups).splitlines()
    valid = Comparison.of([0.99, 0.98, 0.99], [0.50, 0.49, 0.51])
    assert claims[2].startswith(
        "| cnn_gap | valid vs circular | 98.67 ± 1.43 | 50.00 ± 2.48 | +48.7"
    )
    assert f"p = {valid.p:.3f}" in claims[2] or "p < 0.001" in claims[2]
    assert claims[3].startswith("| cnn_gap | circular vs chance | 50.00 ± 2.48 | 50.00 | +0.0")
    assert claims[3].endswith("| one-sample t, p = 1.000 |")


def test_the_first_layer_tables_test_locality_and_accuracy_by_optimizer_and_permutation():
    def group(model, optimizer, data, accs, locality):
        g = Group("beta_lasso", model_label(model, None, optimizer), data)
        g.test_acc, g.locality, g.sparsity = list(accs), list(locality), [0.0, 0.0, 0.0]
        g.seeds = [1, 2, 3]
        g.unit_maps = {seed: [[[float(seed)] * 4] * 4] * 2 for seed in (2, 1, 3)}  # 2 maps
        return g

    groups = [
        group("two_fc", "sgd", "mnist", [0.975, 0.976, 0.977], [0.05, 0.051, 0.052]),
        group("two_fc", "sgd", "mnist_permuted", [0.975, 0.977, 0.976], [0.05, 0.052, 0.051]),
        group("two_fc", "beta_lasso", "mnist", [0.972, 0.973, 0.974], [0.12, 0.13, 0.11]),
        group("two_fc", "beta_lasso", "mnist_permuted", [0.973, 0.972, 0.974], [0.12, 0.11, 0.13]),
    ]
    table = first_layer_table(groups).splitlines()
    assert table[0].startswith("| network | optimizer | mnist: test accuracy % | mnist: locality")
    assert table[2].startswith("| two_fc | sgd | 97.60 ± 0.25 (3) | 5.1 ± 0.2 (3) | 0.0 ± 0.0")
    assert table[3].startswith("| two_fc | beta_lasso | 97.30 ± 0.25 (3) | 12.0 ± 2.5 (3) |")
    claims = first_layer_claims(groups).splitlines()
    local = Comparison.of([0.12, 0.13, 0.11], [0.05, 0.051, 0.052])
    assert claims[2].startswith(
        "| two_fc | β-LASSO's first layer is more local | β-LASSO vs SGD, mnist | 12.0 ± 2.5 |"
    )
    assert claims[2].endswith(f"| Welch's t, p = {local.p:.3f} | held |")
    accuracy = [c for c in claims if "more accurate" in c]
    assert len(accuracy) == 2 and all(c.endswith("| reversed |") for c in accuracy)
    unchanged = [c for c in claims if "unchanged" in c or "un-permuted" in c]
    assert len(unchanged) == 4  # accuracy and locality, for each optimizer
    assert "sgd: mnist_permuted vs mnist" in unchanged[0]
    assert unchanged[0].endswith("| held: equivalent within ±1 point |")
    fig = first_layer_figure(groups, "two_fc")  # 4 rows (optimizer x data) of the seed-1 maps
    image = fig.axes[0].images[0].get_array()
    assert len(fig.axes[0].get_yticklabels()) == 4
    assert "sgd\nmnist\n(original, seed 1)" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert image.shape[0] > image.shape[1]  # 4 rows of 2 maps: taller than wide
