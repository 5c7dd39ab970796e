"""Peer (c): lightning-hydra-template's MNIST recipe, timed to a test accuracy.

    python scripts/peers/lightning_template_mlp.py --root /tmp/peer_root --target 0.97

Follows ashleve/lightning-hydra-template (commit bddbc24, 2023-09-25): SimpleDenseNet
784-64-128-64-10 (src/models/components/simple_dense_net.py, sizes from configs/model/mnist.yaml),
MNISTLitModule with its torchmetrics (src/models/mnist_module.py), Adam lr 0.001 and
ReduceLROnPlateau on val/loss (configs/model/mnist.yaml), batch 128 with ToTensor + Normalize and
one-process DataLoaders (src/data/mnist_datamodule.py, configs/data/mnist.yaml), a CPU Trainer
of 1 to 10 epochs (configs/trainer/default.yaml) with the default ModelCheckpoint and
EarlyStopping (configs/callbacks/default.yaml).

Two changes, both so that the test accuracy is the usual one. The template pools the 60,000
training and 10,000 test images and splits them 55,000/5,000/10,000; here the 60,000 training
images are split 55,000/5,000 (random_split, generator seed 42 as the template's) and the test
set is the official 10,000. And since the template tests only once, after fitting, a callback
tests after every validation; its time is reported as `extra_test_seconds` (cumulative) for the
caller to subtract. The command line and stdout follow scripts/peers/_protocol.py.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path

import _protocol
import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, random_split
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification.accuracy import Accuracy


class SimpleDenseNet(nn.Module):
    def __init__(
        self,
        input_size: int = 784,
        lin1_size: int = 64,
        lin2_size: int = 128,
        lin3_size: int = 64,
        output_size: int = 10,
    ) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(input_size, lin1_size),
            nn.BatchNorm1d(lin1_size),
            nn.ReLU(),
            nn.Linear(lin1_size, lin2_size),
            nn.BatchNorm1d(lin2_size),
            nn.ReLU(),
            nn.Linear(lin2_size, lin3_size),
            nn.BatchNorm1d(lin3_size),
            nn.ReLU(),
            nn.Linear(lin3_size, output_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.view(x.size(0), -1))


class MNISTLitModule(L.LightningModule):
    """The template's module, its metrics and logging included (they cost time in its loop)."""

    def __init__(self, net: nn.Module, optimizer, scheduler, compile: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.net = net
        self.criterion = nn.CrossEntropyLoss()
        self.train_acc = Accuracy(task="multiclass", num_classes=10)
        self.val_acc = Accuracy(task="multiclass", num_classes=10)
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()
        self.val_acc_best = MaxMetric()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def on_train_start(self) -> None:
        self.val_loss.reset()
        self.val_acc.reset()
        self.val_acc_best.reset()

    def model_step(self, batch):
        x, y = batch
        logits = self.forward(x)
        return self.criterion(logits, y), torch.argmax(logits, dim=1), y

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, preds, targets = self.model_step(batch)
        self.train_loss(loss)
        self.train_acc(preds, targets)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, preds, targets = self.model_step(batch)
        self.val_loss(loss)
        self.val_acc(preds, targets)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            self.net = torch.compile(self.net)

    def configure_optimizers(self):
        optimizer = self.hparams.optimizer(params=self.trainer.model.parameters())
        scheduler = self.hparams.scheduler(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": "val/loss",
                "interval": "epoch",
                "frequency": 1,
            },
        }


class TestEveryEpoch(Callback):
    """After each validation, the test accuracy on its own loader, reported as a PEER_EPOCH line;
    stops training once it reaches `target`."""

    def __init__(self, loader: DataLoader, target: float | None) -> None:
        self.loader = loader
        self.target = target
        self.seconds = 0.0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        started = time.perf_counter()
        was_training = pl_module.training
        pl_module.eval()
        correct = 0
        with torch.inference_mode():
            for x, y in self.loader:
                correct += (pl_module(x).argmax(dim=1) == y).sum().item()
        pl_module.train(was_training)
        test_acc = correct / len(self.loader.dataset)
        self.seconds += time.perf_counter() - started
        extra = round(self.seconds, 3)
        _protocol.report_epoch(trainer.current_epoch + 1, test_acc, extra_test_seconds=extra)
        if _protocol.target_reached(test_acc, self.target):
            trainer.should_stop = True


def main(argv: list[str] | None = None) -> None:
    parser = _protocol.peer_parser(__doc__, max_epochs=10)
    args = parser.parse_args(argv)
    _protocol.require_data(args.root, args.dataset)
    if args.threads:
        torch.set_num_threads(args.threads)
    L.seed_everything(args.seed, workers=True)

    train_set, test_set = _protocol.mnist_style_sets(args)
    val_size = len(train_set) // 12  # 5,000 of the 60,000
    train_split, val_split = random_split(
        train_set,
        [len(train_set) - val_size, val_size],
        generator=torch.Generator().manual_seed(42),
    )
    loader_options = {"batch_size": 128, "num_workers": 0, "pin_memory": False}
    train_loader = DataLoader(train_split, shuffle=True, **loader_options)
    val_loader = DataLoader(val_split, shuffle=False, **loader_options)
    test_loader = DataLoader(test_set, shuffle=False, **loader_options)

    model = MNISTLitModule(
        net=SimpleDenseNet(input_size=784, lin1_size=64, lin2_size=128, lin3_size=64),
        # Partials, as Hydra's `_partial_: true` gives the template: checkpoints pickle them.
        optimizer=partial(torch.optim.Adam, lr=0.001, weight_decay=0.0),
        scheduler=partial(
            torch.optim.lr_scheduler.ReduceLROnPlateau, mode="min", factor=0.1, patience=10
        ),
    )
    with tempfile.TemporaryDirectory(prefix="peer_template_") as run_dir:
        callbacks = [
            ModelCheckpoint(
                dirpath=Path(run_dir) / "checkpoints",
                filename="epoch_{epoch:03d}",
                monitor="val/acc",
                mode="max",
                save_last=True,
                auto_insert_metric_name=False,
            ),
            EarlyStopping(monitor="val/acc", patience=100, mode="max"),
            TestEveryEpoch(test_loader, args.target),
        ]
        # The template's RichModelSummary and RichProgressBar write to stdout, the protocol's
        # channel: both are off, and so is the logger, as in the template's default.
        trainer = L.Trainer(
            accelerator="cpu",
            devices=1,
            min_epochs=1,
            max_epochs=args.max_epochs,
            check_val_every_n_epoch=1,
            deterministic=False,
            default_root_dir=run_dir,
            logger=False,
            callbacks=callbacks,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(model, train_dataloaders=train_loader, val_dataloaders=val_loader)


if __name__ == "__main__":
    main()
