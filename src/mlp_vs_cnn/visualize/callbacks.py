"""Lightning callbacks that put the figures of this package into TensorBoard and PNG files.

Each callback draws its figures once, at a fixed point of the run, on rank zero only, and does
nothing under `fast_dev_run`. The drawing itself is the `figures` method, which calls the plain
functions of this package; `scripts/visualize.py` calls the same method on a checkpoint.

    SampleGrids             at the start of training  samples/model_input, unpermuted, flattened
    Misclassified           at the end of testing     errors/confusion_matrix, misclassified
    FirstLayerWeights       at the end of training    weights/first_layer[_unpermuted]
    ActivationMaximization  at the end of training    activations/classes, activations/units
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from matplotlib.figure import Figure
from torch import nn

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.visualize.activation_maximization import Start, activation_figures
from mlp_vs_cnn.visualize.errors import error_figures
from mlp_vs_cnn.visualize.figures import FigureWriter
from mlp_vs_cnn.visualize.samples import sample_figures
from mlp_vs_cnn.visualize.weights import weight_figures

log = logging.getLogger(__name__)


class FigureCallback(L.Callback):
    """Base class: draw `figures(model, datamodule)` and write them to TensorBoard and PNG.

    Args:
        figure_dir: folder of the PNG files; default `<trainer.default_root_dir>/figures`.
    """

    def __init__(self, figure_dir: str | Path | None = None) -> None:
        self.figure_dir = figure_dir

    def figures(self, model: nn.Module, datamodule: ImageDataModule) -> dict[str, Figure]:
        raise NotImplementedError

    def log_figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run or not trainer.is_global_zero:
            return
        started = time.perf_counter()
        figures = self.figures(pl_module, trainer.datamodule)
        FigureWriter.for_trainer(trainer, self.figure_dir).write(figures)
        log.info(
            "%s: %s in %.2f s",
            type(self).__name__,
            ", ".join(figures),
            time.perf_counter() - started,
        )


class SampleGrids(FigureCallback):
    """Training images per class as the model receives them, un-permuted beside them for
    permuted data, and one image flattened to the vector an MLP sees, next to noise.

    Args:
        per_class: images of each class.
    """

    def __init__(self, per_class: int = 8, figure_dir: str | Path | None = None) -> None:
        super().__init__(figure_dir)
        self.per_class = per_class

    def figures(self, model, datamodule):
        return sample_figures(datamodule, self.per_class)

    def on_train_start(self, trainer, pl_module):
        self.log_figures(trainer, pl_module)


class Misclassified(FigureCallback):
    """The confusion matrix of the test set and its most frequent confusions, with images.

    Args:
        top_pairs: how many (true, predicted) pairs to show, most frequent first.
        per_pair: images of each pair.
    """

    def __init__(
        self, top_pairs: int = 8, per_pair: int = 8, figure_dir: str | Path | None = None
    ) -> None:
        super().__init__(figure_dir)
        self.top_pairs = top_pairs
        self.per_pair = per_pair

    def figures(self, model, datamodule):
        return error_figures(model, datamodule, "test", self.top_pairs, self.per_pair)

    def on_test_end(self, trainer, pl_module):
        self.log_figures(trainer, pl_module)


class FirstLayerWeights(FigureCallback):
    """The first layer's weights: conv kernels, or each fully connected unit as an image."""

    def figures(self, model, datamodule):
        return weight_figures(model, datamodule)

    def on_train_end(self, trainer, pl_module):
        self.log_figures(trainer, pl_module)


class ActivationMaximization(FigureCallback):
    """Images that maximise each class's log-probability, and each unit of one layer.

    Args:
        start: starting image: "zero", "random" (Gaussian noise) or "dataset" (validation images).
        steps, lr, momentum: SGD on the image.
        l2: weight decay on the image (0 = none, as in the notebook; 1e-3 is mild).
        blur_sigma: Gaussian blur after each step, in pixels (0 = none; 0.5 is mild).
        layer: module name whose units to maximise, e.g. `net.features.3`; null = the last conv
            layer, or an MLP's last hidden layer.
        max_units: at most this many units (the first ones) of the layer.
        seed: seed of the random starting images.
    """

    def __init__(
        self,
        start: Start = "zero",
        steps: int = 200,
        lr: float = 0.1,
        momentum: float = 0.5,
        l2: float = 0.0,
        blur_sigma: float = 0.0,
        layer: str | None = None,
        max_units: int = 50,
        seed: int = 0,
        figure_dir: str | Path | None = None,
    ) -> None:
        super().__init__(figure_dir)
        self.options = dict(
            start=start,
            steps=steps,
            lr=lr,
            momentum=momentum,
            l2=l2,
            blur_sigma=blur_sigma,
            layer=layer,
            max_units=max_units,
            seed=seed,
        )

    def figures(self, model, datamodule):
        return activation_figures(model, datamodule, **self.options)

    def on_train_end(self, trainer, pl_module):
        self.log_figures(trainer, pl_module)
