"""One LightningModule for every network: cross-entropy, accuracy per stage, optimiser from config.

The network arrives as its config (a mapping with `_target_`), which the module builds and keeps
in its hyperparameters. A checkpoint thus says which network it holds, and
`load_classifier(path)` rebuilds it without the Hydra config of the run, loading only tensors and
plain values (never arbitrary pickled objects).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

ALLOWED_NET_PREFIX = "mlp_vs_cnn.models."
PLATEAU_MONITOR = "val/acc"  # what ReduceLROnPlateau watches (conf/scheduler/plateau.yaml: max)


class ImageClassifier(L.LightningModule):
    """Train and evaluate an image classifier.

    Training steps the optimiser itself (Lightning's manual optimisation): each training batch is
    split into optimiser steps of `batch_size` images, so that the data module can hand over
    several steps' images at once and Lightning's per-batch machinery (hooks, progress bar,
    logging) runs once for all of them. The steps, their order and their result are those of
    one batch per step. Epoch-interval LR schedulers are stepped at the end of each epoch
    (`ReduceLROnPlateau` on `val/acc`), as Lightning would.

    Args:
        net: config of the network (`_target_` and its arguments), e.g. a `conf/model/` entry.
        num_classes: number of classes.
        optimizer: optimiser factory taking `params` (a `_partial_: true` config); None to
            evaluate only.
        scheduler: LR scheduler factory taking `optimizer`, or None for a constant rate.
        batch_size: images per optimiser step; None = one step per training batch.
        gradient_clip_val: clip the gradients before each step to this norm or value (None or
            0 = no clipping); `trainer.gradient_clip_val` in the configs.
        gradient_clip_algorithm: "norm" or "value".
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        num_classes: int = 10,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        batch_size: int | None = None,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
    ) -> None:
        super().__init__()
        if gradient_clip_algorithm not in ("norm", "value"):
            raise ValueError(
                f"trainer.gradient_clip_algorithm must be 'norm' or 'value', got "
                f"{gradient_clip_algorithm!r}"
            )
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}")
        self.automatic_optimization = False
        self.step_batch_size = batch_size
        if isinstance(net, DictConfig):
            net = OmegaConf.to_container(net, resolve=True)
        # Only plain values go into the checkpoint's hyperparameters.
        self.save_hyperparameters({"net": dict(net), "num_classes": num_classes})
        self.net: nn.Module = instantiate(net)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        optimizer = self.optimizers()
        size = self.step_batch_size or len(y)
        max_steps = self.trainer.max_steps
        logits = []
        for i, (xs, ys) in enumerate(zip(x.split(size), y.split(size), strict=True)):
            if 0 <= max_steps <= self.global_step:
                break  # max_steps counts optimiser steps, which may end inside a batch
            step_logits = self.net(xs)
            loss = F.cross_entropy(step_logits, ys)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"The training loss is {loss.item()} at epoch {self.current_epoch}, step "
                    f"{self.global_step} (batch {batch_idx}, part {i}): training diverged, so the "
                    f"run stops here. Lower optimizer.lr, or check the inputs (data.mean, "
                    f"data.std)."
                )
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            if self.gradient_clip_val:
                self.clip_gradients(optimizer, self.gradient_clip_val, self.gradient_clip_algorithm)
            optimizer.step()
            logits.append(step_logits.detach())
        if not logits:
            return
        # update(), not forward(): the epoch's accuracy only, without a per-batch one nobody reads.
        self.train_acc.update(torch.cat(logits), y[: sum(len(t) for t in logits)])
        if self._step_is_logged():
            self.log("train/loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
            self._log_x_axis(on_step=True)

    def _log_x_axis(self, on_step: bool = False) -> None:
        """Put the optimiser step on the loggers' x axis (Lightning's default counts batches).

        Lightning writes a logged metric named `step` as the step of the values logged with it.
        """
        if not self.trainer.sanity_checking:
            value = float(self.global_step)
            self.log("step", value, on_step=on_step, on_epoch=not on_step, reduce_fx="max")

    def _step_is_logged(self) -> bool:
        """Whether the loggers write this step (every `log_every_n_steps`) or it ends the epoch.

        `self.log` costs about as much as the forward pass of a small MLP, so step values are
        logged only when they reach a logger; the last batch keeps `train/loss` in the final
        metrics that of the last step, as before. The progress bar's loss refreshes as often.
        """
        trainer = self.trainer
        return (
            trainer._logger_connector.should_update_logs  # as Lightning's own LearningRateMonitor
            or trainer.is_last_batch
            or bool(trainer.fast_dev_run)
        )

    def on_train_epoch_end(self) -> None:
        # Logged once per epoch, not as a metric object in every step: logging a metric object
        # costs Lightning more than a whole step of a small MLP (see scripts/benchmark.py).
        self.log("train/acc", self.train_acc.compute(), prog_bar=True)
        self.train_acc.reset()
        self._log_x_axis()
        self._step_schedulers()

    def _step_schedulers(self) -> None:
        """Step the epoch-interval LR schedulers, as Lightning does under automatic optimisation."""
        for config in self.trainer.lr_scheduler_configs:
            if isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                monitored = self.trainer.callback_metrics.get(PLATEAU_MONITOR)
                if monitored is None:  # no validation yet (check_val_every_n_epoch > 1)
                    continue
                config.scheduler.step(monitored)
            else:
                config.scheduler.step()

    def _evaluate(self, batch, loss_metric: MeanMetric, acc_metric: MulticlassAccuracy, stage: str):
        x, y = batch
        logits = self.net(x)
        loss_metric(F.cross_entropy(logits, y), weight=len(y))
        acc_metric(logits, y)
        show_loss = stage == "val"
        self.log(f"{stage}/loss", loss_metric, on_step=False, on_epoch=True, prog_bar=show_loss)
        self.log(f"{stage}/acc", acc_metric, on_step=False, on_epoch=True, prog_bar=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_loss, self.val_acc, "val")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # sanity-check validation is not an epoch of training
            return
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)
        self._log_x_axis()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The best validation accuracy so far must survive a resume.
        checkpoint["val_acc_best"] = self.val_acc_best.max_value.detach().cpu()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to resume a checkpoint of another network; restore the best accuracy so far."""
        saved, ours = checkpoint.get("hyper_parameters", {}), self.hparams
        if saved.get("net") != ours.net or saved.get("num_classes") != ours.num_classes:
            raise CheckpointError(
                f"The checkpoint holds another network than this run builds: it has "
                f"{_describe(saved.get('net'))} with {saved.get('num_classes')} classes, this "
                f"run {_describe(ours.net)} with {ours.num_classes} classes. Resume with the "
                f"model and data configs it was trained with, or drop ckpt_path to start afresh."
            )
        if "val_acc_best" in checkpoint:
            self.val_acc_best.update(checkpoint["val_acc_best"])

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_loss, self.test_acc, "test")

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise RuntimeError(
                "ImageClassifier was built without an optimizer; it can only evaluate."
            )
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        # Stepped by _step_schedulers at the end of each epoch (manual optimisation).
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer=optimizer)}


def _describe(net: Mapping[str, Any] | None) -> str:
    if not net:
        return "no network config"
    name = str(net.get("_target_", "?")).rsplit(".", 1)[-1]
    args = ", ".join(f"{k}={v}" for k, v in net.items() if k != "_target_")
    return f"{name}({args})"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's tensors and plain values only (`weights_only`: no pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated file or a pickle with objects other than tensors
        raise CheckpointError(
            f"{path} cannot be loaded safely as a checkpoint of this project ({err})."
        ) from err
    net = checkpoint.get("hyper_parameters", {}).get("net")
    if not isinstance(net, dict) or not str(net.get("_target_", "")).startswith(ALLOWED_NET_PREFIX):
        raise CheckpointError(
            f"{path} is not a checkpoint of this project: it names no network under "
            f"{ALLOWED_NET_PREFIX}."
        )
    return checkpoint


def load_classifier(checkpoint: dict[str, Any]) -> ImageClassifier:
    """Rebuild the classifier a checkpoint (from `read_checkpoint`) holds, weights included."""
    hparams = checkpoint["hyper_parameters"]
    model = ImageClassifier(net=hparams["net"], num_classes=hparams["num_classes"])
    model.load_state_dict(checkpoint["state_dict"])
    return model
