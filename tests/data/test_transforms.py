"""Variant transforms: canvas placement keeps the whole image; the permutation is a bijection."""

from __future__ import annotations

import pytest
import torch

from mlp_vs_cnn.data.transforms import (
    VariantTransform,
    center_offsets,
    make_permutation,
    permute_pixels,
    place_on_canvas,
    random_offsets,
    unpermute_pixels,
)
from tests.conftest import make_images


def test_permutation_is_a_bijection_of_the_pixels():
    permutation = make_permutation(784, seed=0)
    assert torch.equal(permutation.sort().values, torch.arange(784))
    assert not torch.equal(permutation, torch.arange(784))


def test_permutation_is_fixed_by_its_seed():
    assert torch.equal(make_permutation(784, 3), make_permutation(784, 3))
    assert not torch.equal(make_permutation(784, 3), make_permutation(784, 4))


def test_permuting_keeps_every_pixel_value_and_unpermuting_restores_the_image():
    images, _ = make_images(8, seed=0)
    permutation = make_permutation(784, seed=0)
    permuted = permute_pixels(images, permutation)
    assert not torch.equal(permuted, images)
    assert torch.equal(permuted.flatten(1).sort().values, images.flatten(1).sort().values)
    assert torch.equal(unpermute_pixels(permuted, permutation), images)


def test_every_image_gets_the_same_permutation():
    images, _ = make_images(4, seed=0)
    permutation = make_permutation(784, seed=0)
    together = permute_pixels(images, permutation)
    one_by_one = torch.stack([permute_pixels(image[None], permutation)[0] for image in images])
    assert torch.equal(together, one_by_one)


def test_random_offsets_keep_the_image_inside_and_reach_every_position():
    offsets = random_offsets(20_000, 28, 56, generator=torch.Generator().manual_seed(0))
    assert offsets.min() == 0 and offsets.max() == 56 - 28
    assert len(offsets[:, 0].unique()) == 29


def test_shifted_images_keep_every_pixel_of_the_digit_on_the_canvas():
    images, _ = make_images(64, seed=0)
    offsets = random_offsets(64, 28, 56, generator=torch.Generator().manual_seed(0))
    canvas = place_on_canvas(images, 56, offsets)
    assert canvas.shape == (64, 56, 56)
    assert torch.equal(canvas.long().sum((1, 2)), images.long().sum((1, 2)))
    for image, picture, (row, col) in zip(images, canvas, offsets.tolist(), strict=True):
        assert torch.equal(picture[row : row + 28, col : col + 28], image)


def test_centred_images_sit_in_the_middle_of_the_canvas():
    images, _ = make_images(2, seed=0)
    canvas = place_on_canvas(images, 56, center_offsets(2, 28, 56))
    assert torch.equal(canvas[:, 14:42, 14:42], images)


def test_a_canvas_smaller_than_the_image_is_refused():
    images, _ = make_images(2, seed=0)
    with pytest.raises(ValueError, match="smaller"):
        place_on_canvas(images, 20, center_offsets(2, 28, 20))


def test_variant_transform_normalises_to_the_given_mean_and_std():
    images = torch.tensor([[[0, 255]]], dtype=torch.uint8)
    x = VariantTransform(mean=0.5, std=0.25)(images)
    assert x.shape == (1, 1, 1, 2) and x.dtype == torch.float32
    assert torch.allclose(x.flatten(), torch.tensor([-2.0, 2.0]))
    raw = VariantTransform(mean=0.5, std=0.25, normalize=False)(images)
    assert torch.allclose(raw.flatten(), torch.tensor([0.0, 1.0]))


def test_variant_transform_places_then_permutes_the_canvas():
    images, _ = make_images(4, seed=0)
    permutation = make_permutation(56 * 56, seed=1)
    offsets = random_offsets(4, 28, 56, generator=torch.Generator().manual_seed(0))
    transform = VariantTransform(0.0, 1.0, normalize=False, canvas_size=56, permutation=permutation)
    x = transform(images, offsets)
    assert x.shape == (4, 1, 56, 56)
    expected = permute_pixels(place_on_canvas(images, 56, offsets), permutation)
    assert torch.allclose(x[:, 0] * 255, expected.float())
