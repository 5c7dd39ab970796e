"""Summarise finished runs: test accuracy per recipe x model x data, mean and 95 % interval over
seeds, and the findings of the model x data matrix with their tests.

    python scripts/report.py logs/permutation/multiruns/<time> logs/shift/multiruns/<time>
    python scripts/report.py results --out docs/figures --markdown docs/results_tables.md \
        --fill README.md --fill docs/results.md

Reads the records of finished runs (never console output) anywhere under the folders given: the
metrics.json of run folders, and the study records of results/ (`make report`); names every file
it cannot read and every record of a run that did not finish. Every accuracy is shown as its
mean over seeds ± the half-width of its 95 % interval (Student's t with n - 1 degrees of
freedom) and n. Prints a markdown table (accuracy, shift consistency over the whole canvas and
within a small radius when measured, parameters, training time; the code versions of each
recipe's records; and, for recipes over more than two data configs, the model x data matrix and
its findings, each with Welch's t test), writes it to `--markdown`, fills the generated blocks of
each `--fill` page (`<!-- report: matrix <recipe> -->` ... `<!-- /report -->`, likewise
`claims <recipe>`; a block naming nothing the report has, or a placeholder left in the page, is
an error), and draws into `--out`: `accuracy_<recipe>.png` (bars from zero by model, one per
data config, error bars = 95 % intervals, chance as a dashed line), `shift_<recipe>.png`
(accuracy against the distance of the shift, mean ± std over seeds; runs on a canvas only),
`locality_<recipe>.png` (accuracy against the block size k; block variants only),
`matrix_<recipe>.png` (the model x data matrix as a heat map, where there is one) and
`curves_<recipe>.png` (validation accuracy by epoch, for records that carry it), as PNG at
`--dpi` and/or PDF (`--format`). Exits with status 1 and says so when no finished run is found.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import math
import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.utils import get_object
from matplotlib.figure import Figure
from scipy import stats

from hydra_plugins.recipe_sweeper import cartesian_jobs
from mlp_vs_cnn.analysis.shift import ShiftRobustness, distance_figure
from mlp_vs_cnn.models.cnn import PADDINGS
from mlp_vs_cnn.record import METRICS_FILE, run_settings, write_atomically
from mlp_vs_cnn.study_records import RecordError, read_json, read_records
from mlp_vs_cnn.visualize.figures import (
    DPI,
    FORMATS,
    chance_line,
    grid_figure,
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
CHANCE = 0.1  # accuracy of guessing 10 classes, where a record does not say its classes


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
    one_pixel_change: list[float] = field(default_factory=list)  # Azulay & Weiss, where measured
    fit_seconds: list[float] = field(default_factory=list)
    num_parameters: set[int] = field(default_factory=set)
    seeds: list[int] = field(default_factory=list)
    by_distance: list[ShiftRobustness] = field(default_factory=list)
    block_size: int | None = None  # k of the block variants (locality recipe)
    curves: list[list[float]] = field(default_factory=list)  # val/acc by epoch, where recorded
    capped: int = 0  # runs of an early-stopping recipe stopped by the epoch cap, not the rule
    num_classes: int = 10  # of its data (2 in the position task)
    locality: list[float] = field(default_factory=list)  # of an MLP's first layer, where measured
    sparsity: list[float] = field(default_factory=list)
    unit_maps: dict[int, list] = field(default_factory=dict)  # seed -> its record's unit maps

    @property
    def n(self) -> int:
        return len(self.test_acc)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def interval95(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % interval, Student's t with n - 1 degrees of freedom
    (nan for a single value: one run says nothing of the spread)."""
    mean, std = mean_std(values)
    n = len(values)
    if n < 2:
        return mean, math.nan
    return mean, float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)


@dataclass
class Comparison:
    """Welch's t test of mean(a) - mean(b): the difference, its 95 % interval and the two-sided
    p-value (nan when neither sample varies or one has fewer than two values)."""

    difference: float
    low: float
    high: float
    p: float

    @classmethod
    def of(cls, a: list[float], b: list[float]) -> Comparison:
        difference = statistics.fmean(a) - statistics.fmean(b)
        if min(len(a), len(b)) < 2 or (statistics.pvariance(a) == statistics.pvariance(b) == 0):
            return cls(difference, math.nan, math.nan, math.nan)
        test = stats.ttest_ind(a, b, equal_var=False)
        low, high = test.confidence_interval(0.95)
        return cls(difference, float(low), float(high), float(test.pvalue))


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


def place_records(records: list[dict]) -> list[dict]:
    """Each study record in every cell of a recipe whose own settings are its settings (seed
    aside): one run shown wherever the study asks for it, though recorded, and trained, once
    (`locality`'s block permutations that move nothing are the original images of the
    `permutation` recipe's cells, say). A record that is in no cell of its recipe (a run of
    `make reproduce ARGS=...`, or of an older recipe) stays in its own cell, its recipe shown as
    `<recipe> (other settings)`. Run folders' metrics.json (no settings) stay as they are. A
    placed record's cell is its `choices` (recipe, model, data) and its `block` size."""
    cells: dict[str, list[tuple[str, str, str, int | None]]] = {}
    recipes = sorted({r["task"] for r in records if "settings" in r and "task" in r})
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for recipe in recipes:
            for cell, settings in recipe_cells(recipe):
                cells.setdefault(json.dumps(settings, sort_keys=True), []).append(cell)
    placed = []
    for record in records:
        if "settings" not in record or "task" not in record:
            placed.append(record)
            continue
        found = cells.get(json.dumps(_without_seed(record["settings"]), sort_keys=True))
        if not found:
            recipe = record["choices"].get("experiment", record["task"])
            choices = {**record["choices"], "experiment": f"{recipe} (other settings)"}
            placed.append({**record, "choices": choices})
        for recipe, model, data, block in found or []:
            choices = {**record["choices"], "experiment": recipe, "model": model, "data": data}
            placed.append({**record, "choices": choices, "block": block})
    return placed


