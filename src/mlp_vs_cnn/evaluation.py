"""What `eval.py` and `scripts/visualize.py` do with a checkpoint, as functions of a composed
Hydra config: rebuild its classifier and data module, test it, draw its figures."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter

from mlp_vs_cnn.checkpoints import (
    CheckpointError,
    check_data,
    data_state,
    load_classifier,
    read_checkpoint,
)
from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.models import ImageClassifier
from mlp_vs_cnn.record import config_choices, final_metrics, print_metrics_table, write_metrics
from mlp_vs_cnn.training import instantiate_all, prepared, quiet_known_noise
from mlp_vs_cnn.visualize import FigureWriter

log = logging.getLogger(__name__)


def _datamodule_for(cfg: DictConfig, checkpoint: Mapping[str, Any]) -> ImageDataModule:
    """The data config asked for, or else the one the checkpoint was trained on."""
    if cfg.get("data"):
        datamodule, _ = prepared(cfg)  # built by the run's check
        return datamodule
    saved = checkpoint.get("datamodule_hyper_parameters")
    if not saved:
        raise CheckpointError("The checkpoint does not record its data config: pass data=<config>.")
    saved = dict(saved)
    saved["data_dir"] = cfg.paths.data_dir  # where the data is on this machine
    return ImageDataModule(**saved)


# The data settings a test result depends on, recorded with it.
TESTED_DATA_KEYS = ("dataset", "normalize", "mean", "std", "canvas_size", "eval_placement",
                    "eval_seed", "permutation_seed", "permutation_scope", "block_size",
                    "limit_eval_samples", "pixel_transform")  # fmt: skip
PERMUTATION_KEYS = ("permutation_seed", "permutation_scope", "block_size")


def load_for_evaluation(cfg: DictConfig) -> tuple[ImageClassifier, ImageDataModule, dict]:
    """The classifier of `cfg.ckpt_path`, its data module with the permutation it was trained
    with restored (`eval.py`, `scripts/visualize.py`), and the data settings it is tested on."""
    checkpoint = read_checkpoint(cfg.ckpt_path)
    datamodule = _datamodule_for(cfg, checkpoint)
    check_data(checkpoint, datamodule, cfg.ckpt_path)
    model = load_classifier(checkpoint, cfg.ckpt_path)
    datamodule.load_state_dict(data_state(checkpoint))
    tested = {key: datamodule.hparams.get(key) for key in TESTED_DATA_KEYS}
    if datamodule.permutation is not None:  # the checkpoint's own permutation is the one used
        saved = checkpoint.get("datamodule_hyper_parameters") or {}
        tested.update({key: saved[key] for key in PERMUTATION_KEYS if key in saved})
    return model, datamodule, tested


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint on a data config; the permutation it was trained with is restored."""
    quiet_known_noise()
    model, datamodule, tested = load_for_evaluation(cfg)
    asked = {key: datamodule.hparams.get(key) for key in PERMUTATION_KEYS}
    differ = [f"data.{k}={tested[k]} (asked: {asked[k]})" for k in asked if tested[k] != asked[k]]
    if differ:
        log.warning("Tested with the checkpoint's own pixel permutation: %s", ", ".join(differ))
    loggers = instantiate_all(cfg.get("logger"), "logger")
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False)
    trainer.test(model, datamodule=datamodule, verbose=False)  # our table follows
    metrics = final_metrics(trainer)
    if trainer.is_global_zero:
        print_metrics_table(f"{Path(cfg.ckpt_path).name} on {datamodule.dataset}", metrics)
        record = {
            "checkpoint": str(cfg.ckpt_path),
            "choices": config_choices(cfg),
            "data": tested,  # what the network was tested on, which the choices may not say
            "metrics": metrics,
        }
        log.info("Metrics written to %s", write_metrics(cfg.paths.output_dir, record))
    return metrics


def visualize(cfg: DictConfig) -> list[Path]:
    """Draw the figures of the callbacks in `cfg.callbacks` (those named in `cfg.what`, or all)
    for a checkpoint, to TensorBoard in `<output_dir>/tensorboard` and PNG; return the PNGs."""
    model, datamodule, _ = load_for_evaluation(cfg)
    tensorboard = SummaryWriter(Path(cfg.paths.output_dir) / "tensorboard")
    paths = []
    for name, callback_cfg in cfg.callbacks.items():
        if callback_cfg is None or (cfg.get("what") and name not in cfg.what):
            continue
        callback = instantiate(callback_cfg, _convert_="all")
        writer = FigureWriter(callback.figure_dir, [tensorboard], formats=callback.formats)
        written = writer.write(callback.draw(model, datamodule))
        log.info("%s: %s", name, ", ".join(map(str, written)))
        paths += written
    tensorboard.close()
    return paths
