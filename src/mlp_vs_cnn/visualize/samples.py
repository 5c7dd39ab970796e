"""What the network receives: training images per class, un-permuted, flattened, and noise.

The flattened strip and the noise image follow the first source notebook: flattening loses no
pixel but loses which pixels are neighbours, and the strip of a digit looks much like the strip
of random noise. For permuted data the images themselves look like noise; their un-permuted
view, beside them, shows that every pixel is still there.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from torch import nn

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.visualize.figures import describe_run, grid_figure, new_figure, readable, suptitle


def class_sample_index(labels: torch.Tensor, num_classes: int, per_class: int) -> torch.Tensor:
    """Indices of the first `per_class` samples of each class, class by class; -1 where a class
    has fewer samples."""
    index = torch.full((num_classes, per_class), -1, dtype=torch.long)
    for k in range(num_classes):
        found = torch.nonzero(labels == k).flatten()[:per_class]
        index[k, : len(found)] = found
    return index.flatten()


def class_samples(
    datamodule: ImageDataModule, per_class: int, split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `per_class` images of each class as the model receives them, [C * per_class,
    1, S, S] class by class (NaN images where a class has too few), and their indices."""
    datamodule.setup()
    labels = datamodule.splits[split][1]
    index = class_sample_index(labels, datamodule.num_classes, per_class)
    found = index >= 0
    inputs, _ = datamodule.model_inputs(split, index[found])
    images = torch.full((len(index), *inputs.shape[1:]), torch.nan)
    images[found] = inputs.cpu()
    return images, index


def flattened_figure(
    image: torch.Tensor, noise: torch.Tensor, title: str, context: str = ""
) -> Figure:
    """An image and a noise image of the same size, each also as the flat vector an MLP sees."""
    image, noise = image.numpy(), noise.numpy()
    fig = new_figure(9, 4.6)
    suptitle(fig, title, context)
    grid = fig.add_gridspec(3, 2, height_ratios=[4, 1, 1])
    for col, (picture, name) in enumerate(((image, "the image"), (noise, "Gaussian noise"))):
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(picture, cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    for row, (picture, name) in enumerate(((image, "the image"), (noise, "the noise")), start=1):
        ax = fig.add_subplot(grid[row, :])
        ax.imshow(picture.reshape(1, -1), cmap="gray", aspect="auto", interpolation="nearest")
        ax.set_yticks([])
        ax.set_ylabel(f"{name},\nflattened", rotation=0, ha="right", va="center", fontsize=9)
        ax.tick_params(labelsize=8)
    ax.set_xlabel(
        f"pixel index (0 to {image.size - 1}): what a fully connected layer sees; "
        "grey: each image from its own min (black) to max (white)",
        fontsize=9,
    )
    return fig


def sample_figures(
    model: nn.Module | None,
    datamodule: ImageDataModule,
    per_class: int = 8,
    seed: int = 0,
    context: str | None = None,
):
    """Figures `samples/model_input`, `samples/unpermuted` (permuted data only) and
    `samples/flattened`. Their titles name the run: `context`, or else `describe_run(model,
    datamodule)` (the data alone without a model)."""
    images, _ = class_samples(datamodule, per_class)
    names = datamodule.class_names
    permutation = datamodule.permutation
    context = context or describe_run(model, datamodule)
    variant = (
        "permuted"
        if permutation is not None
        else "shifted"
        if datamodule.hparams.canvas_size
        else "original"
    )
    scale = "model input (normalised)" if datamodule.hparams.normalize else "model input"
    side = images.shape[-1]
    figures = {
        "samples/model_input": grid_figure(
            images,
            per_class,
            f"Training images as the model receives them ({variant})",
            row_labels=names,
            context=context,
            colorbar=scale,
        )
    }
    if permutation is not None:
        figures["samples/unpermuted"] = grid_figure(
            readable(images, permutation),
            per_class,
            "The same images un-permuted: no pixel is lost, only their neighbours",
            row_labels=names,
            context=context,
            colorbar=scale,
        )
    noise = torch.randn(side, side, generator=torch.Generator().manual_seed(seed))
    figures["samples/flattened"] = flattened_figure(
        images[0, 0],
        noise,
        f"One {variant} training image and noise, as images and as vectors",
        context,
    )
    return figures
