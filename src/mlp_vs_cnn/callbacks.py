"""The Lightning callbacks of a run (`conf/callbacks/`); Hydra's are in `hydra_callbacks`.

The work is done by plain functions in their own modules (figures in `mlp_vs_cnn.visualize`,
shift robustness in `mlp_vs_cnn.analysis`); a callback only says when to call one and where its
output goes. Their options live once, in the function's signature: a config hands the function
over as a `_partial_: true` mapping (`draw:` or `measure:`) with its settings.

    InterruptCheckpoint  on Ctrl+C or SIGTERM     checkpoints/last.ckpt
    ModelSummary         at the start of fitting  the network's layers (not the metric objects)
    Figures              at train start/end,      figures/<tag>.png and TensorBoard IMAGES
                         or test end
    ShiftRobustness      at test end (canvas)     figures/shift/*.png, shift/* metrics
    FirstLayerLocality   at test end (MLPs)       first_layer/* metrics, the unit maps in the
                                                  run's record (`first_layer`)
    History              after each validation    the curve of val/acc and val/loss, in the
                                                  run's record (`history`)

Metrics are logged through the LightningModule (`pl_module.log`); what a callback adds to the
run's record, and the time it spent outside fitting, it holds as a `RecordedCallback`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.exceptions import SIGTERMException
from matplotlib.figure import Figure
from torchmetrics import Metric

from mlp_vs_cnn.analysis.locality import window_share
from mlp_vs_cnn.analysis.shift import ShiftRobustness as ShiftResult
from mlp_vs_cnn.analysis.shift import distance_figure, heatmap_figure
from mlp_vs_cnn.visualize.figures import FigureWriter, describe_run
from mlp_vs_cnn.visualize.weights import pixel_maps

__all__ = [
    "Figures",
    "RecordedCallback",
    "FirstLayerLocality",
    "History",
    "InterruptCheckpoint",
    "ModelSummary",
    "RunInterrupted",
    "ShiftRobustness",
]
log = logging.getLogger(__name__)

Draw = Callable[[L.LightningModule, Any], dict[str, Figure]]


class RecordedCallback(L.Callback):
    """A callback whose output is part of the run's record: `run_record`, a section added to
    metrics.json and the study record once the run is tested (e.g. `{"history": ...}`), and
    `seconds`, the time it spent outside fitting (figures, analyses), recorded apart from the
    fit time (`figure_seconds`). `mlp_vs_cnn.training.train` reads both."""

    def __init__(self) -> None:
        self.run_record: dict[str, Any] = {}
        self.seconds = 0.0


class RunInterrupted(Exception):
    """Ctrl+C stopped a fit at the end of a batch (`InterruptCheckpoint`)."""


class ModelSummary(RichModelSummary):
    """Lightning's rich model summary of the network's layers, without the metric objects the
    module also holds as submodules (`train_acc`, `val_loss`, ...): they are no layers."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._metric_types = {
            type(m).__name__ for m in pl_module.modules() if isinstance(m, Metric)
        }
        super().on_fit_start(trainer, pl_module)

    def summarize(self, summary_data: list[tuple[str, list[str]]], *args, **kwargs) -> None:
        types = dict(summary_data)["Type"]
        layers = [i for i, kind in enumerate(types) if kind not in self._metric_types]
        summary_data = [(column, [values[i] for i in layers]) for column, values in summary_data]
        super().summarize(summary_data, *args, **kwargs)


