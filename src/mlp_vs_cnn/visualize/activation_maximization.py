"""Activation maximisation: the input image that most excites a class or a neuron.

The method of the Fashion-MNIST notebook this project draws on (Feydy's `generate_image`):
keep the network fixed and run gradient ascent on the input image, from zeros, noise or a
dataset image, with SGD (lr 0.1, momentum 0.5) for about 200 steps. The objective is a class's
log-probability, or the output of one unit of a layer read through a forward hook: a unit of a
linear layer, or a channel of a conv layer at the centre of its feature map. The notebook uses
no regulariser; a mild L2 penalty (`l2`) or a Gaussian blur after each step (`blur_sigma`)
makes the images smoother and easier to read.

Several images are optimised as one batch: the network is in eval mode and has no batch
statistics, so each image's gradient depends on that image alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torchvision.transforms.v2.functional import gaussian_blur

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.data.transforms import permute_pixels
from mlp_vs_cnn.visualize.figures import describe_run, grid_figure, readable

Start = Literal["zero", "random", "dataset"]


def maximize(
    objective: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    steps: int = 200,
    lr: float = 0.1,
    momentum: float = 0.5,
    l2: float = 0.0,
    blur_sigma: float = 0.0,
    permutation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gradient ascent on images [B, 1, S, S] of `objective` (one value per image).

    Args:
        l2: weight decay on the image: pulls pixels towards zero (the dataset mean).
        blur_sigma: Gaussian blur of the image after each step, in pixels (0 = none); applied
            in the image's natural pixel order, so also meaningful for permuted inputs.
        permutation: the pixel permutation of the inputs, or None.
    """
    # A few small images per step: on CPU, intra-op threads only add synchronisation (up to
    # 100x slower on a busy machine), so the loop runs on one thread.
    threads = torch.get_num_threads()
    if start.device.type == "cpu":
        torch.set_num_threads(1)
    try:
        return _ascend(objective, start, steps, lr, momentum, l2, blur_sigma, permutation)
    finally:
        torch.set_num_threads(threads)


def _ascend(objective, start, steps, lr, momentum, l2, blur_sigma, permutation) -> torch.Tensor:
    with torch.inference_mode(False), torch.enable_grad():
        x = start.detach().clone().requires_grad_(True)
        optimizer = torch.optim.SGD([x], lr=lr, momentum=momentum, weight_decay=l2)
        for _ in range(steps):
            # Only the image's gradient: the network's own .grad fields stay untouched.
            (x.grad,) = torch.autograd.grad(-objective(x).sum(), x)
            optimizer.step()
            if blur_sigma > 0:
                with torch.no_grad():
                    x.copy_(_blur(x, blur_sigma, permutation))
    return x.detach()


def _blur(x: torch.Tensor, sigma: float, permutation: torch.Tensor | None) -> torch.Tensor:
    size = 2 * math.ceil(2 * sigma) + 1
    blurred = gaussian_blur(readable(x, permutation), [size, size], [sigma, sigma])
    return blurred if permutation is None else permute_pixels(blurred, permutation)


def class_log_prob(
    model: nn.Module, classes: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Objective: image b's log-probability of class `classes[b]`."""
    return lambda x: model(x).log_softmax(1)[torch.arange(len(x)), classes]


def unit_activation(
    model: nn.Module, layer: nn.Module, units: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Objective: image b's output of unit `units[b]` of `layer` (a conv channel: at the centre)."""

    def objective(x: torch.Tensor) -> torch.Tensor:
        captured = []
        handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
        try:
            model(x)
        finally:
            handle.remove()
        out = captured[0][torch.arange(len(x)), units]
        if out.dim() == 3:  # conv: [B, H, W] feature maps
            out = out[:, out.shape[1] // 2, out.shape[2] // 2]
        return out

    return objective


def default_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The last conv layer, or for an MLP the last hidden linear layer (the first if only one)."""
    named = list(model.named_modules())
    convs = [(n, m) for n, m in named if isinstance(m, nn.Conv2d)]
    if convs:
        return convs[-1]
    linears = [(n, m) for n, m in named if isinstance(m, nn.Linear)]
    return linears[-2] if len(linears) > 1 else linears[0]


def starting_images(
    start: Start, count: int, datamodule: ImageDataModule, seed: int = 0
) -> torch.Tensor:
    side = datamodule.image_size
    if start == "zero":
        return torch.zeros(count, 1, side, side)
    if start == "random":
        return torch.randn(count, 1, side, side, generator=torch.Generator().manual_seed(seed))
    if start == "dataset":
        x, _ = datamodule.model_inputs(
            "val", torch.arange(count) % len(datamodule.splits["val"][1])
        )
        return x.cpu()
    raise ValueError(f"start must be 'zero', 'random' or 'dataset', got {start!r}")


def activation_figures(
    model: nn.Module,
    datamodule: ImageDataModule,
    start: Start = "zero",
    steps: int = 200,
    lr: float = 0.1,
    momentum: float = 0.5,
    l2: float = 0.0,
    blur_sigma: float = 0.0,
    layer: str | None = None,
    max_units: int = 25,
    seed: int = 0,
    context: str | None = None,
):
    """Figures `activations/classes` (one image per class) and `activations/units` (a grid over
    the units of `layer`, a module name of `model` such as `net.features.3`; default: see
    `default_layer`). Titles name the run: `context`, or else `describe_run(model, datamodule)`."""
    datamodule.setup()
    context = context or describe_run(model, datamodule)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    permutation = datamodule.permutation
    options = dict(steps=steps, lr=lr, momentum=momentum, l2=l2, blur_sigma=blur_sigma)
    options["permutation"] = None if permutation is None else permutation.to(device)
    how = (
        f"{steps} steps of SGD from {start}"
        + (f", L2 {l2}" if l2 else "")
        + (f", blur {blur_sigma}" if blur_sigma else "")
    )

    classes = torch.arange(datamodule.num_classes, device=device)
    start_images = starting_images(start, len(classes), datamodule, seed).to(device)
    images = maximize(class_log_prob(model, classes), start_images, **options).cpu()
    views, row_labels = [images], ["model input"]
    if permutation is not None:
        views, row_labels = [images, readable(images, permutation)], ["model input", "un-permuted"]
    figures = {
        "activations/classes": grid_figure(
            torch.cat(views),
            len(classes),
            f"Images that maximise each class's log-probability ({how})",
            row_labels=row_labels if permutation is not None else None,
            col_labels=datamodule.class_names,
            scale="each",
            context=context,
            colorbar="pixel value",
        )
    }

    name, module = (layer, model.get_submodule(layer)) if layer else default_layer(model)
    num_units = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
    units = torch.arange(min(num_units, max_units), device=device)
    start_images = starting_images(start, len(units), datamodule, seed).to(device)
    images = maximize(unit_activation(model, module, units), start_images, **options).cpu()
    kind = "channels (centre position)" if isinstance(module, nn.Conv2d) else "units"
    shown = ", un-permuted" if permutation is not None else ""
    figures["activations/units"] = grid_figure(
        readable(images, permutation),
        math.ceil(math.sqrt(len(units))),  # a square grid: readable on a TensorBoard card
        f"Images that maximise {len(units)} {kind} of {name} "
        f"({type(module).__name__}){shown} ({how})",
        scale="each",
        context=context,
        colorbar="pixel value",
    )
    model.train(was_training)
    return figures
