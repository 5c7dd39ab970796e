"""Convolutional networks: local filters shared across positions, then pooling and a classifier."""

from __future__ import annotations

import torch
from torch import nn


class ConvNet(nn.Module):
    """Blocks of conv -> ReLU -> [Dropout2d] -> max-pool 2, then fully connected layers.

    LeNet-5, the TwoConvTwoFullNet and the small parameter-matched CNN are all instances.

    Args:
        image_size: side of the square input images.
        num_classes: number of output logits.
        channels: output channels of each conv layer.
        kernel_size: side of every conv kernel (no padding, stride 1).
        groups: groups of each conv layer (1 = ordinary convolution).
        hidden_sizes: widths of the fully connected layers before the output layer.
        conv_dropout: Dropout2d probability after each conv but the first (0 = none).
        fc_dropout: dropout probability after each hidden fully connected layer (0 = none).
        in_channels: channels of the input images.
    """

    def __init__(
        self,
        image_size: int,
        num_classes: int,
        channels: list[int],
        kernel_size: int = 5,
        groups: list[int] | None = None,
        hidden_sizes: list[int] | None = None,
        conv_dropout: float = 0.0,
        fc_dropout: float = 0.0,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        groups = groups or [1] * len(channels)
        if len(groups) != len(channels):
            raise ValueError(f"groups {groups} must have one entry per conv layer {channels}")
        blocks: list[nn.Module] = []
        size, fan_in = image_size, in_channels
        for i, (fan_out, group) in enumerate(zip(channels, groups)):
            blocks += [nn.Conv2d(fan_in, fan_out, kernel_size, groups=group), nn.ReLU()]
            if conv_dropout and i > 0:
                blocks.append(nn.Dropout2d(conv_dropout))
            blocks.append(nn.MaxPool2d(2))
            size, fan_in = (size - kernel_size + 1) // 2, fan_out
            if size < 1:
                raise ValueError(
                    f"{image_size}x{image_size} images are too small for {len(channels)} "
                    f"conv layers of kernel {kernel_size} with pooling"
                )
        self.features = nn.Sequential(*blocks)
        widths = [fan_in * size * size, *(hidden_sizes or [])]
        head: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            head += [nn.Linear(a, b), nn.ReLU()]
            if fc_dropout:
                head.append(nn.Dropout(fc_dropout))
        head.append(nn.Linear(widths[-1], num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
