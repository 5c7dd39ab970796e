"""What `train.py`, `eval.py` and `scripts/visualize.py` do, as functions of a composed Hydra config
(tests call them too)."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table
from torch.utils.tensorboard import SummaryWriter

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.models.classifier import (
    CheckpointError,
    ImageClassifier,
    load_classifier,
    read_checkpoint,
)
from mlp_vs_cnn.visualize import FigureWriter

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
# Metrics shown in TensorBoard's HPARAMS tab next to each run's hyperparameters.
HPARAM_METRICS = ("val/acc_best", "test/acc", "test/loss")


def _instantiate_dict(section: DictConfig | None) -> list[Any]:
    """Build every entry of a config section of `_target_` mappings (callbacks, loggers)."""
    if not section:
        return []
    return [instantiate(c, _convert_="all") for c in section.values() if c and "_target_" in c]


def config_choices(cfg: DictConfig) -> dict[str, str]:
    """The option picked in each config group (model=lenet5, data=fashion_permuted, ...)."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {k: str(v) for k, v in choices.items() if not k.startswith("hydra") and v is not None}


def run_hparams(cfg: DictConfig, model: ImageClassifier) -> dict[str, Any]:
    """Flat hyperparameters of a run for TensorBoard: config choices and the values that matter."""
    hparams: dict[str, Any] = dict(config_choices(cfg))
    hparams.update(
        seed=cfg.seed,
        num_parameters=model.num_parameters,
        batch_size=cfg.data.batch_size,
        max_epochs=cfg.trainer.max_epochs,
        lr=cfg.optimizer.lr,
        optimizer=cfg.optimizer._target_.rsplit(".", 1)[-1],
    )
    for key in ("canvas_size", "permutation_seed", "train_placement", "eval_placement"):
        value = cfg.data.get(key)
        hparams[f"data.{key}"] = "none" if value is None else value
    return hparams


def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as plain values, without Hydra's own section."""
    return OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True
    )


def _final_metrics(trainer: L.Trainer) -> dict[str, float]:
    # `step` is the loggers' x axis (see ImageClassifier), not a result.
    metrics = trainer.callback_metrics
    return {k: float(v) for k, v in sorted(metrics.items()) if v.numel() == 1 and k != "step"}


def print_metrics_table(title: str, metrics: Mapping[str, float]) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        shown = (
            f"{value:.2%}" if name.endswith("acc") or name.endswith("acc_best") else f"{value:.4f}"
        )
        table.add_row(name, shown)
    Console().print(table)


def write_metrics(output_dir: str | Path, record: Mapping[str, Any]) -> Path:
    path = Path(output_dir) / METRICS_FILE
    path.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return path


def check_strategy_fits_sweep(trainer: L.Trainer) -> None:
    """Refuse `strategy=ddp` in a local sweep: its extra processes would each rerun the sweep."""
    launcher = trainer.strategy.launcher
    in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if in_sweep and isinstance(launcher, _SubprocessScriptLauncher):
        raise ValueError(
            "strategy=ddp starts each extra process by rerunning the command line, which under -m "
            "reruns the whole sweep. In a sweep use trainer.strategy=ddp_spawn, or "
            "hydra/launcher=slurm (SLURM starts one task per device), or one run per command."
        )


def build(cfg: DictConfig) -> tuple[ImageDataModule, ImageClassifier, L.Trainer, list[Logger]]:
    """The data module, classifier, trainer and loggers of a run (the benchmark uses it too)."""
    datamodule: ImageDataModule = instantiate(cfg.data, _convert_="all")
    if cfg.trainer.get("accumulate_grad_batches", 1) != 1:
        raise ValueError(
            "trainer.accumulate_grad_batches is not supported: the classifier steps the optimizer "
            "itself, once per data.batch_size images. Raise data.batch_size instead."
        )
    model = ImageClassifier(
        net=cfg.model,
        num_classes=cfg.data.num_classes,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        batch_size=cfg.data.batch_size,
        # Lightning clips only under automatic optimisation; the classifier does it itself.
        gradient_clip_val=cfg.trainer.get("gradient_clip_val"),
        gradient_clip_algorithm=cfg.trainer.get("gradient_clip_algorithm") or "norm",
    )
    if cfg.get("compile"):
        model.net.compile()  # in place: checkpoints keep the same parameter names
    loggers: list[Logger] = _instantiate_dict(cfg.get("logger"))
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=_instantiate_dict(cfg.get("callbacks")),
        logger=loggers or False,
        gradient_clip_val=None,
        gradient_clip_algorithm=None,
    )
    check_strategy_fits_sweep(trainer)
    return datamodule, model, trainer, loggers


