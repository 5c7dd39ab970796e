"""How accuracy and predictions change when test images move on the canvas.

`shift_robustness` moves every test image by each (dx, dy) of a grid around the centre of the
canvas and measures accuracy there, then the accuracy as a function of the distance moved, and
the consistency of Zhang 2019 ("Making Convolutional Networks Shift-Invariant Again"): the
probability that two independent uniformly random positions of the same image get the same
predicted class (right or wrong), once over the whole canvas and once for positions within a
small radius of the centre (`local_radius`); and the measure of Azulay & Weiss 2019 ("Why do
deep convolutional networks generalize so poorly to small image transformations?"): the
probability that moving an image by one pixel changes its predicted class. Images are placed
with the data pipeline's own `place_on_canvas` (through `VariantTransform`), many shifts of many
images per forward pass.

`mlp_vs_cnn.callbacks.ShiftRobustness` runs it after `trainer.test` for runs on a canvas and
writes the result to TensorBoard, to PNG files and to the run's metrics.json.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from mlp_vs_cnn.data.transforms import VariantTransform, center_offsets, random_offsets
from mlp_vs_cnn.visualize.figures import (
    chance_line,
    integer_ticks,
    new_figure,
    outside_legend,
    percent_axis,
    suptitle,
)

log = logging.getLogger(__name__)


@dataclass
class ShiftRobustness:
    """Accuracy over a grid of shifts (dx to the right, dy down, in pixels from the centre)."""

    shifts: list[int]  # the values of dx and of dy on the grid
    accuracy: list[list[float]]  # accuracy[i][j] at dy = shifts[i], dx = shifts[j]
    distances: list[int]  # rounded Euclidean distances from the centre
    accuracy_by_distance: list[float]  # mean accuracy over the grid points at each distance
    consistency: float  # P(same predicted class for two random positions on the whole canvas)
    num_images: int  # test images behind the grid accuracies
    num_consistency_images: int  # test images behind the consistency
    local_radius: int | None = None  # largest |dx|, |dy| of the local consistency's positions
    local_consistency: float | None = None  # the same for two random shifts within local_radius
    # P(the predicted class changes when the image moves one pixel), from a random position
    one_pixel_change: float | None = None

    @property
    def centre_accuracy(self) -> float:
        middle = self.shifts.index(0) if 0 in self.shifts else len(self.shifts) // 2
        return self.accuracy[middle][middle]

    @property
    def mean_accuracy(self) -> float:
        return sum(map(sum, self.accuracy)) / len(self.shifts) ** 2

    def summary(self) -> dict[str, float]:
        """Scalar results, named as logged metrics."""
        summary = {
            "shift/consistency": self.consistency,
            "shift/acc_centre": self.centre_accuracy,
            "shift/acc_mean": self.mean_accuracy,
            "shift/acc_farthest": self.accuracy_by_distance[-1],
        }
        if self.local_consistency is not None:
            summary["shift/consistency_local"] = self.local_consistency
        if self.one_pixel_change is not None:
            summary["shift/one_pixel_change"] = self.one_pixel_change
        return summary


@torch.no_grad()
def _predict(net: nn.Module, transform: VariantTransform, images, offsets, batch_size: int):
    """Predicted classes of uint8 images [M, h, w] placed at corners offsets [M, 2]."""
    predictions = []
    for start in range(0, len(images), batch_size):
        x = transform(images[start : start + batch_size], offsets[start : start + batch_size])
        predictions.append(net(x).argmax(dim=1))
    return torch.cat(predictions)


@torch.no_grad()
def shift_robustness(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    transform: VariantTransform,
    max_shift: int | None = None,
    step: int = 1,
    num_images: int | None = 1000,
    num_consistency_images: int | None = None,
    batch_size: int = 1024,
    seed: int = 0,
    local_radius: int | None = None,
) -> ShiftRobustness:
    """Accuracy of `net` over a (dx, dy) grid of test-image shifts, by distance, and consistency.

    Args:
        net: the network, in eval mode, on the device of `images`.
        images, labels: uint8 test images [N, h, w] (before placement) and their classes.
        transform: the data config's transform, with its `canvas_size` (placement, normalisation).
        max_shift: largest |dx| and |dy|; default (canvas - image) // 2, the whole canvas.
        step: spacing of the grid in pixels.
        num_images: first images used for the grid (None = all).
        num_consistency_images: first images used for the consistency (None = all).
        batch_size: images per forward pass.
        seed: seed of the random positions of the consistency.
        local_radius: also measure the consistency for two shifts drawn uniformly from
            [-local_radius, local_radius] on each axis around the centre (None = skip). Over the
            whole canvas a net trained on centred images is near chance at most positions, so
            that consistency mostly measures which classes it guesses; this one measures how
            stable its prediction is under the small shifts it could plausibly absorb.
    """
    canvas, size = transform.canvas_size, images.shape[-1]
    if canvas is None:
        raise ValueError("shift robustness needs a data config with a canvas (data.canvas_size)")
    slack = (canvas - size) // 2
    max_shift = slack if max_shift is None else max_shift
    for name, value in (("max_shift", max_shift), ("local_radius", local_radius)):
        if value is not None and not 0 <= value <= slack:
            raise ValueError(f"{name} must be in [0, {slack}] on a {canvas}x{canvas} canvas")
    device = images.device
    values = torch.arange(-max_shift, max_shift + 1, step, device=device)
    dy, dx = torch.meshgrid(values, values, indexing="ij")
    shifts = torch.stack([dy.flatten(), dx.flatten()], dim=1)  # [K, 2] as (row, col)

    grid_images, grid_labels = images[:num_images], labels[:num_images]
    n, k = len(grid_images), len(shifts)
    corners = center_offsets(n * k, size, canvas, device=device) + shifts.repeat(n, 1)
    predicted = _predict(net, transform, grid_images.repeat_interleave(k, 0), corners, batch_size)
    correct = (predicted.view(n, k) == grid_labels.to(device)[:, None]).float().mean(dim=0)
    accuracy = correct.view(len(values), len(values))

    distance = shifts.float().norm(dim=1).round().long()
    bins = torch.unique(distance)
    by_distance = [correct[distance == d].mean().item() for d in bins]

    pair_images = images[:num_consistency_images]
    m = len(pair_images)
    generator = torch.Generator().manual_seed(seed)
    pairs = [random_offsets(m, size, canvas, generator) for _ in range(2)]
    if local_radius is not None:
        centre = center_offsets(m, size, canvas)
        width = 2 * local_radius + 1
        pairs += [
            centre + torch.randint(width, (m, 2), generator=generator) - local_radius
            for _ in range(2)
        ]
    pairs.append(one_pixel_away(pairs[0], size, canvas, generator))  # Azulay & Weiss's pair
    # Positions compared: (0, 1) over the whole canvas, (2, 3) local, (0, last) one pixel apart.
    predicted = _predict(
        net,
        transform,
        pair_images.repeat(len(pairs), 1, 1),
        torch.cat(pairs).to(device),
        batch_size,
    ).view(-1, m)

    def agreement(a: int, b: int) -> float:
        return (predicted[a] == predicted[b]).float().mean().item()

    return ShiftRobustness(
        shifts=values.tolist(),
        accuracy=accuracy.tolist(),
        distances=bins.tolist(),
        accuracy_by_distance=by_distance,
        consistency=agreement(0, 1),
        num_images=n,
        num_consistency_images=m,
        local_radius=local_radius,
        local_consistency=agreement(2, 3) if local_radius is not None else None,
        one_pixel_change=1.0 - agreement(0, len(pairs) - 1),
    )


def one_pixel_away(
    corners: torch.Tensor, size: int, canvas: int, generator: torch.Generator
) -> torch.Tensor:
    """`corners` [m, 2] each moved by one pixel, right or down (drawn at random for each), or left
    or up where the image already touches that edge of the canvas."""
    image, axis = torch.arange(len(corners)), torch.randint(2, (len(corners),), generator=generator)
    step = torch.where(corners[image, axis] < canvas - size, 1, -1)
    moved = corners.clone()
    moved[image, axis] += step
    return moved


def heatmap_figure(result: ShiftRobustness, title: str = "", context: str = "") -> Figure:
    """Accuracy over (dx, dy) as an image, the centred position in the middle.

    Args:
        title: what the figure shows (default: says it).
        context: the run, the last line of the title (see `mlp_vs_cnn.visualize.describe_run`).
    """
    fig = new_figure(5.4, 5.0)
    suptitle(fig, title or "Test accuracy by shift of the image", context)
    ax = fig.add_subplot()
    lo, hi = result.shifts[0], result.shifts[-1]
    half = (result.shifts[1] - lo) / 2 if len(result.shifts) > 1 else 0.5
    image = ax.imshow(
        result.accuracy,
        origin="upper",
        vmin=0,
        vmax=1,
        cmap="viridis",
        extent=(lo - half, hi + half, hi + half, lo - half),
    )
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_label(f"test accuracy ({result.num_images:,} images at each shift)")
    percent_axis(bar.ax.yaxis)
    ax.set(xlabel="dx (pixels, right)", ylabel="dy (pixels, down)")
    step = result.shifts[1] - lo if len(result.shifts) > 1 else 1
    for axis in (ax.xaxis, ax.yaxis):  # ticks on grid points, 0 among them, at most 8 of them
        integer_ticks(axis, base=step * -(-len(result.shifts) // 8))
    ax.plot(0, 0, marker="+", color="white", markersize=10)  # the centred position
    return fig


SERIES_STYLES = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))  # (marker, line style)


def distance_figure(
    curves: Mapping[str, ShiftRobustness | Sequence[ShiftRobustness]],
    title: str = "",
    context: str = "",
    chance: float | None = 0.1,
) -> Figure:
    """Accuracy against the distance of the shift, one line per labelled result; a label with
    several results (seeds) gets their mean and a band of ± one standard deviation.

    Args:
        curves: label -> result or results; labels are shown in a legend outside the plot
            unless there is a single unlabelled curve. Results of one label whose distances
            differ from its first (another grid) are left out.
        title: what the figure shows (default: says it).
        context: the run, the last line of the title.
        chance: accuracy of guessing (1 / number of classes) drawn as a dashed line; None = none.
    """
    fig = new_figure(8.0 if any(curves) else 5.6, 4.2)
    suptitle(fig, title or "Test accuracy against the distance of the shift", context)
    ax = fig.add_subplot()
    spread = False
    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, results) in enumerate(curves.items()):
        results = [results] if isinstance(results, ShiftRobustness) else list(results)
        distances = results[0].distances
        runs = np.array([r.accuracy_by_distance for r in results if r.distances == distances])
        mean = runs.mean(axis=0)
        # Past the colour cycle, each round of colours gets its own marker and line style, so
        # that no two series look alike.
        style = divmod(i, len(colours))[0] % len(SERIES_STYLES)
        marker, linestyle = SERIES_STYLES[style]
        (line,) = ax.plot(
            distances, mean, color=colours[i % len(colours)], marker=marker, markersize=3,
            linestyle=linestyle, label=label or None,
        )  # fmt: skip
        if len(runs) > 1:
            std = runs.std(axis=0, ddof=1)  # sample std, as in the report's tables
            ax.fill_between(
                distances, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0
            )
            spread = True
    chance_line(ax, chance)
    ax.set(xlabel="distance of the shift from the centre (pixels)", ylim=(0, 1))
    ax.set_ylabel("test accuracy" + (" (mean ± std over runs)" if spread else ""))
    percent_axis(ax.yaxis)
    integer_ticks(ax.xaxis)
    ax.grid(alpha=0.3)
    if any(curves):
        outside_legend(ax, fontsize=8)
    return fig
