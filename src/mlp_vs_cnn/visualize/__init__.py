"""Visual diagnostics: what the network receives, where it errs, what it learned, what excites it.

Plain functions draw the figures (`samples`, `errors`, `weights`, `activation_maximization`);
the callbacks of `callbacks` log them during training and `scripts/visualize.py` for a
checkpoint, both through `FigureWriter` (TensorBoard and PNG).
"""

from mlp_vs_cnn.visualize.callbacks import (
    ActivationMaximization,
    FigureCallback,
    FirstLayerWeights,
    Misclassified,
    SampleGrids,
)
from mlp_vs_cnn.visualize.figures import FigureWriter

__all__ = [
    "ActivationMaximization",
    "FigureCallback",
    "FigureWriter",
    "FirstLayerWeights",
    "Misclassified",
    "SampleGrids",
]
