"""The record of a run: its final metrics (console table, `metrics.json`), the hyperparameters
TensorBoard's HPARAMS tab shows beside them, its study record's settings and key; and the summary
of a sweep's jobs (`summary.csv`, `summary.md`)."""

from __future__ import annotations

import copy
import csv
import hashlib
import inspect
import io
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import lightning as L
import lightning.pytorch.loggers
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from rich.console import Console
from rich.table import Table
from tensorboard.plugins.hparams.api_pb2 import DataType
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from mlp_vs_cnn.data.datamodule import simplest_permutation_settings

METRICS_FILE = "metrics.json"
# In a sweep folder: the folders of its jobs, one per line, where they are not all inside it (the
# recipes of `experiment=glob(...)` each sweep into their own folder).
SWEEP_JOBS_FILE = "jobs.txt"
ERROR_FILE = "error.txt"  # a failed job's one-line error, beside its log and in the sweep's list
# Metrics shown in TensorBoard's HPARAMS tab next to each run's hyperparameters (the others, such
# as test/loss and time/fit_seconds, are in its Scalars): the table is then 9 columns, the last
# at the right edge of a 1600-pixel-wide window.
HPARAM_METRICS = ("test/acc", "val/acc_best")


class TensorBoardLogger(lightning.pytorch.loggers.TensorBoardLogger):
    """Lightning's TensorBoard logger without the `epoch` scalar Lightning adds to every logged
    dict: TensorBoard would open its Scalars tab on that card instead of loss and accuracy (the
    step axis is the optimizer step; the epoch is in the metrics' own x positions)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step)


def config_choices(cfg: DictConfig) -> dict[str, str]:
    """The option picked in each config group (model=lenet5, data=fashion_permuted, ...)."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    internal = ("hydra", "schema/")  # Hydra's own groups and the config schemas
    return {k: str(v) for k, v in choices.items() if not k.startswith(internal) and v is not None}


# What TensorBoard's HPARAMS tab lists for every run, in this order and each of one type; the
# first five are shown at once (the others are a tick away).
HPARAM_TYPES: dict[str, type] = {
    "model": str,
    "data": str,
    "seed": int,
    "lr": float,
    "num_parameters": int,
    "optimizer": str,
    "batch_size": int,
    "max_epochs": int,
    "limit_train_samples": int,
    "limit_eval_samples": int,
    "weight_decay": float,
    "scheduler": str,
    "experiment": str,
    "data.canvas_size": int,
    "data.train_placement": str,
    "data.eval_placement": str,
    "data.permutation_seed": int,
    "data.permutation_scope": str,
    "data.block_size": int,
}
HPARAMS_SHOWN = ("model", "data", "seed", "lr", "num_parameters")  # the others a tick away


def run_hparams(cfg: DictConfig, num_parameters: int) -> dict[str, Any]:
    """The values of `HPARAM_TYPES` for a run; None = not set (e.g. no canvas)."""
    choices = config_choices(cfg)
    data = cfg.data
    shifted = data.get("canvas_size") is not None
    permuted = data.get("permutation_seed") is not None
    return {
        "model": choices.get("model"),
        "data": choices.get("data"),
        "seed": cfg.seed,
        "lr": cfg.optimizer.lr,
        "num_parameters": num_parameters,
        "optimizer": cfg.optimizer._target_.rsplit(".", 1)[-1],
        "batch_size": data.batch_size,
        "max_epochs": cfg.trainer.max_epochs,
        "limit_train_samples": data.get("limit_train_samples"),
        "limit_eval_samples": data.get("limit_eval_samples"),
        "weight_decay": cfg.optimizer.get("weight_decay"),
        "scheduler": choices.get("scheduler"),
        "experiment": choices.get("experiment"),
        "data.canvas_size": data.get("canvas_size"),
        "data.train_placement": data.get("train_placement") if shifted else None,
        "data.eval_placement": data.get("eval_placement") if shifted else None,
        "data.permutation_seed": data.get("permutation_seed"),
        "data.permutation_scope": data.get("permutation_scope") if permuted else None,
        "data.block_size": data.get("block_size"),
    }


