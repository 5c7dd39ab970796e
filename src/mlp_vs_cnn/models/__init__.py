"""The networks compared: plain `nn.Module`s whose input size comes from the data config."""

from mlp_vs_cnn.models.classifier import ImageClassifier
from mlp_vs_cnn.models.cnn import ConvNet
from mlp_vs_cnn.models.mlp import MLP

__all__ = ["MLP", "ConvNet", "ImageClassifier"]
