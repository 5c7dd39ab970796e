"""MNIST and Fashion-MNIST as in-memory tensors, with their variants as batch transforms."""

from mlp_vs_cnn.data.datamodule import ImageDataModule
from mlp_vs_cnn.data.idx import DataFilesError

__all__ = ["DataFilesError", "ImageDataModule"]
