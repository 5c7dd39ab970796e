"""Multilayer perceptrons: the image is flattened to a vector, so pixel order carries no meaning."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Flatten, then fully connected layers with ReLU between them.

    Args:
        image_size: side of the square input images.
        num_classes: number of output logits.
        hidden_sizes: width of each hidden layer, e.g. [50, 25] for 784-50-25-10.
        in_channels: channels of the input images.
    """

    def __init__(
        self,
        image_size: int,
        num_classes: int,
        hidden_sizes: list[int],
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        widths = [in_channels * image_size * image_size, *hidden_sizes]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
