"""Shift robustness on hand-made networks whose answers under shifts are known exactly, and
its figures: whole-pixel ticks, a stated colour scale, the spread over seeds, the run named."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlp_vs_cnn.analysis.shift import (
    ShiftRobustness,
    distance_figure,
    heatmap_figure,
    one_pixel_away,
    shift_robustness,
)
from mlp_vs_cnn.data.transforms import VariantTransform

CANVAS = 56


def canvas_transform() -> VariantTransform:
    return VariantTransform(mean=0.0, std=1.0, normalize=False, canvas_size=CANVAS)


class CountBrightPixels(nn.Module):
    """Class = number of bright pixels / 4 - 1, wherever they are: ignores position entirely."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = (x > 0.5).flatten(1).sum(dim=1)
        return nn.functional.one_hot(count // 4 - 1, 10).float()


class ReadOnePixel(nn.Module):
    """Class 1 if the canvas pixel at (row, col) is bright, else class 0."""

    def __init__(self, row: int, col: int) -> None:
        super().__init__()
        self.row, self.col = row, col

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixel = x[:, 0, self.row, self.col]
        return torch.stack([0.5 - pixel, pixel - 0.5], dim=1)


def test_a_network_that_ignores_position_has_flat_accuracy_and_consistency_one():
    labels = torch.arange(200) % 10
    images = torch.zeros(200, 28, 28, dtype=torch.uint8)
    for i, k in enumerate(labels.tolist()):
        images[i].view(-1)[100 : 100 + 4 * (k + 1)] = 255  # 4(k+1) bright pixels
    result = shift_robustness(
        CountBrightPixels(), images, labels, canvas_transform(), step=2, local_radius=4
    )
    assert result.shifts == list(range(-14, 15, 2))
    assert all(acc == 1.0 for row in result.accuracy for acc in row)
    assert result.accuracy_by_distance == [1.0] * len(result.distances)
    assert result.consistency == 1.0
    assert result.local_consistency == 1.0
    assert result.summary()["shift/consistency_local"] == 1.0


def test_a_network_that_reads_one_pixel_fails_once_the_image_moves_off_it():
    # Half the images are blank (class 0), half fully bright (class 1). The net reads the canvas
    # pixel 5 below and 5 right of the centre: a bright image covers it iff its corner, centred at
    # 14 + shift, is at most 33 and at least 6 on each axis, i.e. iff dx >= -8 and dy >= -8.
    n = 4000
    labels = torch.arange(n) % 2
    images = (labels[:, None, None] * 255).expand(n, 28, 28).to(torch.uint8).contiguous()
    result = shift_robustness(
        ReadOnePixel(33, 33), images, labels, canvas_transform(), num_images=20, seed=1
    )
    for i, dy in enumerate(result.shifts):
        for j, dx in enumerate(result.shifts):
            expected = 1.0 if dx >= -8 and dy >= -8 else 0.5
            assert result.accuracy[i][j] == expected, (dy, dx)
    assert result.centre_accuracy == 1.0
    # Nothing is lost up to distance 8; at the corners (distance 20) three of four fail.
    assert result.accuracy_by_distance[:9] == [1.0] * 9
    assert result.accuracy_by_distance[-1] == (1.0 + 3 * 0.5) / 4
    # Random corners are uniform on 0..28 per axis; 23 of the 29 cover the pixel.
    covered = (23 / 29) ** 2
    expected_consistency = 0.5 + 0.5 * (covered**2 + (1 - covered) ** 2)
    assert math.isclose(result.consistency, expected_consistency, abs_tol=0.03)


def test_local_consistency_only_draws_shifts_within_its_radius():
    # The net reads the canvas pixel at (39, 39): a bright image covers it iff its corner, at
    # 14 + shift on each axis, is at least 39 - 27 = 12, i.e. iff dx >= -2 and dy >= -2. Shifts
    # uniform on -4..4 cover it with probability (7/9)^2 per position; blank images are class 0
    # at every position. Over the whole canvas (corners 0..28) it is (17/29)^2.
    n = 6000
    labels = torch.arange(n) % 2
    images = (labels[:, None, None] * 255).expand(n, 28, 28).to(torch.uint8).contiguous()
    net, transform = ReadOnePixel(39, 39), canvas_transform()
    result = shift_robustness(net, images, labels, transform, num_images=2, local_radius=4)

    def agreement(covered: float) -> float:
        return 0.5 + 0.5 * (covered**2 + (1 - covered) ** 2)

    assert result.local_radius == 4
    assert math.isclose(result.local_consistency, agreement((7 / 9) ** 2), abs_tol=0.02)
    assert math.isclose(result.consistency, agreement((17 / 29) ** 2), abs_tol=0.02)
    # Radius 0 puts both copies at the centre: always the same prediction.
    centred = shift_robustness(net, images, labels, transform, num_images=2, local_radius=0)
    assert centred.local_consistency == 1.0
    # Without a radius there is no local consistency, and none in the summary.
    plain = shift_robustness(net, images, labels, transform, num_images=2)
    assert plain.local_consistency is None and "shift/consistency_local" not in plain.summary()
    with pytest.raises(ValueError, match="local_radius must be in"):
        shift_robustness(net, images, labels, transform, local_radius=15)


def curve(accuracy_by_distance: list[float]) -> ShiftRobustness:
    """A result with accuracy `accuracy_by_distance[d]` at distance d (d = 0, 1, 2, ...)."""
    shifts = [-1, 0, 1]
    return ShiftRobustness(
        shifts=shifts,
        accuracy=[[accuracy_by_distance[0]] * 3] * 3,
        distances=list(range(len(accuracy_by_distance))),
        accuracy_by_distance=accuracy_by_distance,
        consistency=1.0,
        num_images=10,
        num_consistency_images=10,
    )


def visible_ticks(axis) -> list[float]:
    low, high = sorted(axis.get_view_interval())
    return [t for t in axis.get_ticklocs() if low <= t <= high]


def test_the_heatmap_ticks_whole_pixels_states_its_scale_and_names_the_run():
    images = torch.zeros(10, 28, 28, dtype=torch.uint8)
    images.view(10, -1)[:, :8] = 255
    labels = torch.ones(10, dtype=torch.long)
    result = shift_robustness(CountBrightPixels(), images, labels, canvas_transform(), step=2)
    fig = heatmap_figure(result, "accuracy by shift", context="cnn_small on mnist_shifted")
    fig.canvas.draw()
    ax, colour_bar = fig.axes
    assert fig.get_suptitle() == "accuracy by shift\ncnn_small on mnist_shifted"
    for axis in (ax.xaxis, ax.yaxis):
        ticks = visible_ticks(axis)
        assert 0 in ticks and len(ticks) >= 3
        assert all(t in result.shifts for t in ticks), ticks  # grid points, whole pixels
    assert colour_bar.get_ylabel() == "test accuracy (10 images at each shift)"
    assert colour_bar.get_ylim() == (0, 1)
    assert [t.get_text() for t in colour_bar.get_yticklabels()][::2] == ["0%", "40%", "80%"]


def test_the_distance_curve_shows_mean_and_spread_over_seeds_chance_and_an_outside_legend():
    seeds = [curve([0.8, 0.6, 0.4]), curve([0.6, 0.4, 0.2])]
    fig = distance_figure(
        {"lenet5 (n=2)": seeds, "mlp (n=1)": curve([0.5, 0.2, 0.1])}, context="shift recipe"
    )
    fig.canvas.draw()
    (ax,) = fig.axes
    assert fig.get_suptitle().endswith("\nshift recipe")
    lenet5, mlp, chance = ax.get_lines()
    assert lenet5.get_ydata() == pytest.approx([0.7, 0.5, 0.3])
    assert chance.get_ydata() == [0.1, 0.1]
    (band,) = ax.collections  # one band: only lenet5 has several seeds
    std = math.sqrt(0.02)  # sample std of two values 0.2 apart
    corners = band.get_paths()[0].vertices
    for x, mean in zip((0, 1, 2), (0.7, 0.5, 0.3), strict=True):
        ys = sorted({round(y, 6) for cx, y in corners if cx == x})
        assert ys == pytest.approx([mean - std, mean + std], abs=1e-5)
    assert all(float(t).is_integer() for t in visible_ticks(ax.xaxis))
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["lenet5 (n=2)", "mlp (n=1)"]
    assert legend.get_window_extent(renderer).x0 > ax.get_window_extent(renderer).x1


class ColumnParity(nn.Module):
    """Class = parity of the column of the image's first bright pixel: a move of one pixel right
    or left flips it, a move up or down does not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = x[:, 0] > 0.5
        column = bright.any(dim=1).float().argmax(dim=1)
        return nn.functional.one_hot(column % 2, 2).float()


def test_one_pixel_change_counts_the_predictions_a_one_pixel_move_changes():
    images = torch.zeros(4000, 28, 28, dtype=torch.uint8)
    images[:, 10:14, 10:14] = 255  # 16 bright pixels: class 3 for CountBrightPixels
    labels = torch.zeros(4000, dtype=torch.long)
    ignores = shift_robustness(CountBrightPixels(), images, labels, canvas_transform(), seed=3)
    assert ignores.one_pixel_change == 0.0
    parity = shift_robustness(ColumnParity(), images, labels, canvas_transform(), seed=3)
    # The move is to the side for half of the images, drawn at random: those change class.
    assert 0.45 < parity.one_pixel_change < 0.55
    assert parity.summary()["shift/one_pixel_change"] == parity.one_pixel_change


def test_a_one_pixel_move_stays_on_the_canvas_and_moves_one_pixel_along_one_axis():
    generator = torch.Generator().manual_seed(0)
    corners = torch.tensor([[0, 0], [28, 28], [28, 0], [5, 17]] * 50)
    moved = one_pixel_away(corners, 28, CANVAS, generator)
    assert ((moved - corners).abs().sum(dim=1) == 1).all()
    assert moved.min() >= 0 and moved.max() <= CANVAS - 28
