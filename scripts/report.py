"""Summarise finished runs: test accuracy mean ± std over seeds per recipe x model x data.

    python scripts/report.py logs/permutation/multiruns/<time> logs/shift/multiruns/<time>
    python scripts/report.py logs/ --out docs/figures --markdown docs/results.md

Reads the metrics.json that every run writes (never console output), anywhere under the folders
given. Prints a markdown table (accuracy, shift consistency over the whole canvas and within a
small radius when measured, parameters, training time), writes it to `--markdown`, and draws
into `--out`: `accuracy_<recipe>.png` (bars by model, one per data config, error bars = std over
seeds) and `shift_<recipe>.png` (accuracy against the distance of the shift, runs on a canvas
only). Exits with status 1 and says so when no finished run is found.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

METRICS_FILE = "metrics.json"
DATA_ORDER = [
    "mnist",
    "mnist_permuted",
    "mnist_shifted",
    "fashion",
    "fashion_permuted",
    "fashion_shifted",
]


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
    by_distance: list[tuple[list[int], list[float]]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.test_acc)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def find_runs(folders: list[Path]) -> list[dict]:
    """Every finished run (a metrics.json with a test accuracy) under the folders."""
    records = []
    for folder in folders:
        for path in sorted(Path(folder).rglob(METRICS_FILE)):
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if "test/acc" in record.get("metrics", {}) and "choices" in record:
                record["path"] = str(path.parent)
                records.append(record)
    return records


def group_runs(records: list[dict]) -> list[Group]:
    groups: dict[tuple[str, str, str], Group] = {}
    for record in records:
        choices = record["choices"]
        key = (choices.get("experiment", "-"), choices.get("model", "?"), choices.get("data", "?"))
        group = groups.setdefault(key, Group(*key))
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
            group.by_distance.append((shift["distances"], shift["accuracy_by_distance"]))
            if shift.get("local_radius") is not None:
                group.local_radii.add(shift["local_radius"])
    data_rank = {d: i for i, d in enumerate(DATA_ORDER)}
    return sorted(
        groups.values(), key=lambda g: (g.recipe, g.model, data_rank.get(g.data, 99), g.data)
    )


def _pm(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    if not values:
        return ""
    mean, std = mean_std(values)
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f} ({len(values)})"


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


def accuracy_figure(groups: list[Group], recipe: str):
    """Grouped bars: one group per model, one bar per data config, error bars = std."""
    import matplotlib.pyplot as plt

    groups = [g for g in groups if g.recipe == recipe]
    models = list(dict.fromkeys(g.model for g in groups))
    datas = sorted({g.data for g in groups}, key=lambda d: (DATA_ORDER + [d]).index(d))
    width = 0.8 / len(datas)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(models) * max(1, len(datas) / 2)), 3.8))
    cell = {(g.model, g.data): g for g in groups}
    for j, data in enumerate(datas):
        xs, means, stds = [], [], []
        for i, model in enumerate(models):
            if (model, data) in cell:
                mean, std = mean_std(cell[model, data].test_acc)
                xs.append(i + (j - (len(datas) - 1) / 2) * width)
                means.append(100 * mean)
                stds.append(100 * std)
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=data)
    ax.set_xticks(range(len(models)), models, rotation=20)
    ax.set(ylabel="test accuracy (%)", title=f"{recipe}: mean ± std over seeds")
    low = min((100 * min(g.test_acc) for g in groups), default=0)
    ax.set_ylim(max(0, low - 10), 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def shift_figure(groups: list[Group], recipe: str):
    """Accuracy against the distance of the shift, mean over seeds, one line per model x data."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for g in groups:
        if g.recipe != recipe or not g.by_distance:
            continue
        distances = g.by_distance[0][0]
        curves = [acc for d, acc in g.by_distance if d == distances]
        mean = [100 * statistics.fmean(column) for column in zip(*curves, strict=True)]
        ax.plot(distances, mean, marker="o", ms=3, label=f"{g.model} ({g.data}, n={len(curves)})")
    ax.set(
        xlabel="distance of the shift from the centre (pixels)",
        ylabel="test accuracy (%)",
        ylim=(0, 100),
        title=f"{recipe}: accuracy by shift",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_figures(groups: list[Group], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for recipe in dict.fromkeys(g.recipe for g in groups):
        figures = {f"accuracy_{recipe}.png": accuracy_figure(groups, recipe)}
        if any(g.by_distance for g in groups if g.recipe == recipe):
            figures[f"shift_{recipe}.png"] = shift_figure(groups, recipe)
        for name, fig in figures.items():
            fig.savefig(out / name, dpi=120)
            plt.close(fig)
            written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folders", nargs="+", type=Path, help="multirun or run folders (searched recursively)"
    )
    parser.add_argument("--out", type=Path, default=Path("report"), help="folder for the PNGs")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)

    records = find_runs(args.folders)
    if not records:
        names = ", ".join(str(f) for f in args.folders)
        print(
            f"No finished runs under {names}: no {METRICS_FILE} with a test accuracy was found. "
            "Train first (python train.py -m experiment=<recipe>) or point at the folders of "
            "finished runs.",
            file=sys.stderr,
        )
        return 1
    groups = group_runs(records)
    table = markdown_table(groups)
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table + "\n")
    for path in write_figures(groups, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
