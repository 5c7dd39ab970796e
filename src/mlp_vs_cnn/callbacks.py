"""Lightning callbacks of this project (configured in `conf/callbacks/`)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException


class InterruptCheckpoint(OnExceptionCheckpoint):
    """Save a checkpoint when the run is interrupted: Ctrl+C (SIGINT) or SIGTERM (as SLURM sends).

    Lightning turns SIGTERM into `SIGTERMException` once the current batch is done, so the
    checkpoint resumes exactly at the next batch. `ckpt_path=last` picks the newer of this file
    and `last.ckpt`; a run that finishes deletes it. Errors (a NaN loss, a bad config) save
    nothing: their state is not worth resuming.
    """

    def __init__(self, dirpath: str, filename: str = "interrupted") -> None:
        super().__init__(dirpath=dirpath, filename=filename)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            super().on_exception(trainer, pl_module, exception)
