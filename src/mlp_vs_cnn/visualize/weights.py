"""What the first layer learned: conv kernels, or each fully connected unit's weights as an image.

A unit of an MLP's first layer has one weight per input pixel, so its weights reshape to an
image: a template the unit matches. On permuted data the template is learned in scrambled
order; un-permuting it shows the same kind of template as on the original data, which is why
the MLP does not care about the permutation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.visualize.figures import describe_run, grid_figure, readable


def first_layer(net: nn.Module) -> nn.Conv2d | nn.Linear:
    """The first convolution or fully connected layer of a network."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            return module
    raise ValueError(f"{type(net).__name__} has no Conv2d or Linear layer")


def unit_maps(layer: nn.Linear, side: int) -> torch.Tensor:
    """The weights of each unit of a fully connected first layer as an image [units, side, side]
    (of the first input channel), in the pixel order the layer sees."""
    weight = layer.weight.detach().cpu()
    return weight.view(len(weight), -1, side, side)[:, 0]


def pixel_maps(model: nn.Module, datamodule: ImageDataModule) -> torch.Tensor | None:
    """An MLP's first-layer unit maps [units, side, side] in pixel order (un-permuted where the
    data is permuted); None for a network whose first layer is a convolution."""
    layer = first_layer(model)
    if not isinstance(layer, nn.Linear):
        return None
    return readable(unit_maps(layer, datamodule.image_size), datamodule.permutation)


def _columns(ncols: int | None, count: int) -> int:
    """`ncols` images a row (at most `count`), or a square grid when None."""
    return min(ncols, count) if ncols else math.ceil(math.sqrt(count))


def weight_figures(
    model: nn.Module,
    datamodule: ImageDataModule,
    ncols: int | None = None,
    context: str | None = None,
):
    """Figure `weights/first_layer`, and `weights/first_layer_unpermuted` for an MLP on permuted
    data. Each image is scaled to its own largest |weight| (red +, blue -), stated on the colour
    bar; `ncols` images a row (None: a square grid, readable on a TensorBoard card). Titles name
    the run: `context`, or else `describe_run(model, datamodule)`."""
    context = context or describe_run(model, datamodule)
    layer = first_layer(model)
    weight = layer.weight.detach().cpu()
    if isinstance(layer, nn.Conv2d):
        kernels = weight[:, 0]  # first input channel: the image itself for grey images
        size = f"{kernels.shape[-2]}x{kernels.shape[-1]}"
        title = f"First conv layer: its {len(kernels)} kernels of {size} pixels"
        return {
            "weights/first_layer": grid_figure(
                kernels,
                _columns(ncols, len(kernels)),
                title,
                scale="each",
                symmetric=True,
                context=context,
                colorbar="weight",
            )
        }
    units = unit_maps(layer, datamodule.image_size)
    permutation = datamodule.permutation
    order = ", in the permuted pixel order the model sees" if permutation is not None else ""
    figures = {
        "weights/first_layer": grid_figure(
            units,
            _columns(ncols, len(units)),
            f"First fully connected layer: the weights of each of its {len(units)} units "
            f"as an image{order}",
            scale="each",
            symmetric=True,
            context=context,
            colorbar="weight",
        )
    }
    if permutation is not None:
        figures["weights/first_layer_unpermuted"] = grid_figure(
            readable(units, permutation),
            _columns(ncols, len(units)),
            "The same weights un-permuted: templates of the classes, as on unpermuted data",
            scale="each",
            symmetric=True,
            context=context,
            colorbar="weight",
        )
    return figures