def recipe_cells(recipe: str) -> list[tuple[tuple[str, str, str, int | None], dict]]:
    """Every cell of `recipe`'s own sweep (each combination of its swept values but the seed),
    as (recipe, model, data, block size) with its settings, seed aside; none if this checkout
    cannot compose it (a recipe that no longer exists). Called inside Hydra's
    `initialize_config_dir` of conf/."""
    try:
        cfg = compose("train", overrides=[f"experiment={recipe}"], return_hydra_config=True)
        params = {k: v for k, v in (cfg.hydra.sweeper.params or {}).items() if k != "seed"}
        parser = OverridesParser.create()
        jobs = cartesian_jobs(parser.parse_overrides([f"{k}={v}" for k, v in params.items()]))
    except HydraException:
        return []
    cells = []
    for job_overrides in jobs:
        try:
            overrides = [f"experiment={recipe}", "seed=1", *job_overrides]
            job = compose("train", overrides=overrides, return_hydra_config=True)
        except HydraException:
            continue  # an option this checkout no longer has
        choices = job.hydra.runtime.choices
        settings = _without_seed(json.loads(json.dumps(run_settings(job))))
        optimizer = choices.optimizer if "optimizer" in params else None
        model = model_label(choices.model, settings.get("model"), optimizer)
        cells.append(((recipe, model, choices.data, job.data.get("block_size")), settings))
    return cells


def model_label(name: str, model: dict | None, optimizer: str | None = None) -> str:
    """A model option's name, with its conv padding where that is not the default, "valid"
    (a recorded setting leaves a default out), or the optimizer option where the recipe sweeps
    the optimizer: `cnn_gap (circular)`, `two_fc (beta_lasso)`."""
    padding = model.get("padding") if isinstance(model, dict) else None
    qualifier = optimizer or (padding if padding != "valid" else None)
    return f"{name} ({qualifier})" if qualifier else name


def label_parts(label: str) -> tuple[str, str]:
    """The model option and what a `model_label` adds to it in brackets: the padding (valid
    where it names none) or the optimizer."""
    name, _, qualifier = label.partition(" (")
    return name, qualifier.rstrip(")") or "valid"


def _without_seed(settings: dict) -> dict:
    settings = {**settings, "data": {**(settings.get("data") or {})}}
    settings.pop("seed", None)
    settings["data"].pop("shuffle_seed", None)  # the seed again (data.shuffle_seed: ${seed})
    return settings


def block_size(record: dict) -> int | None:
    """The block size k of a block-variant run (its cell's, else `data.block_size`), else None."""
    if "block" in record:
        return record["block"]
    data = (record.get("settings") or record.get("config") or {}).get("data") or {}
    return data.get("block_size")


def setting(node: dict, name: str) -> Any:
    """An argument of a recorded `_target_` mapping: its value, or, where the record leaves it
    out for equalling it (`mlp_vs_cnn.record.without_defaults`), the target's default."""
    if name in node:
        return node[name]
    return inspect.signature(get_object(node["_target_"])).parameters[name].default


def stopped_by_cap(record: dict) -> bool:
    """Whether a run of an early-stopping recipe ended at its epoch cap while its stopping rule
    had not yet fired: its best validation epoch is fewer than `patience` epochs before its last
    (EarlyStopping's own rule), so it was still improving."""
    settings = record.get("settings") or {}
    stopping = settings.get("early_stopping")
    cap = (settings.get("trainer") or {}).get("max_epochs")
    if stopping is None or cap is None or record.get("epochs", 0) < cap:
        return False
    curve = (record.get("history") or {}).get("val/acc") or []
    if not curve:
        return True
    best = curve.index(max(curve))  # the first best: a tie is no improvement
    return len(curve) - 1 - best < setting(stopping, "patience")