def train(cfg: DictConfig) -> dict[str, Any]:
    """Seed, build, fit, test the best checkpoint; write and return the run's final metrics."""
    if cfg.get("seed") is None:
        # A random run draws its seed and records it, so that it can be repeated.
        cfg.seed = random.SystemRandom().randrange(2**31)
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("num_threads"):
        torch.set_num_threads(cfg.num_threads)
    log.info("torch uses %d CPU threads", torch.get_num_threads())
    output_dir = Path(cfg.paths.output_dir)
    datamodule, model, trainer, loggers = build(cfg)
    hparams = run_hparams(cfg, model)
    log.info("%s: %s parameters", cfg.model._target_, f"{model.num_parameters:,}")
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            # Declaring the metrics here puts them beside the hyperparameters in HPARAMS.
            logger.log_hyperparams(hparams, metrics={m: math.nan for m in HPARAM_METRICS})
        else:
            logger.log_hyperparams(hparams)

    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    fit_seconds = time.perf_counter() - started
    metrics = _final_metrics(trainer)

    checkpoint_callback = trainer.checkpoint_callback
    best_ckpt = checkpoint_callback.best_model_path if checkpoint_callback else ""
    if cfg.get("test"):
        if not best_ckpt and not trainer.fast_dev_run:
            log.warning("No best checkpoint was saved; testing the weights of the last epoch.")
        trainer.test(model, datamodule=datamodule, ckpt_path=best_ckpt or None, weights_only=True)
        metrics.update(_final_metrics(trainer))

    if trainer.is_global_zero:
        print_metrics_table(f"{hparams.get('model', '')} on {hparams.get('data', '')}", metrics)
        record = {
            "choices": config_choices(cfg),
            "seed": cfg.seed,
            "num_parameters": model.num_parameters,
            "fit_seconds": round(fit_seconds, 3),
            "epochs": trainer.current_epoch,
            "best_checkpoint": best_ckpt,
            "metrics": metrics,
            "config": run_config(cfg),
        }
        for callback in trainer.callbacks:  # analyses run after testing (e.g. shift robustness)
            record.update(getattr(callback, "run_record", {}))
        log.info("Metrics written to %s", write_metrics(output_dir, record))
    return metrics


def _datamodule_for(cfg: DictConfig, checkpoint: Mapping[str, Any]) -> ImageDataModule:
    """The data config asked for, or else the one the checkpoint was trained on."""
    if cfg.get("data"):
        return instantiate(cfg.data, _convert_="all")
    saved = checkpoint.get("datamodule_hyper_parameters")
    if not saved:
        raise CheckpointError("The checkpoint does not record its data config: pass data=<config>.")
    saved = dict(saved)
    saved["data_dir"] = cfg.paths.data_dir  # where the data is on this machine
    return ImageDataModule(**saved)


def check_compatible(checkpoint: Mapping[str, Any], datamodule: ImageDataModule, ckpt_path) -> None:
    """Refuse to evaluate a checkpoint on data of another dataset or image size."""
    net = checkpoint["hyper_parameters"]["net"]
    trained = checkpoint.get("datamodule_hyper_parameters") or {}
    trained_size = net.get("image_size")
    if trained_size != datamodule.image_size:
        raise CheckpointError(
            f"{ckpt_path} holds a network for {trained_size}x{trained_size} images but this data "
            f"config gives {datamodule.image_size}x{datamodule.image_size}. Pick a data config of "
            f"the same size (for a 56x56 model trained on centred images, e.g. "
            f"data=mnist_shifted data.train_placement=center)."
        )
    trained_dataset = trained.get("dataset")
    if trained_dataset and trained_dataset != datamodule.dataset:
        raise CheckpointError(
            f"{ckpt_path} was trained on {trained_dataset}, not {datamodule.dataset}: its classes "
            f"mean something else. Evaluate it on a {trained_dataset} data config."
        )


def load_for_evaluation(cfg: DictConfig) -> tuple[ImageClassifier, ImageDataModule]:
    """The classifier of `cfg.ckpt_path` and its data module, with the permutation it was
    trained with restored (`eval.py`, `scripts/visualize.py`)."""
    checkpoint = read_checkpoint(cfg.ckpt_path)
    datamodule = _datamodule_for(cfg, checkpoint)
    check_compatible(checkpoint, datamodule, cfg.ckpt_path)
    model = load_classifier(checkpoint)
    datamodule.load_state_dict(checkpoint.get(type(datamodule).__qualname__, {}))
    return model, datamodule


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint on a data config; the permutation it was trained with is restored."""
    model, datamodule = load_for_evaluation(cfg)
    loggers = _instantiate_dict(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False)
    trainer.test(model, datamodule=datamodule)
    metrics = _final_metrics(trainer)
    if trainer.is_global_zero:
        print_metrics_table(f"{Path(cfg.ckpt_path).name} on {datamodule.dataset}", metrics)
        record = {
            "checkpoint": str(cfg.ckpt_path),
            "choices": config_choices(cfg),
            "metrics": metrics,
        }
        write_metrics(cfg.paths.output_dir, record)
    return metrics


def visualize(cfg: DictConfig) -> list[Path]:
    """Draw the figures of the callbacks in `cfg.callbacks` (those named in `cfg.what`, or all)
    for a checkpoint, to TensorBoard in `<output_dir>/tensorboard` and PNG; return the PNGs."""
    model, datamodule = load_for_evaluation(cfg)
    unknown = set(cfg.get("what") or ()) - set(cfg.callbacks)
    if unknown:
        raise ValueError(f"what={sorted(unknown)}: not among the callbacks {sorted(cfg.callbacks)}")
    tensorboard = SummaryWriter(Path(cfg.paths.output_dir) / "tensorboard")
    paths = []
    for name, callback_cfg in cfg.callbacks.items():
        if callback_cfg is None or (cfg.get("what") and name not in cfg.what):
            continue
        callback = instantiate(callback_cfg, _convert_="all")
        written = FigureWriter(callback.figure_dir, [tensorboard]).write(
            callback.figures(model, datamodule)
        )
        log.info("%s: %s", name, ", ".join(map(str, written)))
        paths += written
    tensorboard.close()
    return paths


def metric_for_sweeper(metrics: Mapping[str, float], name: str | None) -> float | None:
    if not name:
        return None
    if name not in metrics:
        raise KeyError(f"optimized_metric={name!r} was not logged; logged: {sorted(metrics)}")
    return metrics[name]
