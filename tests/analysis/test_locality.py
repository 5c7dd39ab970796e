"""The locality of a first layer: each unit's share of |weight| near its centre of mass, read
in pixel order (an MLP trained on permuted pixels un-permuted exactly)."""

from __future__ import annotations

import math

import pytest
import torch

from mlp_vs_cnn.analysis import window_share
from mlp_vs_cnn.data.transforms import make_permutation, permute_pixels
from mlp_vs_cnn.visualize.figures import readable


def test_a_map_inside_a_window_has_locality_one_and_a_uniform_map_its_area_share():
    inside = torch.zeros(28, 28)
    inside[10:15, 3:8] = torch.tensor([[1.0, -2.0, 3.0, -2.0, 1.0]] * 5)  # centred on (12, 5)
    corner = torch.zeros(28, 28)
    corner[0:3, 25:28] = 1.0  # its centre is 1 px from the edge: the window moves inside
    uniform = torch.ones(28, 28)
    share = window_share(torch.stack([inside, corner, uniform]), window=5)
    assert share[:2].tolist() == pytest.approx([1.0, 1.0])
    assert share[2].item() == pytest.approx(25 / 784)


def test_a_map_spread_over_two_far_corners_is_not_local():
    far = torch.zeros(28, 28)
    far[0, 0] = far[27, 27] = 1.0
    assert window_share(far[None], window=5).item() == 0.0


def test_a_unit_whose_weights_are_all_zero_has_no_locality():
    assert math.isnan(window_share(torch.zeros(1, 28, 28)).item())


def test_a_window_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="window"):
        window_share(torch.ones(2, 4, 4), window=5)


def test_un_permuting_the_weights_of_a_layer_trained_on_permuted_pixels_inverts_it_exactly():
    g = torch.Generator().manual_seed(0)
    permutation = make_permutation(28 * 28, seed=3)
    images = torch.randn(16, 1, 28, 28, generator=g)
    layer = torch.nn.Linear(28 * 28, 7, bias=False)
    seen = layer(permute_pixels(images, permutation).flatten(1))  # what the layer computes
    maps = readable(layer.weight.detach().view(7, 28, 28), permutation)
    assert torch.allclose(images.flatten(1) @ maps.flatten(1).T, seen, atol=1e-5)
    back = permute_pixels(maps, permutation).reshape(7, -1)  # and permuting again gives it back
    assert torch.equal(back, layer.weight.detach())
