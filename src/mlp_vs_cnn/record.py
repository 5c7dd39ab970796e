"""The record of a run: its final metrics (console table, `metrics.json`) and the hyperparameters
TensorBoard's HPARAMS tab shows beside them."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

METRICS_FILE = "metrics.json"
# Metrics shown in TensorBoard's HPARAMS tab next to each run's hyperparameters.
HPARAM_METRICS = ("val/acc_best", "test/acc", "test/loss")


def config_choices(cfg: DictConfig) -> dict[str, str]:
    """The option picked in each config group (model=lenet5, data=fashion_permuted, ...)."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {k: str(v) for k, v in choices.items() if not k.startswith("hydra") and v is not None}


def run_hparams(cfg: DictConfig, num_parameters: int) -> dict[str, Any]:
    """Flat hyperparameters of a run for TensorBoard: config choices and the values that matter."""
    hparams: dict[str, Any] = dict(config_choices(cfg))
    hparams.update(
        seed=cfg.seed,
        num_parameters=num_parameters,
        batch_size=cfg.data.batch_size,
        max_epochs=cfg.trainer.max_epochs,
        lr=cfg.optimizer.lr,
        optimizer=cfg.optimizer._target_.rsplit(".", 1)[-1],
    )
    data_keys = (
        "canvas_size",
        "train_placement",
        "eval_placement",
        "permutation_seed",
        "permutation_scope",
        "block_size",
    )
    for key in data_keys:
        value = cfg.data.get(key)
        hparams[f"data.{key}"] = "none" if value is None else value
    return hparams


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
    for name, value in metrics.items():
        shown = f"{value:.2%}" if name.endswith(("acc", "acc_best")) else f"{value:.4f}"
        table.add_row(name, shown)
    Console().print(table)


def write_atomically(path: str | Path, text: str) -> Path:
    """Write `text` to `path` so that a reader sees the old file or the new one, never a part.

    The temporary file lives in the same folder (a rename across filesystems is a copy).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_metrics(output_dir: str | Path, record: Mapping[str, Any]) -> Path:
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    return write_atomically(Path(output_dir) / METRICS_FILE, text)
