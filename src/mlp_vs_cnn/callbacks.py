"""Callbacks of this project: Lightning's (`conf/callbacks/`) and Hydra's (`conf/hydra/`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.experimental.callback import Callback as HydraCallback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig


class InterruptCheckpoint(L.Callback):
    """Save `last.ckpt` when the run is interrupted: Ctrl+C (SIGINT) or SIGTERM (as SLURM sends).

    Lightning turns SIGTERM into `SIGTERMException` once the current batch is done, so the
    checkpoint resumes exactly at the next batch (`ckpt_path=last`). Errors (a NaN loss, a bad
    config) save nothing: their state is not worth resuming. Lightning's `OnExceptionCheckpoint`
    saves on every error and makes `fit(ckpt_path=None)` resume by default, hence this callback.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            trainer.save_checkpoint(self.path)


class OptunaStorageFolder(HydraCallback):
    """Hydra callback: make the folder of the Optuna SQLite file before the sweeper opens it.

    SQLite creates the file but not its folder, and the study is opened before any job runs.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        storage = config.hydra.sweeper.get("storage") or ""
        if storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