def log_hparams(writer: SummaryWriter, hparams: Mapping[str, Any]) -> None:
    """Declare a run's hyperparameters and the metrics HPARAMS shows beside them.

    Lightning's `log_hyperparams(params, metrics)` declares metrics by writing a placeholder
    scalar of each at step 0; this writes the declaration alone, and the metrics' own scalars
    fill the table as the run logs them. TensorBoard takes the list of columns from the first
    run it reads, so every run declares the same one, `HPARAM_TYPES` (unset values left out),
    with `HPARAMS_SHOWN` marked as the ones that differ: those are shown without a tick.
    The declaration is edited as a protobuf message because TensorBoard's public summary API
    (`summary_v2.hparams_config_pb`) can neither mark `differs` nor type a string without listing
    all its values.
    """
    # TensorBoard has no integer type: a number is shown as a float (42.000, 4.3108e+05), so an
    # integer goes in as its digits, a string.
    values = {
        k: str(v) if HPARAM_TYPES[k] is int else v for k, v in hparams.items() if v is not None
    }
    experiment, start, end = hparams_summaries(values, dict.fromkeys(HPARAM_METRICS, 0.0))
    metadata = experiment.value[0].metadata.plugin_data
    content = HParamsPluginData.FromString(metadata.content)
    del content.experiment.hparam_infos[:]
    for name, kind in HPARAM_TYPES.items():
        data_type = "DATA_TYPE_FLOAT64" if kind is float else "DATA_TYPE_STRING"
        content.experiment.hparam_infos.add(
            name=name, type=DataType.Value(data_type), differs=name in HPARAMS_SHOWN
        )
    metadata.content = content.SerializeToString()
    for summary in (experiment, start, end):
        writer.file_writer.add_summary(summary)


# What a run's result depends on (its resolved config, less where and on what it ran): two runs
# with the same settings are the same run of a study, whatever their folders or machines.
SETTING_GROUPS = ("model", "data", "optimizer", "scheduler", "trainer", "seed", "test")
EXECUTION_KEYS = {
    "data": ("data_dir", "download"),
    "trainer": ("default_root_dir", "accelerator", "devices", "strategy", "num_nodes",
                "enable_model_summary", "enable_progress_bar", "use_distributed_sampler",
                "log_every_n_steps", "plugins"),
    "shift_robustness": ("batch_size",),
}  # fmt: skip


def run_settings(cfg: DictConfig) -> dict[str, Any]:
    """The resolved settings that decide a run's result (`SETTING_GROUPS`, and the options of
    the shift analysis and of early stopping when they run), without paths and execution
    details, in their simplest form (`simplest_settings`)."""
    cfg = copy.deepcopy(cfg)
    with read_write(cfg), open_dict(cfg):
        cfg.paths.output_dir = ""  # resolvable without Hydra's runtime, and left out below
    settings = {}
    for key in SETTING_GROUPS:
        value = cfg.get(key)
        container = isinstance(value, DictConfig)
        settings[key] = OmegaConf.to_container(value, resolve=True) if container else value
    shift = OmegaConf.select(cfg, "callbacks.shift_robustness.measure")
    if shift is not None:
        settings["shift_robustness"] = OmegaConf.to_container(shift, resolve=True)
    stopping = OmegaConf.select(cfg, "callbacks.early_stopping")
    if stopping is not None:  # when a run stops decides its result
        settings["early_stopping"] = OmegaConf.to_container(stopping, resolve=True)
    for group, keys in EXECUTION_KEYS.items():
        for key in keys:
            (settings.get(group) or {}).pop(key, None)
    return simplest_settings(settings)