def group_runs(records: list[dict]) -> list[Group]:
    groups: dict[tuple[str, str, str], Group] = {}
    for record in records:
        choices = record["choices"]
        k = block_size(record)
        data = choices.get("data", "?") + (f" k={k}" if k is not None else "")
        model = choices.get("model", "?")
        if "block" not in record:  # not placed in a recipe's cell, which names the padding
            model = model_label(model, (record.get("settings") or {}).get("model"))
        key = (choices.get("experiment", "-"), model, data)
        group = groups.setdefault(key, Group(*key))
        group.block_size = k
        data_settings = (record.get("settings") or {}).get("data")
        if isinstance(data_settings, dict) and "_target_" in data_settings:
            group.num_classes = setting(data_settings, "num_classes")
        metrics = record["metrics"]
        group.test_acc.append(metrics["test/acc"])
        group.seeds.append(record.get("seed"))
        group.fit_seconds.append(record.get("fit_seconds", float("nan")))
        group.num_parameters.add(record.get("num_parameters"))
        if "shift/consistency" in metrics:
            group.consistency.append(metrics["shift/consistency"])
        if "shift/consistency_local" in metrics:
            group.local_consistency.append(metrics["shift/consistency_local"])
        if "shift/one_pixel_change" in metrics:
            group.one_pixel_change.append(metrics["shift/one_pixel_change"])
        if "first_layer/locality" in metrics:
            group.locality.append(metrics["first_layer/locality"])
            group.sparsity.append(metrics["first_layer/sparsity"])
            group.unit_maps[record.get("seed")] = record["first_layer"]["units"]
        curve = (record.get("history") or {}).get("val/acc")
        if curve:
            group.curves.append(curve)
        if stopped_by_cap(record):
            group.capped += 1
        shift = record.get("shift_robustness")
        if shift:
            # Records of older runs may lack later fields; the figure reads only the curve.
            known = {f.name: shift.get(f.name) for f in fields(ShiftRobustness)}
            group.by_distance.append(ShiftRobustness(**known))
            if shift.get("local_radius") is not None:
                group.local_radii.add(shift["local_radius"])
    data_rank = {d: i for i, d in enumerate(DATA_ORDER)}
    model_rank = {m: i for i, m in enumerate(MODEL_ORDER)}

    qualifier_rank = {q: i for i, q in enumerate((*PADDINGS, *OPTIMIZERS))}

    def order(g: Group):
        family = g.data.split(" ")[0]
        base, padding = label_parts(g.model)  # or the optimizer
        model = (model_rank.get(base, len(MODEL_ORDER)), base,
                 qualifier_rank.get(padding, len(qualifier_rank)), padding)  # fmt: skip
        return (g.recipe, model, data_rank.get(family, 99), family, g.block_size or 0)

    return sorted(groups.values(), key=order)


def _pm(values: list[float], scale: float = 100.0, digits: int = 2, n: bool = True) -> str:
    """ "mean ± half-width of the 95 % interval (n)", or "mean (1)" for a single value."""
    if not values:
        return ""
    mean, half = interval95(values)
    count = f" ({len(values)})" if n else ""
    if math.isnan(half):
        return f"{mean * scale:.{digits}f}{count}"
    return f"{mean * scale:.{digits}f} ± {half * scale:.{digits}f}{count}"


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
    """Models (rows, with their parameter count on 28x28 images) by data configs (columns) of one
    recipe: test accuracy %, mean ± half-width of the 95 % interval, rounded once to 0.1 as in
    the heat map; n in the header when every cell has the same, else in each cell."""
    models, datas, cell = matrix_cells(groups, recipe)
    ns = {g.n for g in cell.values()}
    each = len(ns) > 1
    what = "test accuracy %, mean ± 95 % interval" + ("" if each else f", n = {ns.pop()}")
    lines = [
        f"| {recipe}: {what} | " + " | ".join(datas) + " |",
        "| --- |" + " ---: |" * len(datas),
    ]
    for model in models:
        row = [_pm(cell[model, d].test_acc, digits=1, n=each) if (model, d) in cell else ""
               for d in datas]  # fmt: skip
        small = [p for g in cell.values() if g.model == model and "shifted" not in g.data
                 for p in g.num_parameters if p is not None]  # fmt: skip
        label = f"`{model}`" + (f" ({min(small):,})" if small else "")
        row = [text + (" †" if cell[model, d].capped else "") if text else text
               for d, text in zip(datas, row, strict=True)]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    capped = [g for g in cell.values() if g.capped]
    if capped:
        runs = sum(g.capped for g in capped)
        lines.append(
            f"\n† {runs} of the {sum(g.n for g in capped)} runs of these cells stopped at the "
            "epoch cap before the stopping rule: still improving, not converged."
        )
    return "\n".join(lines)


# The findings of the mission, tested on a model x data matrix, for each dataset d:
#   ("beats", A, B): model A on its data is more accurate than model B on its data;
#   ("unchanged", M, data 1, data 2): M's accuracy is the same on both (equivalent within
#       EQUIVALENCE points: the 95 % interval of the difference lies inside ± that margin);
#   ("loses_more", A, B, data 1, data 2): A loses more accuracy than B from data 1 to data 2
#       (each seed's loss, data 1 minus data 2; Welch's t test on the losses).
EQUIVALENCE = 0.01
FINDINGS = [
    ("A CNN beats an FC net on original images (the first pair parameter-matched)",
     [("beats", ("cnn_small", "{d}"), ("fc_small", "{d}")),
      ("beats", ("lenet5", "{d}"), ("mlp", "{d}")),
      ("beats", ("two_conv_two_fc", "{d}"), ("two_fc", "{d}"))]),
    ("On permuted pixels the MLP is unchanged",
     [("unchanged", "fc_small", "{d}", "{d}_permuted"),
      ("unchanged", "mlp", "{d}", "{d}_permuted"),
      ("unchanged", "two_fc", "{d}", "{d}_permuted")]),
    ("... while the CNN falls below it",
     [("beats", ("fc_small", "{d}_permuted"), ("cnn_small", "{d}_permuted")),
      ("beats", ("mlp", "{d}_permuted"), ("lenet5", "{d}_permuted")),
      ("beats", ("two_fc", "{d}_permuted"), ("two_conv_two_fc", "{d}_permuted"))]),
    ("On shifted images the MLP loses much more than the CNN",
     [("loses_more", "fc_small", "cnn_small", "{d}", "{d}_shifted"),
      ("loses_more", "mlp", "lenet5", "{d}", "{d}_shifted"),
      ("loses_more", "two_fc", "two_conv_two_fc", "{d}", "{d}_shifted")]),
]  # fmt: skip
DATASETS = ("mnist", "fashion")


