"""Summarise finished runs: test accuracy mean ± std over seeds per recipe x model x data.

    python scripts/report.py logs/permutation/multiruns/<time> logs/shift/multiruns/<time>
    python scripts/report.py results --out docs/figures --markdown docs/results_tables.md
    python scripts/report.py logs/ --out paper/figures --format png --format pdf

Reads the records of finished runs (never console output) anywhere under the folders given: the
metrics.json of run folders, and the study records of results/ (`make report`); names every file
it cannot read and every record of a run that did not finish. Prints a markdown table (accuracy,
shift consistency over the whole canvas and within a small radius when measured, parameters,
training time; and a model x data matrix for recipes over more than two data configs), writes it
to `--markdown`, and draws into `--out`: `accuracy_<recipe>.png` (bars from zero by model, one
per data config, error bars = std over seeds, chance as a dashed line), `shift_<recipe>.png`
(accuracy against the distance of the shift, mean ± std over seeds; runs on a canvas only) and
`locality_<recipe>.png` (accuracy against the block size k; block variants only) and
`matrix_<recipe>.png` (the model x data matrix as a heat map, where there is one), as PNG at
`--dpi` and/or PDF (`--format`). Exits with status 1 and says so when no finished run is found.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from matplotlib.figure import Figure

from mlp_vs_cnn.analysis.shift import ShiftRobustness, distance_figure
from mlp_vs_cnn.record import METRICS_FILE, run_settings, write_atomically
from mlp_vs_cnn.study_records import RecordError, read_json, read_records
from mlp_vs_cnn.visualize.figures import (
    DPI,
    FORMATS,
    chance_line,
    new_figure,
    outside_legend,
    percent_axis,
    save_figure,
    suptitle,
)

DATA_ORDER = [
    "mnist",
    "mnist_shifted",
    "mnist_permuted",
    "fashion",
    "fashion_shifted",
    "fashion_permuted",
]
# Fully connected nets first, then conv nets (the parameter-matched pair side by side); a model
# not listed comes after these, in name order.
MODEL_ORDER = [
    "mlp",
    "two_fc",
    "fc_small",
    "cnn_small",
    "lenet5",
    "lenet5_aa",
    "two_conv_two_fc",
    "cnn_gap",
]
ROOT = Path(__file__).resolve().parents[1]
CHANCE = 0.1  # accuracy of guessing: every data config has 10 classes


@dataclass
class Group:
    """The finished runs of one recipe x model x data, one entry per run (seed)."""

    recipe: str
    model: str
    data: str
    test_acc: list[float] = field(default_factory=list)
    consistency: list[float] = field(default_factory=list)
    local_consistency: list[float] = field(default_factory=list)
    local_radii: set[int] = field(default_factory=set)
    fit_seconds: list[float] = field(default_factory=list)
    num_parameters: set[int] = field(default_factory=set)
    seeds: list[int] = field(default_factory=list)
    by_distance: list[ShiftRobustness] = field(default_factory=list)
    block_size: int | None = None  # k of the block variants (locality recipe)

    @property
    def n(self) -> int:
        return len(self.test_acc)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def find_runs(folders: list[Path]) -> list[dict]:
    """Every finished run under the folders: a study record of results/, checked as it is read
    (`mlp_vs_cnn.study_records`: each run once), or a run folder's metrics.json. Names every
    file it leaves out and why; none of those counts."""
    records = []
    for folder in folders:
        study, skipped = read_records(folder)
        for path in sorted(Path(folder).rglob(METRICS_FILE)):  # run folders
            try:
                record = read_json(path)
                if record.get("status") != "finished" or "test/acc" not in record["metrics"]:
                    raise RecordError("not the record of a finished, tested run")
            except (RecordError, AttributeError, KeyError, TypeError) as err:
                skipped.append((path, str(err) or "not a run's record"))
                continue
            study.append(record)
        for path, reason in skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        records += study
    return records


def mark_other_settings(records: list[dict]) -> None:
    """Move each study record whose settings are not its recipe's own (a run of `make reproduce
    ARGS=...`, or of an older recipe) out of the recipe's cells: its recipe is shown as
    `<recipe> (other settings)`. The recipe's own settings are those `train.py` composes for
    `experiment=<recipe>` with the record's model, data, block size and seed."""
    own: dict[tuple, dict | None] = {}
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for record in records:
            if "settings" not in record or "task" not in record:
                continue  # a run folder's metrics.json: no settings to compare
            choices = record["choices"]
            cell = (record["task"], choices["model"], choices["data"], block_size(record))
            if cell not in own:
                own[cell] = recipe_settings(*cell)
            if own[cell] != _without_seed(record["settings"]):
                recipe = choices.get("experiment", record["task"])
                choices["experiment"] = f"{recipe} (other settings)"


def recipe_settings(recipe: str, model: str, data: str, block: int | None) -> dict | None:
    """The settings of a run of `recipe` on `model` and `data` (and block size), seed aside;
    None if this checkout cannot compose it (a recipe or option that no longer exists). Called
    inside Hydra's `initialize_config_dir` of conf/."""
    overrides = [f"experiment={recipe}", f"model={model}", f"data={data}", "seed=1"]
    overrides += [f"data.block_size={block}"] if block is not None else []
    try:
        cfg = compose("train", overrides=overrides)
    except HydraException:
        return None
    return _without_seed(json.loads(json.dumps(run_settings(cfg))))


def _without_seed(settings: dict) -> dict:
    settings = {**settings, "data": {**(settings.get("data") or {})}}
    settings.pop("seed", None)
    settings["data"].pop("shuffle_seed", None)  # the seed again (data.shuffle_seed: ${seed})
    return settings


def block_size(record: dict) -> int | None:
    """The block size k of a block-variant run (`data.block_size`), else None."""
    data = (record.get("settings") or record.get("config") or {}).get("data") or {}
    return data.get("block_size")


def group_runs(records: list[dict]) -> list[Group]:
    groups: dict[tuple[str, str, str], Group] = {}
    for record in records:
        choices = record["choices"]
        k = block_size(record)
        data = choices.get("data", "?") + (f" k={k}" if k is not None else "")
        key = (choices.get("experiment", "-"), choices.get("model", "?"), data)
        group = groups.setdefault(key, Group(*key))
        group.block_size = k
        metrics = record["metrics"]
        group.test_acc.append(metrics["test/acc"])
        group.seeds.append(record.get("seed"))
        group.fit_seconds.append(record.get("fit_seconds", float("nan")))
        group.num_parameters.add(record.get("num_parameters"))
        if "shift/consistency" in metrics:
            group.consistency.append(metrics["shift/consistency"])
        if "shift/consistency_local" in metrics:
            group.local_consistency.append(metrics["shift/consistency_local"])
        shift = record.get("shift_robustness")
        if shift:
            # Records of older runs may lack later fields; the figure reads only the curve.
            known = {f.name: shift.get(f.name) for f in fields(ShiftRobustness)}
            group.by_distance.append(ShiftRobustness(**known))
            if shift.get("local_radius") is not None:
                group.local_radii.add(shift["local_radius"])
    data_rank = {d: i for i, d in enumerate(DATA_ORDER)}
    model_rank = {m: i for i, m in enumerate(MODEL_ORDER)}

    def order(g: Group):
        family = g.data.split(" ")[0]
        model = (model_rank.get(g.model, len(MODEL_ORDER)), g.model)
        return (g.recipe, model, data_rank.get(family, 99), family, g.block_size or 0)

    return sorted(groups.values(), key=order)


def _pm(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    if not values:
        return ""
    mean, std = mean_std(values)
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f} ({len(values)})"


def data_configs(groups: list[Group]) -> list[str]:
    """The data configs of these groups in `DATA_ORDER` (any other after them)."""
    return sorted({g.data for g in groups}, key=lambda d: (DATA_ORDER + [d]).index(d))


def markdown_table(groups: list[Group]) -> str:
    local = any(g.local_consistency for g in groups)
    header = "| recipe | model | data | test accuracy % (n) | shift consistency % (n) |"
    header += " local consistency % (n) |" if local else ""
    lines = [
        header + " parameters | fit time s |",
        "| --- | --- | --- | --- | --- |" + (" --- |" if local else "") + " ---: | ---: |",
    ]
    for g in groups:
        params = ", ".join(f"{p:,}" for p in sorted(p for p in g.num_parameters if p is not None))
        cells = [g.recipe, g.model, g.data, _pm(g.test_acc), _pm(g.consistency)]
        if local:
            radii = "/".join(f"±{r}" for r in sorted(g.local_radii))
            cells.append(f"{_pm(g.local_consistency)} {radii}".strip())
        cells += [params, f"{statistics.fmean(g.fit_seconds):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def matrix_cells(
    groups: list[Group], recipe: str
) -> tuple[list[str], list[str], dict[tuple[str, str], Group]]:
    """The models, data configs and (model, data) cells of one recipe: the rows, columns and
    cells of its matrix, the groups and bars of its accuracy figure."""
    groups = [g for g in groups if g.recipe == recipe]
    models = list(dict.fromkeys(g.model for g in groups))
    return models, data_configs(groups), {(g.model, g.data): g for g in groups}


def matrix_table(groups: list[Group], recipe: str) -> str:
    """Models (rows) by data configs (columns) of one recipe: test accuracy, mean ± std (n)."""
    models, datas, cell = matrix_cells(groups, recipe)
    lines = [
        f"| {recipe}: test accuracy % | " + " | ".join(datas) + " |",
        "| --- |" + " ---: |" * len(datas),
    ]
    for model in models:
        row = [_pm(cell[model, d].test_acc) if (model, d) in cell else "" for d in datas]
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def is_matrix(groups: list[Group], recipe: str) -> bool:
    """A recipe over more than two data configs (block variants aside) gets the model x data
    matrix: as a table and as a figure."""
    groups = [g for g in groups if g.recipe == recipe]
    blocks = any(g.block_size is not None for g in groups)  # the locality figure shows those
    return len({g.data for g in groups}) > 2 and not blocks


def matrix_figure(groups: list[Group], recipe: str) -> Figure:
    """The matrix of `matrix_table` as a heat map: models (rows) by data configs (columns), each
    cell its mean test accuracy ± std over seeds, the colour scale from chance to 100 %."""
    models, datas, cell = matrix_cells(groups, recipe)
    fig = new_figure(2.2 + 1.25 * len(datas), 1.4 + 0.55 * len(models))
    suptitle(
        fig,
        f"Test accuracy, mean ± std over {_ns(list(cell.values()))} seeds",
        f"recipe {recipe}: every model on every data config",
    )
    ax = fig.add_subplot()
    means = np.full((len(models), len(datas)), np.nan)
    for (i, model), (j, data) in itertools.product(enumerate(models), enumerate(datas)):
        if (model, data) not in cell:
            continue
        mean, std = (100 * x for x in mean_std(cell[model, data].test_acc))
        means[i, j] = mean
        ax.text(
            j,
            i,
            f"{mean:.1f}\n± {std:.1f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if mean < 70 else "black",  # white on the dark end of viridis
        )
    image = ax.imshow(means, cmap="viridis", vmin=100 * CHANCE, vmax=100, aspect="auto")
    ax.set_xticks(range(len(datas)), datas, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(models)), models)
    ax.tick_params(labelsize=8, length=0)
    bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
    bar.set_label("test accuracy % (scale from chance, 10 %)", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    return fig


def locality_figure(groups: list[Group], recipe: str) -> Figure:
    """Test accuracy against the block size k, one panel per variant family, one line per
    model: mean over seeds with a band of ± one standard deviation."""
    groups = [g for g in groups if g.recipe == recipe and g.block_size is not None]
    families = list(dict.fromkeys(g.data.split(" ")[0] for g in groups))
    fig = new_figure(4.2 * len(families) + 2.0, 4.2)
    suptitle(
        fig,
        f"Test accuracy against the block size k, mean ± std over {_ns(groups)} seeds",
        f"recipe {recipe}",
    )
    axes = fig.subplots(1, len(families), sharey=True, squeeze=False)[0]
    for ax, family in zip(axes, families, strict=True):
        for model in dict.fromkeys(g.model for g in groups):
            curve = sorted(
                (g for g in groups if g.model == model and g.data.startswith(family + " ")),
                key=lambda g: g.block_size,
            )
            if not curve:
                continue
            ks = [g.block_size for g in curve]
            means, stds = zip(*(mean_std(g.test_acc) for g in curve), strict=True)
            low = [100 * (m - s) for m, s in zip(means, stds, strict=True)]
            high = [100 * (m + s) for m, s in zip(means, stds, strict=True)]
            (line,) = ax.plot(ks, [100 * m for m in means], marker="o", ms=3, label=model)
            ax.fill_between(ks, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set(title=family, xlabel="block size k (pixels)", ylim=(0, 100))
        chance_line(ax, 100 * CHANCE, percent=True)
        percent_axis(ax.yaxis, top=100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    outside_legend(axes[-1], fontsize=8, title="model")
    return fig


def _ns(groups: list[Group]) -> str:
    """The numbers of seeds behind the groups' means: "3", or "2-3" when they differ."""
    ns = sorted({g.n for g in groups})
    return str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"


def accuracy_figure(groups: list[Group], recipe: str) -> Figure:
    """Grouped bars from zero: one group per model, one bar per data config, error bars = std
    over seeds, the mean written on each bar, chance as a dashed line, the legend outside."""
    models, datas, cell = matrix_cells(groups, recipe)
    width = 0.8 / len(datas)
    bars = 0.25 * len(models) * len(datas) + 0.5 * len(models) + 1.5  # inches
    fig = new_figure(max(4.5, bars) + (2.0 if len(datas) > 1 else 0.0), 4.6)
    suptitle(
        fig,
        f"Test accuracy by model, mean ± std over {_ns(list(cell.values()))} seeds",
        f"recipe {recipe} on {', '.join(datas)}",
    )
    ax = fig.add_subplot()
    for j, data in enumerate(datas):
        xs, means, stds = [], [], []
        for i, model in enumerate(models):
            if (model, data) in cell:
                mean, std = mean_std(cell[model, data].test_acc)
                xs.append(i + (j - (len(datas) - 1) / 2) * width)
                means.append(100 * mean)
                stds.append(100 * std)
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=data, error_kw={"linewidth": 1})
        for x, mean, std in zip(xs, means, stds, strict=True):
            # The mean inside its bar, half way up, if the bar is tall enough, else above its
            # error bar; clear of the chance line either way.
            inside = mean >= 40
            ax.text(
                x,
                mean / 2 if inside else mean + std + 2,
                f"{mean:.1f}",
                ha="center",
                va="center" if inside else "bottom",
                rotation=90,
                fontsize=7,
                color="white" if inside else "black",
            )
    chance_line(ax, 100 * CHANCE, percent=True)
    ax.set_xticks(range(len(models)), models, rotation=30, ha="right", rotation_mode="anchor")
    margin = 1.0 if len(models) == 1 else 0.6  # a lone model's bars stay bar-shaped
    ax.set(ylabel="test accuracy", ylim=(0, 100), xlim=(-margin, len(models) - 1 + margin))
    percent_axis(ax.yaxis, top=100)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if len(datas) > 1:
        outside_legend(ax, fontsize=8, title="data")
    return fig


def shift_figure(groups: list[Group], recipe: str) -> Figure:
    """Accuracy against the distance of the shift, one line per model x data: the mean over
    seeds with a band of ± one standard deviation."""
    groups = [g for g in groups if g.recipe == recipe and g.by_distance]
    curves = {}
    for g in groups:
        distances = g.by_distance[0].distances
        runs = [r for r in g.by_distance if r.distances == distances]
        curves[f"{g.model} ({g.data}, n={len(runs)})"] = runs
    datas = ", ".join(dict.fromkeys(g.data for g in groups))
    return distance_figure(
        curves,
        "Test accuracy against the distance of the shift, mean ± std over seeds",
        f"recipe {recipe} on {datas}",
        chance=CHANCE,
    )


def write_figures(
    groups: list[Group], out: Path, formats: Sequence[str] = ("png",), dpi: float = DPI
) -> list[Path]:
    written = []
    for recipe in dict.fromkeys(g.recipe for g in groups):
        if any(g.block_size is not None for g in groups if g.recipe == recipe):
            figures = {f"locality_{recipe}": locality_figure(groups, recipe)}
        else:
            figures = {f"accuracy_{recipe}": accuracy_figure(groups, recipe)}
        if is_matrix(groups, recipe):
            figures[f"matrix_{recipe}"] = matrix_figure(groups, recipe)
        if any(g.by_distance for g in groups if g.recipe == recipe):
            figures[f"shift_{recipe}"] = shift_figure(groups, recipe)
        for name, fig in figures.items():
            written += save_figure(fig, out / name, formats, dpi)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folders", nargs="+", type=Path, help="multirun or run folders (searched recursively)"
    )
    parser.add_argument("--out", type=Path, default=Path("report"), help="folder for the figures")
    parser.add_argument(
        "--format",
        action="append",
        choices=FORMATS,
        help="figure file format: png (default) or pdf (vector, for papers); repeat for both",
    )
    parser.add_argument("--dpi", type=float, default=DPI, help=f"PNG resolution (default {DPI})")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)

    records = find_runs(args.folders)
    mark_other_settings(records)
    if not records:
        names = ", ".join(str(f) for f in args.folders)
        print(
            f"No finished runs under {names}: no record of a finished, tested run was found. "
            "Train first (python train.py -m experiment=<recipe>) or point at the folders of "
            "finished runs.",
            file=sys.stderr,
        )
        return 1
    groups = group_runs(records)
    table = markdown_table(groups)
    for recipe in dict.fromkeys(g.recipe for g in groups):
        if is_matrix(groups, recipe):
            table += "\n\n" + matrix_table(groups, recipe)
    print(table)
    if args.markdown:
        write_atomically(args.markdown, table + "\n")
    for path in write_figures(groups, args.out, args.format or ["png"], args.dpi):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