def simplest_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` in their simplest equivalent form: the data's pixel permutation as simple as
    it goes (`simplest_permutation_settings`: a block permutation that moves nothing is none),
    and every argument equal to its default left out. Two configs that train alike read alike."""
    if isinstance(settings.get("data"), dict):
        settings = {**settings, "data": simplest_permutation_settings(settings["data"])}
    return without_defaults(settings)


def without_defaults(node: Any) -> Any:
    """`node` without the arguments of each `_target_` that equal its signature's defaults, so
    that a config listing a default and one leaving it out describe the same run."""
    if isinstance(node, list):
        return [without_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: without_defaults(value) for key, value in node.items()}
    try:
        parameters = inspect.signature(get_object(node["_target_"])).parameters
    except (KeyError, ImportError, ValueError, TypeError):
        return node
    return {
        key: value
        for key, value in node.items()
        if key not in parameters or parameters[key].default is inspect.Parameter.empty
        or not _same(parameters[key].default, value)
    }  # fmt: skip


def _same(default: Any, value: Any) -> bool:
    try:
        return bool(default == value) and type(default) is not object
    except Exception:  # an argument whose default cannot be compared (a tensor)
        return False


def settings_key(settings: Mapping[str, Any]) -> str:
    """A short digest of `run_settings`: the identity of a run in a study's records."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def code_version() -> str:
    """The git commit of this checkout (with `-dirty` if it has changes), or "unknown"."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=root,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def study_record_path(
    results_dir: str | Path, record: Mapping[str, Any], block_size: int | None = None
) -> Path:
    """`<results_dir>/<task>/<model>_<data>[_k<block>]_s<seed>-<key>.json`, k the block size of
    the run's config (`block_size`; its settings drop it where the blocks are no permutation or
    the whole image's)."""
    choices, settings = record["choices"], record["settings"]
    block = block_size if block_size is not None else settings["data"].get("block_size")
    name = "_".join(
        [choices.get("model", "?"), choices.get("data", "?")]
        + ([f"k{block}"] if block is not None else [])
        + [f"s{record['seed']}"]
    )
    return Path(results_dir) / record["task"] / f"{name}-{record['key']}.json"


def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as plain values, without Hydra's own section."""
    return OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True
    )


def final_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The scalar metrics the trainer holds after fitting or testing."""
    metrics = trainer.callback_metrics
    return {k: float(v) for k, v in sorted(metrics.items()) if v.numel() == 1}


def print_metrics_table(title: str, metrics: Mapping[str, float]) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():  # fractions, as the progress bar and TensorBoard show
        table.add_row(name, f"{value:.4f}")
    Console().print(table)


def write_atomically(path: str | Path, content: str | Callable[[BinaryIO], Any]) -> Path:
    """Write `content` (text, or a function that writes bytes into an open file) to `path` so
    that a reader sees the old file or the new one, never a part.

    The temporary file lives in the same folder (a rename across filesystems is a copy), is
    flushed to disk, then renamed over `path`; a failed write removes it, and one left by a
    killed process is removed by the next write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    for stale in path.parent.glob(f"{prefix}*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a file of a run is as readable as any other
        # file its user writes (the umask decides: e.g. a group sharing a cluster folder).
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask sets it: put it back at once
    os.umask(mask)
    return mask


def write_json(path: str | Path, record: Mapping[str, Any]) -> Path:
    return write_atomically(path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")


def write_metrics(output_dir: str | Path, record: Mapping[str, Any]) -> Path:
    return write_json(Path(output_dir) / METRICS_FILE, record)


# --- A sweep's summary ---------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "job", "model", "data", "seed", "test/acc", "val/acc_best", "num_parameters", "fit_seconds",
)  # fmt: skip


def job_order(job_dir: Path) -> tuple[str, int, str]:
    number = re.match(r"\d+", job_dir.name)
    return str(job_dir.parent), int(number.group()) if number else -1, job_dir.name


def job_summary(job_dir: Path, hydra_subdir: str | None, common: set[str]) -> dict[str, Any]:
    """One row of a sweep's summary: a job's choices and final metrics, or its error. The job is
    named by its number and the overrides of its own (those of every job, `common`, left out)."""
    overrides_file = job_dir / str(hydra_subdir) / "overrides.yaml"
    given = OmegaConf.load(overrides_file) if hydra_subdir and overrides_file.is_file() else []
    common = {o.lower() for o in common}  # Hydra records `false` as `False` in a job's overrides
    own = [o for o in given if o.lower() not in common]
    number = re.match(r"\d*", job_dir.name).group() or job_dir.name
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, "") | {"error": ""}
    if (job_dir / ERROR_FILE).is_file():
        error = (job_dir / ERROR_FILE).read_text().strip()
        return row | {"job": " ".join([number, *own]), "error": error}
    if not (job_dir / METRICS_FILE).is_file():
        error = f"no {METRICS_FILE} (the job did not finish)"
        return row | {"job": " ".join([number, *own]), "error": error}
    shown = ("model", "data", "seed")  # a finished job's columns of their own
    row["job"] = " ".join([number, *(o for o in own if o.split("=")[0].lstrip("+~") not in shown)])
    record = json.loads((job_dir / METRICS_FILE).read_text())
    choices, metrics = record.get("choices", {}), record.get("metrics", {})
    row.update({k: choices[k] for k in ("model", "data") if k in choices})
    row.update({k: record[k] for k in ("seed", "num_parameters", "fit_seconds") if k in record})
    row.update({k: metrics[k] for k in ("test/acc", "val/acc_best") if k in metrics})
    return row


def _shown(column: str, value: Any) -> str:
    if isinstance(value, float) and "acc" in column:
        return f"{value:.4f}"  # a fraction, as the run's own table and TensorBoard show it
    if isinstance(value, float):
        return f"{value:.1f}"
    return f"{value:,}" if isinstance(value, int) and column == "num_parameters" else str(value)


def print_summary(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{title}: {len(rows)} finished")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="left" if column in ("job", "model", "data") else "right")
    for row in rows:
        table.add_row(*(_shown(c, row[c]) for c in SUMMARY_COLUMNS))
    console = Console()
    console.width = max(console.width, 120)  # a log file is no 80-column terminal
    console.print(table)


def write_summary(sweep_dir: Path, rows: Iterable[dict[str, Any]]) -> None:
    """`summary.csv` (the values as recorded) and `summary.md` (as printed) of a sweep's jobs."""
    rows = list(rows)
    columns = (*SUMMARY_COLUMNS, "error")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    # Metrics are float32 values: 0.8891000151634216 is 0.8891 with its noise, which the CSV drops.
    writer.writerows(
        {k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()} for r in rows
    )
    write_atomically(sweep_dir / "summary.csv", text.getvalue())
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = (_shown(c, row[c]).replace("|", "\\|") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    write_atomically(sweep_dir / "summary.md", "\n".join(lines) + "\n")