def _p(p: float) -> str:
    if math.isnan(p):
        return "no test (no spread)"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _points(c: Comparison) -> str:
    if math.isnan(c.low):
        return f"{100 * c.difference:+.1f}"
    return f"{100 * c.difference:+.1f} [{100 * c.low:+.1f}, {100 * c.high:+.1f}]"


def _accuracies(cell: dict[tuple[str, str], Group], model: str, data: str) -> list[float]:
    group = cell.get((model, data))
    return list(group.test_acc) if group else []


def _by_seed(cell: dict[tuple[str, str], Group], model: str, data: str) -> dict[int, float]:
    group = cell.get((model, data))
    return dict(zip(group.seeds, group.test_acc, strict=True)) if group else {}


def test_claim(claim: tuple, d: str, cell: dict[tuple[str, str], Group]) -> dict[str, str] | None:
    """One claim of `FINDINGS` on dataset `d`: the comparison, the two sides, the difference with
    its 95 % interval, the test and the verdict; None if the matrix lacks a side."""
    kind, *args = claim
    args = [tuple(a.format(d=d) for a in x) if isinstance(x, tuple) else x.format(d=d)
            for x in args]  # fmt: skip
    if kind == "loses_more":
        a_model, b_model, before, after = args
        sides = []
        for model in (a_model, b_model):
            first, second = _by_seed(cell, model, before), _by_seed(cell, model, after)
            sides.append([first[s] - second[s] for s in sorted(first.keys() & second.keys())])
        a, b = sides
        what = f"loss {before} -> {after}: `{a_model}` vs `{b_model}`"
    elif kind == "unchanged":
        model, first, second = args
        a, b = (_accuracies(cell, model, x) for x in (second, first))
        what = f"`{model}`: {second} vs {first}"
    else:
        (a_model, a_data), (b_model, b_data) = args
        a, b = _accuracies(cell, a_model, a_data), _accuracies(cell, b_model, b_data)
        what = f"`{a_model}` vs `{b_model}` on {a_data}" if a_data == b_data else (
            f"`{a_model}` on {a_data} vs `{b_model}` on {b_data}")  # fmt: skip
    if not a or not b:
        return None
    return compared(what, a, b, "unchanged" if kind == "unchanged" else "beats")


def compared(what: str, a: list[float], b: list[float], kind: str) -> dict[str, str]:
    """A row of a claims table: A and B (mean ± 95 % interval), A - B in points with its 95 %
    interval, Welch's t test and the verdict on the claim `kind`: "beats" (A > B: held,
    reversed or not shown) or "unchanged" (held where the interval of A - B lies within
    ±EQUIVALENCE; changed where p < 0.05; else not shown)."""
    c = Comparison.of(a, b)
    n = f"n = {len(a)}" + (f" and {len(b)}" if len(b) != len(a) else "")
    if kind == "unchanged":
        inside = not math.isnan(c.low) and -EQUIVALENCE <= c.low and c.high <= EQUIVALENCE
        verdict = (f"held: equivalent within ±{100 * EQUIVALENCE:.0f} point" if inside else
                   "changed" if not math.isnan(c.p) and c.p < 0.05 else
                   f"not shown at {n}")  # fmt: skip
    elif not math.isnan(c.p) and c.p < 0.05:
        verdict = "held" if c.difference > 0 else "reversed"
    else:
        verdict = f"not shown at {n}"
    return {
        "comparison": what,
        "a": _pm(a, digits=1, n=False),
        "b": _pm(b, digits=1, n=False),
        "difference": _points(c),
        "test": f"Welch's t, {_p(c.p)}",
        "verdict": verdict,
    }


