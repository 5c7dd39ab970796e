"""Convolutional networks: local filters shared across positions, then pooling and a classifier."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Padding = Literal["valid", "same", "circular", "full"]
PADDINGS = ("valid", "same", "circular", "full")


class BlurPool2d(nn.Module):
    """Low-pass filter each channel with the binomial [1, 2, 1] kernel, then keep every 2nd pixel.

    Max-pool with stride 1 followed by this is the anti-aliased max-pool of Zhang 2019 ("Making
    Convolutional Networks Shift-Invariant Again"): blurring before subsampling stops a shift of
    one pixel from changing which activations survive. Reflect padding keeps the output size of
    `nn.MaxPool2d(2)` for the even sizes our networks produce.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16
        kernel = kernel.expand(channels, 1, 3, 3).contiguous()
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, self.kernel, stride=2, groups=x.shape[1])


class ConvNet(nn.Module):
    """Blocks of conv -> ReLU -> [Dropout2d] -> max-pool 2, then fully connected layers.

    Each block computes max-pool before the ReLU and the dropout, the same function with the
    same gradients on fewer values (`test_pooling_before_the_relu_changes_nothing`).

    LeNet-5, the TwoConvTwoFullNet and the small parameter-matched CNN are all instances.
    `global_pool` averages each feature map over all positions before the classifier (position
    is discarded, as in `cnn_gap`); `antialias` blurs before each subsampling (Zhang 2019).
    `padding` is how each convolution treats the border, which decides whether a network can
    tell where in the image something is (Kayhan & van Gemert 2020): with "valid" or zero "same"
    padding the border is visible to the filters, with "circular" the image wraps around and has
    no border, and with "full" every pixel is seen by every filter offset.

    Args:
        image_size: side of the square input images.
        num_classes: number of output logits.
        channels: output channels of each conv layer.
        kernel_size: side of every conv kernel (stride 1).
        groups: groups of each conv layer (1 = ordinary convolution).
        hidden_sizes: widths of the fully connected layers before the output layer.
        conv_dropout: Dropout2d probability after each conv but the first (0 = none).
        fc_dropout: dropout probability after each hidden fully connected layer (0 = none).
        in_channels: channels of the input images.
        global_pool: average each feature map over all positions instead of flattening it.
        antialias: max-pool with stride 1, then a blurred stride-2 subsample (`BlurPool2d`).
        padding: "valid" (none: a k x k kernel shrinks the map by k - 1), "same" (k // 2 zeros
            on each side, odd k: the size is kept), "circular" (the same size, the map wrapped
            around instead of zeros) or "full" (k - 1 zeros on each side: the map grows by k - 1).
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
        global_pool: bool = False,
        antialias: bool = False,
        padding: Padding = "valid",
    ) -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if padding in ("same", "circular") and kernel_size % 2 == 0:
            raise ValueError(f"padding={padding!r} keeps the size only for an odd kernel_size")
        pad = {"valid": 0, "same": kernel_size // 2, "circular": kernel_size // 2}.get(
            padding, kernel_size - 1
        )
        mode = "circular" if padding == "circular" else "zeros"
        groups = groups or [1] * len(channels)
        if len(groups) != len(channels):
            raise ValueError(f"groups {groups} must have one entry per conv layer {channels}")
        blocks: list[nn.Module] = []
        size, fan_in = image_size, in_channels
        for i, (fan_out, group) in enumerate(zip(channels, groups, strict=True)):
            conv = nn.Conv2d(
                fan_in, fan_out, kernel_size, padding=pad, padding_mode=mode, groups=group
            )
            # Max-pool before ReLU: the same function and gradients as ReLU then max-pool (both
            # are monotone, and dropping whole channels commutes with them too), with the ReLU
            # and the dropout on a quarter of the values. A LeNet-5 step is about 14 % faster.
            blocks += [conv, nn.MaxPool2d(2, stride=1 if antialias else 2), nn.ReLU()]
            if conv_dropout and i > 0:
                blocks.append(nn.Dropout2d(conv_dropout))
            if antialias:
                blocks.append(BlurPool2d(fan_out))
            size, fan_in = (size + 2 * pad - kernel_size + 1) // 2, fan_out
            if size < 1:
                raise ValueError(
                    f"{image_size}x{image_size} images are too small for {len(channels)} "
                    f"conv layers of kernel {kernel_size} with pooling"
                )
        self.features = nn.Sequential(*blocks)
        if global_pool:
            size = 1
            self.features.append(nn.AdaptiveAvgPool2d(1))
        widths = [fan_in * size * size, *(hidden_sizes or [])]
        head: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            head += [nn.Linear(a, b), nn.ReLU()]
            if fc_dropout:
                head.append(nn.Dropout(fc_dropout))
        head.append(nn.Linear(widths[-1], num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
