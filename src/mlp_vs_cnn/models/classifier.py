"""One LightningModule for every network: cross-entropy, accuracy per stage, optimiser from config.

The network arrives as its config (a mapping with `_target_`), which the module builds and keeps
in its hyperparameters, so a checkpoint says which network it holds (`mlp_vs_cnn.checkpoints`
rebuilds it from that). Training is Lightning's automatic optimisation: `training_step` returns the
loss and the Trainer steps, clips, accumulates, schedules and counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy


class ImageClassifier(L.LightningModule):
    """Train and evaluate an image classifier.

    Args:
        net: config of the network (`_target_` and its arguments), e.g. a `conf/model/` entry.
        num_classes: number of classes.
        optimizer: optimiser factory taking `params` (a `_partial_: true` config); None to
            evaluate only.
        lr_scheduler: Lightning's scheduler mapping (`interval`, `frequency`, `monitor`, ...)
            whose `scheduler` is a factory taking `optimizer`; None for a constant rate.
        channels_last: keep conv weights and inputs in the channels-last memory format
            (faster for conv nets on CPU, see scripts/benchmark.py); the same weights either way.
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        num_classes: int = 10,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        lr_scheduler: Mapping[str, Any] | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(net, DictConfig):
            net = OmegaConf.to_container(net, resolve=True)
        # Only plain values go into the checkpoint's hyperparameters.
        self.save_hyperparameters({"net": dict(net), "num_classes": num_classes})
        self.net: nn.Module = instantiate(net)
        # One blank input image: the model summary then shows each layer's sizes and FLOPs.
        size = net.get("image_size", 28)
        self.example_input_array = torch.zeros(1, net.get("in_channels", 1), size, size)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        self.optimizer_factory = optimizer
        self.lr_scheduler = dict(lr_scheduler) if lr_scheduler else None

        # Metrics are updated in the steps and logged once per epoch: a `self.log` call costs
        # Lightning more than a whole step of a small MLP on a CPU (scripts/benchmark.py). Labels
        # and logits come from this module, so torchmetrics' input checks are skipped.
        def accuracy() -> MulticlassAccuracy:
            return MulticlassAccuracy(num_classes, average="micro", validate_args=False)

        self.train_acc, self.val_acc, self.test_acc = accuracy(), accuracy(), accuracy()
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=self.memory_format))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc.update(logits.detach(), y)
        self.train_loss.update(loss.detach())
        # Logged at the steps the loggers write (every trainer.log_every_n_steps), and checked
        # there: reading the loss forces a host sync, a stall on a GPU. A non-finite loss makes
        # the weights non-finite, so the next check still catches a diverged run; on a CPU the
        # check is free and runs every step.
        logged_step = (self.global_step + 1) % self.trainer.log_every_n_steps == 0
        if logged_step or loss.device.type == "cpu":
            self._check_finite(loss, batch_idx)
        if logged_step:
            self.log("train/loss", loss, prog_bar=True)
        return loss

    def _check_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Stop a diverged run with a clear message."""
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"The training loss is {loss.item()} at epoch {self.current_epoch}, step "
                f"{self.global_step} (batch {batch_idx}): training diverged, so the run stops "
                f"here. Lower optimizer.lr, or check the inputs (data.mean, data.std)."
            )

    def on_train_epoch_end(self) -> None:
        loss = self.train_loss.compute()
        # Finite but far above guessing (ln of the number of classes): diverging, not learning.
        chance = math.log(self.hparams.num_classes)
        if torch.isfinite(loss) and loss > 10 * chance:
            rank_zero_warn(
                f"train/loss_epoch={float(loss):.3g} after epoch {self.current_epoch}, more than "
                f"10 times a guess's {chance:.2f}: training is diverging. Lower optimizer.lr."
            )
        self.log("train/loss_epoch", loss, sync_dist=True)
        # Not on the progress bar: it would show last epoch's value all through the next one.
        self.log("train/acc", self.train_acc.compute(), sync_dist=True)
        self.train_loss.reset()
        self.train_acc.reset()

    def _evaluate(self, batch, loss_metric: MeanMetric, acc_metric: MulticlassAccuracy) -> None:
        x, y = batch
        logits = self(x)
        loss_metric.update(F.cross_entropy(logits, y), weight=len(y))
        acc_metric.update(logits, y)

    def _log_evaluation(self, stage: str, loss_metric: MeanMetric, acc_metric) -> None:
        # compute() gathers the states of every process under DDP: metrics of the whole split.
        self.log(f"{stage}/loss", loss_metric.compute(), prog_bar=stage == "val", sync_dist=True)
        self.log(f"{stage}/acc", acc_metric.compute(), prog_bar=True, sync_dist=True)
        loss_metric.reset()
        acc_metric.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_loss, self.val_acc)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # sanity-check validation is not an epoch of training
            self.val_loss.reset()
            self.val_acc.reset()
            return
        self.val_acc_best.update(self.val_acc.compute())
        self._log_evaluation("val", self.val_loss, self.val_acc)
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_loss, self.test_acc)

    def on_test_epoch_end(self) -> None:
        self._log_evaluation("test", self.test_loss, self.test_acc)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The best validation accuracy so far must survive a resume (metric states are not saved).
        checkpoint["val_acc_best"] = self.val_acc_best.max_value.detach().cpu()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "val_acc_best" in checkpoint:
            self.val_acc_best.update(checkpoint["val_acc_best"])

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise RuntimeError(
                "ImageClassifier was built without an optimizer; it can only evaluate."
            )
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.lr_scheduler is None:
            return optimizer
        lr_scheduler = {**self.lr_scheduler}
        make_scheduler = lr_scheduler["scheduler"]
        if getattr(make_scheduler, "keywords", {}).get("total_steps", ...) is None:
            # A schedule over the whole run (one-cycle): as long as the Trainer will step.
            make_scheduler = partial(
                make_scheduler, total_steps=int(self.trainer.estimated_stepping_batches)
            )
        lr_scheduler["scheduler"] = make_scheduler(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": lr_scheduler}