def claims_table(groups: list[Group], recipe: str) -> str:
    """The findings of `FINDINGS` tested on the matrix of one recipe, on each dataset: a row per
    comparison, the difference in points with its 95 % interval, Welch's t test, the verdict."""
    _, _, cell = matrix_cells(groups, recipe)
    lines = [
        f"| {recipe}: finding | comparison (A vs B) | A % | B % | A - B, points [95 % interval] "
        "| test | verdict |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for finding, claims in FINDINGS:
        for d in DATASETS:
            for claim in claims:
                row = test_claim(claim, d, cell)
                if row is not None:
                    lines.append(f"| {finding} | " + " | ".join(row.values()) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


# Published figures, each beside our run at the nearest setting (docs/references.md): source,
# its setting, its figure, our model and data, and how our setting differs. Our setting is the
# recipe's (Adam, rate cut on plateau, early stopping; 55,000/5,000 split; 10,000 test images).
PUBLISHED = [
    ("Zalando, Fashion-MNIST benchmark", "MLP 256-128-100 (scikit-learn)", "88.33",
     "two_fc", "fashion", "one hidden layer of 100"),
    ("Zalando, Fashion-MNIST benchmark", "MLP 256-128-100 (scikit-learn)", "88.33",
     "mlp", "fashion", "784-50-25-10"),
    ("Zalando, Fashion-MNIST benchmark", "two conv layers with pooling", "87.6-91.6",
     "lenet5", "fashion", "ours is one such network"),
    ("Zalando, Fashion-MNIST benchmark", "two conv layers, under 100k parameters", "92.5",
     "two_conv_two_fc", "fashion", "53,670 parameters, dropout"),
    ("Zalando, benchmark's MNIST column", "two conv layers, under 100k parameters", "99.2",
     "two_conv_two_fc", "mnist", "53,670 parameters, dropout"),
    ("PyTorch examples, mnist/main.py", "conv 32-64 3x3, fc 128, dropout; Adadelta, 14 epochs",
     "about 99.2 (not checked)", "lenet5", "mnist", "conv 20-50 5x5 with pooling, fc 500"),
    ("LeCun et al. 1998", "LeNet-5 (about 60k parameters), 0.95 % error", "99.05 (MNIST page)",
     "lenet5", "mnist", "not LeCun's LeNet-5: the 20-50-500 net, 431,080 parameters"),
    ("LeCun et al. 1998", "2-layer net, 300 hidden units, mean square error, 4.7 % error",
     "95.3 (MNIST page)", "two_fc", "mnist", "100 hidden units"),
    ("Simard et al. 2003",
     "2-layer net, 800 hidden units, cross-entropy, any pixel order, 1.6 % error",
     "98.4 (MNIST page)", "two_fc", "mnist_permuted", "100 hidden units, permuted pixels"),
    ("Raschka, Deep Learning Fundamentals", "MLP 784-50-25-10, SGD 0.05, 10 epochs", "96.34",
     "mlp", "mnist", "Adam, to convergence (his setting: the mlp_baseline recipe)"),
    ("Raschka, Deep Learning Fundamentals", "the same MLP on Fashion-MNIST, SGD 0.01, 30 epochs",
     "85.68", "mlp", "fashion", "Adam, to convergence"),
    ("Raschka, Unit 7.4", "CNN of 6.2k parameters with BatchNorm", "98.52",
     "cnn_small", "mnist", "6,422 parameters, no BatchNorm"),
    ("NYU practicum (1 epoch of SGD)", "FC 784-8-8-10 / CNN 6,422 parameters", "87 / 95",
     "fc_small", "mnist", "to convergence (its setting: the permutation recipe)"),
    ("NYU practicum (1 epoch of SGD)", "the CNN on permuted pixels", "83",
     "cnn_small", "mnist_permuted", "to convergence"),
]  # fmt: skip


def published_table(groups: list[Group], recipe: str) -> str:
    """`PUBLISHED`, each figure beside our test accuracy in `recipe` for the same model and data
    (mean ± 95 % interval, n); a figure without our cell is left out."""
    _, _, cell = matrix_cells(groups, recipe)
    lines = [
        f"| source | their setting | published % | ours ({recipe}) | ours % (n) "
        "| how our setting differs |",
        "| --- | --- | ---: | --- | ---: | --- |",
    ]
    for source, setting, figure, model, data, differs in PUBLISHED:
        if (model, data) in cell:
            ours = _pm(cell[model, data].test_acc, digits=1)
            lines.append(f"| {source} | {setting} | {figure} | `{model}` on {data} | {ours} "
                         f"| {differs} |")  # fmt: skip
    return "\n".join(lines) if len(lines) > 2 else ""


def versions_table(groups: list[Group], records: list[dict]) -> str:
    """The runs each recipe shows, the sum of their fit times (as measured, on a machine shared
    with other work) and their code versions (a recipe may combine several), each run counted
    once per recipe."""
    versions: dict[str, dict[str, int]] = {}
    fit: dict[str, float] = {}
    seen = set()
    for record in records:
        recipe = record["choices"].get("experiment", record.get("task", "-"))
        if "code" in record and (recipe, record["key"]) not in seen:
            seen.add((recipe, record["key"]))
            counts = versions.setdefault(recipe, {})
            counts[record["code"]] = counts.get(record["code"], 0) + 1
            fit[recipe] = fit.get(recipe, 0.0) + record.get("fit_seconds", 0.0)
    if not versions:
        return ""
    lines = [
        "| recipe | runs | fit time of its runs | code versions of its records (runs) |",
        "| --- | ---: | ---: | --- |",
    ]
    for recipe in dict.fromkeys(g.recipe for g in groups):
        if recipe in versions:
            shown = ", ".join(f"`{v}` ({n})" for v, n in sorted(versions[recipe].items()))
            runs = sum(versions[recipe].values())
            lines.append(f"| {recipe} | {runs} | {fit[recipe] / 3600:.2f} h | {shown} |")
    return "\n".join(lines)


def is_matrix(groups: list[Group], recipe: str) -> bool:
    """A recipe over more than two data configs (block variants aside) gets the model x data
    matrix: as a table and as a figure."""
    groups = [g for g in groups if g.recipe == recipe]
    blocks = any(g.block_size is not None for g in groups)  # the locality figure shows those
    return len({g.data for g in groups}) > 2 and not blocks


def matrix_figure(groups: list[Group], recipe: str) -> Figure:
    """The matrix of `matrix_table` as a heat map: models (rows) by data configs (columns), each
    cell its mean test accuracy ± the half-width of its 95 % interval over seeds, the colour
    scale from chance to 100 %."""
    models, datas, cell = matrix_cells(groups, recipe)
    fig = new_figure(2.2 + 1.25 * len(datas), 1.4 + 0.55 * len(models))
    suptitle(
        fig,
        f"Test accuracy, mean ± 95 % interval over {_ns(list(cell.values()))} seeds",
        f"recipe {recipe}: every model on every data config",
    )
    ax = fig.add_subplot()
    means = np.full((len(models), len(datas)), np.nan)
    for (i, model), (j, data) in itertools.product(enumerate(models), enumerate(datas)):
        if (model, data) not in cell:
            continue
        mean, half = (100 * x for x in interval95(cell[model, data].test_acc))
        means[i, j] = mean
        ax.text(
            j,
            i,
            f"{mean:.1f}" + ("" if math.isnan(half) else f"\n± {half:.1f}"),
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
    model: mean over seeds with a band of its 95 % interval."""
    groups = [g for g in groups if g.recipe == recipe and g.block_size is not None]
    families = list(dict.fromkeys(g.data.split(" ")[0] for g in groups))
    fig = new_figure(4.2 * len(families) + 2.0, 4.2)
    suptitle(
        fig,
        f"Test accuracy against the block size k, mean ± 95 % interval over {_ns(groups)} seeds",
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
            means, stds = zip(*(_drawn_interval(g.test_acc) for g in curve), strict=True)
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


def _drawn_interval(values: list[float]) -> tuple[float, float]:
    """`interval95` with no error bar (0) for a single value."""
    mean, half = interval95(values)
    return mean, 0.0 if math.isnan(half) else half


def _ns(groups: list[Group]) -> str:
    """The numbers of seeds behind the groups' means: "3", or "2-3" when they differ."""
    ns = sorted({g.n for g in groups})
    return str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"


def chance(groups: list[Group]) -> float:
    """The accuracy of guessing these groups' classes (10, unless they all have fewer)."""
    return 1 / max((g.num_classes for g in groups), default=round(1 / CHANCE))


def accuracy_figure(groups: list[Group], recipe: str) -> Figure:
    """Grouped bars from zero: one group per model, one bar per data config, error bars = 95 %
    intervals, the mean written on each bar, chance as a dashed line, the legend outside."""
    models, datas, cell = matrix_cells(groups, recipe)
    width = 0.8 / len(datas)
    bars = 0.25 * len(models) * len(datas) + 0.5 * len(models) + 1.5  # inches
    fig = new_figure(max(4.5, bars) + (2.0 if len(datas) > 1 else 0.0), 4.6)
    suptitle(
        fig,
        f"Test accuracy by model, mean ± 95 % interval over {_ns(list(cell.values()))} seeds",
        f"recipe {recipe} on {', '.join(datas)}",
    )
    ax = fig.add_subplot()
    for j, data in enumerate(datas):
        xs, means, stds = [], [], []
        for i, model in enumerate(models):
            if (model, data) in cell:
                mean, std = _drawn_interval(cell[model, data].test_acc)
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
    chance_line(ax, 100 * chance(list(cell.values())), percent=True)
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
        chance=chance(groups),
    )


def curves_figure(groups: list[Group], recipe: str) -> Figure:
    """Validation accuracy after every epoch, one panel per data config, one colour per model, a
    line per run ending where its stopping rule stopped it (a dot): where each run levelled off."""
    models, datas, cell = matrix_cells([g for g in groups if g.curves], recipe)
    columns = min(3, len(datas))
    rows = math.ceil(len(datas) / columns)
    fig = new_figure(3.6 * columns + 2.0, 3.0 * rows + 0.8)
    suptitle(fig, "Validation accuracy by epoch, every run", f"recipe {recipe}")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    for ax, data in zip(axes, datas, strict=False):
        for model in models:
            for i, curve in enumerate(cell[model, data].curves if (model, data) in cell else []):
                epochs = range(1, len(curve) + 1)
                label = model if i == 0 else None
                ax.plot(epochs, [100 * v for v in curve], color=colours[model], lw=1, label=label)
                ax.plot(len(curve), 100 * curve[-1], "o", ms=2.5, color=colours[model])
        ax.set(title=data, xlabel="epoch")
        percent_axis(ax.yaxis, top=100)
        ax.grid(alpha=0.3)
    for ax in axes[len(datas) :]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("validation accuracy")
    outside_legend(axes[columns - 1], fontsize=8, title="model")
    return fig


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
        if any(g.curves for g in groups if g.recipe == recipe):
            figures[f"curves_{recipe}"] = curves_figure(groups, recipe)
        if recipe == FIRST_LAYER:
            cells = _first_layer_cells(groups)
            for model in dict.fromkeys(m for (m, _, _), g in cells.items() if g.unit_maps):
                figures[f"first_layer_{recipe}_{model}"] = first_layer_figure(groups, model)
        for name, fig in figures.items():
            written += save_figure(fig, out / name, formats, dpi)
    return written


class ReportError(ValueError):
    """A page the report cannot fill; the message says where and why."""


def padding_table(groups: list[Group]) -> str:
    """The `position` and `padding` recipes side by side, a row per network and padding: the
    position task's test accuracy (chance 50 %), then in the translation setting the shifted
    test's accuracy, the consistency and the probability that a one-pixel move changes the
    prediction; each mean ± 95 % interval (n)."""
    rows: dict[str, dict[str, Group]] = {}
    for g in groups:
        if g.recipe in ("position", "padding"):
            rows.setdefault(g.model, {})[g.recipe] = g
    if not rows:
        return ""
    lines = [
        "| network | padding | position task: test accuracy % | shifted test: accuracy % "
        "| consistency % | one-pixel change % |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for model, cells in rows.items():
        position, shifted = cells.get("position"), cells.get("padding")
        values = [
            _pm(position.test_acc) if position else "",
            _pm(shifted.test_acc) if shifted else "",
            _pm(shifted.consistency) if shifted else "",
            _pm(shifted.one_pixel_change) if shifted else "",
        ]
        name, padding = label_parts(model)
        lines.append(f"| {name} | {padding} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def padding_claims(groups: list[Group]) -> str:
    """The position recipe's expectations tested: for each network, every padding against
    circular (Welch's t test), and circular against chance (one-sample t test against 50 %)."""
    cell = {g.model: g for g in groups if g.recipe == "position"}
    lines = [
        "| network | comparison (A vs B) | A % | B % | A - B, points [95 % interval] | test |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for base in dict.fromkeys(label_parts(m)[0] for m in cell):
        circular = cell.get(model_label(base, {"padding": "circular"}))
        if circular is None:
            continue
        for padding in PADDINGS:
            other = cell.get(model_label(base, {"padding": padding}))
            if other is None or padding == "circular":
                continue
            c = Comparison.of(other.test_acc, circular.test_acc)
            lines.append(
                f"| {base} | {padding} vs circular | {_pm(other.test_acc, n=False)} | "
                f"{_pm(circular.test_acc, n=False)} | {_points(c)} | Welch, {_p(c.p)} |"
            )
        if circular.n < 2:
            continue
        points = f"{(statistics.fmean(circular.test_acc) - 0.5) * 100:+.1f}"
        test = "no test (no spread)"  # every run alike: the t test has no spread to weigh
        if statistics.pvariance(circular.test_acc) > 0:
            result = stats.ttest_1samp(circular.test_acc, 0.5)
            low, high = result.confidence_interval(0.95)
            points += f" [{(low - 0.5) * 100:+.1f}, {(high - 0.5) * 100:+.1f}]"
            test = f"one-sample t, {_p(float(result.pvalue))}"
        lines.append(
            f"| {base} | circular vs chance | {_pm(circular.test_acc, n=False)} | 50.00 | "
            f"{points} | {test} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


FIRST_LAYER = "beta_lasso"  # the recipe that measures MLP first layers, SGD against β-LASSO
OPTIMIZERS = ("sgd", "beta_lasso")


def _first_layer_cells(groups: list[Group]) -> dict[tuple[str, str, str], Group]:
    """The `beta_lasso` recipe's groups by (network, optimizer, data)."""
    return {(*label_parts(g.model), g.data): g for g in groups if g.recipe == FIRST_LAYER}


def first_layer_table(groups: list[Group]) -> str:
    """A row per network and optimizer of the `beta_lasso` recipe; for each data config the
    test accuracy, the locality of the first layer (in pixel order) and its share of zero
    weights, each mean ± 95 % interval (n)."""
    cell = _first_layer_cells(groups)
    if not cell:
        return ""
    datas = data_configs(list(cell.values()))
    head = [f"{d}: {what}" for d in datas for what in ("test accuracy %", "locality %", "zero %")]
    lines = [
        "| network | optimizer | " + " | ".join(head) + " |",
        "| --- | --- |" + " ---: |" * len(head),
    ]
    for model, optimizer in dict.fromkeys((m, o) for m, o, _ in cell):
        values = []
        for d in datas:
            g = cell.get((model, optimizer, d))
            metrics = (g.test_acc, g.locality, g.sparsity) if g else ([], [], [])
            values += [_pm(v, digits=2 if v is metrics[0] else 1) for v in metrics]
        lines.append(f"| {model} | {optimizer} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def first_layer_claims(groups: list[Group]) -> str:
    """The `beta_lasso` recipe's claims, for each network: β-LASSO's first layer is more local
    than SGD's, on each data config; β-LASSO is more accurate than SGD (the paper's finding on
    CIFAR-10); and for each optimizer, permuting the pixels leaves the accuracy and the
    (un-permuted) locality unchanged. Each with Welch's t test."""
    cell = _first_layer_cells(groups)
    datas = data_configs(list(cell.values()))
    lines = [
        "| network | claim | comparison (A vs B) | A % | B % | A - B, points [95 % interval] "
        "| test | verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ]

    def add(model: str, claim: str, what: str, a: Group | None, b: Group | None, metric, kind):
        if a is not None and b is not None:
            row = compared(what, metric(a), metric(b), kind)
            lines.append(f"| {model} | {claim} | " + " | ".join(row.values()) + " |")

    for model in dict.fromkeys(m for m, _, _ in cell):
        sgd = {d: cell.get((model, "sgd", d)) for d in datas}
        lasso = {d: cell.get((model, "beta_lasso", d)) for d in datas}
        for d in datas:
            add(model, "β-LASSO's first layer is more local", f"β-LASSO vs SGD, {d}",
                lasso[d], sgd[d], lambda g: g.locality, "beats")  # fmt: skip
        for d in datas:
            add(model, "β-LASSO is more accurate", f"β-LASSO vs SGD, {d}",
                lasso[d], sgd[d], lambda g: g.test_acc, "beats")  # fmt: skip
        for optimizer in OPTIMIZERS:
            original, *permuted = datas
            for other in permuted:
                a = cell.get((model, optimizer, other))
                b = cell.get((model, optimizer, original))
                add(model, "permuting the pixels leaves the accuracy unchanged",
                    f"{optimizer}: {other} vs {original}", a, b, lambda g: g.test_acc,
                    "unchanged")  # fmt: skip
                add(model, "... and the locality, un-permuted",
                    f"{optimizer}: {other} vs {original}", a, b, lambda g: g.locality,
                    "unchanged")  # fmt: skip
    return "\n".join(lines) if len(lines) > 2 else ""


def first_layer_figure(groups: list[Group], model: str) -> Figure:
    """The first-layer unit maps a `beta_lasso` record keeps (its first units with weights, in
    pixel order: un-permuted on permuted data), of the lowest seed: a row per optimizer and data
    config, each map on its own symmetric scale."""
    cell = _first_layer_cells(groups)
    rows = [(o, d, cell[m, o, d]) for m, o, d in cell if m == model and cell[m, o, d].unit_maps]
    maps, labels = [], []
    for optimizer, data, g in rows:
        seed = min(g.unit_maps)
        units = torch.tensor(g.unit_maps[seed])
        maps.append(units)
        shown = "un-permuted" if "permuted" in data else "original"
        labels.append(f"{optimizer}\n{data}\n({shown}, seed {seed})")
    ncols = max(len(m) for m in maps)
    blank = [torch.full((ncols - len(m), *m.shape[1:]), math.nan) for m in maps]
    images = torch.cat([torch.cat([m, b]) for m, b in zip(maps, blank, strict=True)])
    return grid_figure(
        images,
        ncols,
        f"First-layer weights of {model}, in pixel order: SGD against β-LASSO, trained on "
        "original and on permuted pixels",
        row_labels=labels,
        scale="each",
        symmetric=True,
        context=f"recipe {FIRST_LAYER}: the first {ncols} units with any weight of each run",
        colorbar="weight",
    )


def report_sections(groups: list[Group], records: list[dict]) -> dict[str, str]:
    """The generated tables a page can hold, by block name: `versions`, `padding` and
    `claims padding`, `first layer` and `claims first layer`, and `matrix <recipe>`,
    `claims <recipe>` and `published <recipe>` for every recipe with a matrix."""
    sections = {
        "versions": versions_table(groups, records),
        "padding": padding_table(groups),
        "claims padding": padding_claims(groups),
        "first layer": first_layer_table(groups),
        "claims first layer": first_layer_claims(groups),
    }
    for recipe in dict.fromkeys(g.recipe for g in groups):
        if is_matrix(groups, recipe):
            sections[f"matrix {recipe}"] = matrix_table(groups, recipe)
            sections[f"claims {recipe}"] = claims_table(groups, recipe)
            sections[f"published {recipe}"] = published_table(groups, recipe)
    return {name: text for name, text in sections.items() if text}


BLOCK = re.compile(r"(<!-- report: (?P<name>[^>]*?) -->\n)(?P<body>.*?)(<!-- /report -->)", re.S)
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9]*_[A-Z0-9_]+$", re.M)  # a line like GRID_MATRIX


def fill_page(text: str, sections: dict[str, str], page: Path | str = "the page") -> str:
    """`text` with every `<!-- report: NAME -->` ... `<!-- /report -->` block holding the
    section NAME; `ReportError` for a block whose section the records do not give, an opening
    marker without its end, or a placeholder line left in the page."""

    def filled(match: re.Match) -> str:
        name = match["name"].strip()
        if name not in sections:
            raise ReportError(
                f"{page}: the block <!-- report: {name} --> names no table of this report "
                f"(it has: {', '.join(sorted(sections))}); fix the name or run the recipe"
            )
        return f"{match[1]}{sections[name]}\n{match[4]}"

    text = BLOCK.sub(filled, text)
    if text.count("<!-- report:") != text.count("<!-- /report -->"):
        raise ReportError(f"{page}: a <!-- report: ... --> block has no <!-- /report --> end")
    if found := PLACEHOLDER.search(text):
        raise ReportError(f"{page}: placeholder {found[0]!r} left in the page; use a block")
    return text


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
    parser.add_argument(
        "--fill",
        type=Path,
        action="append",
        default=[],
        help="a page whose <!-- report: ... --> blocks to fill with the tables (repeatable)",
    )
    args = parser.parse_args(argv)

    runs = find_runs(args.folders)
    records = place_records(runs)
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
    sections = report_sections(groups, records)
    table = "\n\n".join(part for part in [markdown_table(groups), *sections.values()] if part)
    print(table)
    try:
        pages = {page: fill_page(page.read_text(), sections, page) for page in args.fill}
    except (OSError, ReportError) as err:
        print(f"report.py: {err}", file=sys.stderr)
        return 1
    if args.markdown:
        write_atomically(args.markdown, table + "\n")
    for page, text in pages.items():
        if text != page.read_text():
            write_atomically(page, text)
            print(f"filled {page}")
    for path in write_figures(groups, args.out, args.format or ["png"], args.dpi):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
