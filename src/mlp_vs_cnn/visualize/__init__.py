"""Visual diagnostics: what the network receives, where it errs, what it learned, what excites it.

Plain functions draw the figures (`sample_figures`, `error_figures`, `weight_figures`,
`activation_figures`); `mlp_vs_cnn.callbacks.Figures` logs them during training and
`scripts/visualize.py` for a checkpoint, both through `FigureWriter` (TensorBoard and PNG).
"""

from mlp_vs_cnn.visualize.activation_maximization import activation_figures
from mlp_vs_cnn.visualize.errors import error_figures
from mlp_vs_cnn.visualize.figures import FigureWriter
from mlp_vs_cnn.visualize.samples import sample_figures
from mlp_vs_cnn.visualize.weights import weight_figures

__all__ = [
    "FigureWriter",
    "activation_figures",
    "error_figures",
    "sample_figures",
    "weight_figures",
]