class InterruptCheckpoint(L.Callback):
    """Stop at the end of the current batch on Ctrl+C (SIGINT) or SIGTERM (as SLURM sends) and
    save `last.ckpt`, so that `ckpt_path=last` resumes exactly where the run stopped.

    Lightning turns SIGTERM into `SIGTERMException` once the current batch is done. Ctrl+C would
    interrupt Python wherever it is, in the middle of a batch whose images the data loader already
    counts as seen; so during the fit the first Ctrl+C only asks to stop, and the run stops when
    the batch is done, as on SIGTERM (a second Ctrl+C stops at once, saving nothing). Errors (a
    NaN loss, a bad config) save nothing: their state is not worth resuming. Lightning's
    `OnExceptionCheckpoint` saves on every error and makes `fit(ckpt_path=None)` resume by
    default, hence this callback.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.stop_requested = False
        self._previous_handler: Any = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            self._previous_handler = signal.signal(signal.SIGINT, self._request_stop)

    def _request_stop(self, signum: int, frame: Any) -> None:
        self.stop_requested = True
        signal.signal(signal.SIGINT, self._previous_handler)  # a second Ctrl+C stops at once
        log.warning("Ctrl+C: stopping after the current batch (press again to stop at once).")

    def _restore_handler(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.stop_requested:
            raise RunInterrupted("Ctrl+C")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handler()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handler()
        if isinstance(exception, (RunInterrupted, SIGTERMException)):
            trainer.save_checkpoint(self.path)


class History(RecordedCallback):
    """The value of each of `metrics` after every validation epoch of the fit (not the sanity
    check), written with the run's record (`run_record["history"]`): the curves that show where
    a run levelled off. Kept in checkpoints, so a resumed run's history is whole.

    Args:
        metrics: names of logged metrics, e.g. ["val/acc", "val/loss"].
    """

    def __init__(self, metrics: Sequence[str] = ("val/acc", "val/loss")) -> None:
        super().__init__()
        self.metrics = list(metrics)
        self.values: dict[str, list[float]] = {name: [] for name in self.metrics}

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Kept apart: testing the best checkpoint restores this callback's state of that epoch.
        self.run_record = {"history": {name: list(v) for name, v in self.values.items()}}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for name in self.metrics:
            value = trainer.callback_metrics.get(name)
            if value is not None:
                self.values[name].append(round(float(value), 6))

    def state_dict(self) -> dict[str, Any]:
        return {"values": self.values}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.values = {name: list(state_dict["values"].get(name, [])) for name in self.metrics}


class Figures(RecordedCallback):
    """Draw figures once, at one point of the run, to TensorBoard and PNG files (rank zero only,
    not under `fast_dev_run`).

    Args:
        draw: `draw(model, datamodule) -> {tag: Figure}`, e.g. a `_partial_` of
            `mlp_vs_cnn.visualize.weight_figures` with its options.
        when: "train_start", "train_end" or "test_end".
        figure_dir: folder of the files; default `<trainer.default_root_dir>/figures`.
        formats: file formats, "png" and/or "pdf".
    """

    def __init__(
        self,
        draw: Draw,
        when: Literal["train_start", "train_end", "test_end"],
        figure_dir: str | Path | None = None,
        formats: Sequence[str] = ("png",),
    ) -> None:
        if when not in ("train_start", "train_end", "test_end"):
            raise ValueError(f"when must be train_start, train_end or test_end, got {when!r}")
        super().__init__()
        self.draw, self.when, self.figure_dir, self.formats = draw, when, figure_dir, formats

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, when: str) -> None:
        if when != self.when or trainer.fast_dev_run or not trainer.is_global_zero:
            return
        started = time.perf_counter()
        figures = self.draw(pl_module, trainer.datamodule)
        FigureWriter.for_trainer(trainer, self.figure_dir, self.formats).write(figures)
        elapsed = time.perf_counter() - started
        self.seconds += elapsed
        log.info("Figures %s in %.2f s", ", ".join(figures), elapsed)

    def on_train_start(self, trainer, pl_module):
        self._log(trainer, pl_module, "train_start")

    def on_train_end(self, trainer, pl_module):
        self._log(trainer, pl_module, "train_end")

    def on_test_end(self, trainer, pl_module):
        self._log(trainer, pl_module, "test_end")


class ShiftRobustness(RecordedCallback):
    """After testing a run on a canvas, measure its shift robustness and write it with the run.

    Logs the `shift/*` scalars with the test's metrics (TensorBoard, the final metrics), draws
    `shift/heatmap` and `shift/by_distance` (PNG and TensorBoard, as `Figures`) and adds the
    whole result to the run's record (`run_record`). Runs without a canvas, and the position
    task (whose labels are positions), are left alone.

    Args:
        measure: `measure(model, images, labels, transform) -> ShiftRobustness`, a `_partial_` of
            `mlp_vs_cnn.analysis.shift_robustness` with its options.
        figure_dir: folder of the files; default `<trainer.default_root_dir>/figures`.
        formats: file formats, "png" and/or "pdf".
    """

    def __init__(
        self,
        measure: Callable[..., ShiftResult],
        figure_dir: str | Path | None = None,
        formats: Sequence[str] = ("png",),
    ) -> None:
        super().__init__()
        self.measure, self.figure_dir, self.formats = measure, figure_dir, formats

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if datamodule is None or datamodule.transform.canvas_size is None:
            return
        if datamodule.hparams.get("position_regions"):  # labels are regions: no class to keep
            return
        if trainer.fast_dev_run or not trainer.is_global_zero:
            return
        started = time.perf_counter()
        images, labels, *_ = datamodule.splits["test"]
        result = self.measure(pl_module, images.to(pl_module.device), labels, datamodule.transform)
        summary = result.summary()
        for name, value in summary.items():
            pl_module.log(name, value, rank_zero_only=True)
        self.run_record = {"shift_robustness": asdict(result)}
        context = describe_run(pl_module, datamodule)
        figures = {
            "shift/heatmap": heatmap_figure(result, context=context),
            "shift/by_distance": distance_figure({"": result}, context=context),
        }
        FigureWriter.for_trainer(trainer, self.figure_dir, self.formats).write(figures)
        self.seconds += time.perf_counter() - started
        log.info("Shift robustness: %s", {k: round(v, 4) for k, v in summary.items()})


class FirstLayerLocality(RecordedCallback):
    """After testing an MLP, measure how local and how sparse its first layer is, in pixel order
    (un-permuted on permuted data), on the weights that were tested (the best checkpoint's).

    Logs `first_layer/locality` (the mean over units with any weight of `window_share`: the share of
    a unit's |weight| within `window` x `window` pixels of its centre of mass; not logged when no
    unit has a weight left) and `first_layer/sparsity` (the share of its weights that are zero), and
    writes to the run's record, as `first_layer`, each unit's share and the maps of the first `keep`
    units that have weights, for the results page's figure. Conv nets are left alone: their kernels
    are local by construction.
    """

    def __init__(self, window: int = 5, keep: int = 8) -> None:
        super().__init__()
        if not (isinstance(window, int) and window >= 1):
            raise ValueError(f"window must be an integer >= 1 (pixels), got {window!r}")
        if not (isinstance(keep, int) and keep >= 0):
            raise ValueError(f"keep must be an integer >= 0 (unit maps), got {keep!r}")
        self.window, self.keep = window, keep

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.datamodule is None:
            return
        maps = pixel_maps(pl_module.net, trainer.datamodule)
        if maps is None:
            return
        window = min(self.window, *maps.shape[1:])  # a larger window covers the whole image
        share = window_share(maps, window)
        alive = share.isfinite()
        pl_module.log("first_layer/sparsity", (maps == 0).double().mean().float())
        if alive.any():
            pl_module.log("first_layer/locality", share[alive].mean().float())
        else:  # no unit has a weight left: there is nothing to locate
            log.warning("Every weight of the first layer is zero: no first_layer/locality")
        kept = maps[alive][: self.keep]
        self.run_record = {
            "first_layer": {
                "window": window,
                "locality": [None if v != v else round(float(v), 6) for v in share],
                "units": [[[float(f"{v:.4g}") for v in row] for row in unit] for unit in kept],
            }
        }
