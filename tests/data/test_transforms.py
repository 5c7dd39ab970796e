"""Variant transforms: canvas placement keeps the whole image; the permutations are bijections,
and the block ones shuffle only inside blocks or only whole blocks."""

from __future__ import annotations

import pytest
import torch

from mlp_vs_cnn.data.transforms import (
    VariantTransform,
    block_positions,
    center_offsets,
    make_permutation,
    permute_pixels,
    place_on_canvas,
    random_offsets,
    shuffle_blocks,
    shuffle_within_blocks,
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


BLOCK_SIZES = [1, 2, 4, 7, 14, 28]
BLOCK_SHUFFLES = [shuffle_within_blocks, shuffle_blocks]


@pytest.mark.parametrize("shuffle", BLOCK_SHUFFLES)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_block_permutations_are_bijections_of_the_pixels(shuffle, block_size):
    permutation = shuffle(28, block_size, seed=0)
    assert permutation.dtype == torch.long
    assert torch.equal(permutation.sort().values, torch.arange(784))


@pytest.mark.parametrize("shuffle", BLOCK_SHUFFLES)
@pytest.mark.parametrize("block_size", [2, 4, 7, 14])
def test_block_permutations_are_fixed_by_their_seed(shuffle, block_size):
    assert torch.equal(shuffle(28, block_size, 3), shuffle(28, block_size, 3))
    assert not torch.equal(shuffle(28, block_size, 3), shuffle(28, block_size, 4))


def test_shuffling_within_1x1_blocks_or_one_28x28_block_as_a_whole_changes_nothing():
    assert torch.equal(shuffle_within_blocks(28, 1, seed=5), torch.arange(784))
    assert torch.equal(shuffle_blocks(28, 28, seed=5), torch.arange(784))


def test_shuffling_within_one_28x28_block_or_shuffling_1x1_blocks_is_the_full_permutation():
    assert torch.equal(shuffle_within_blocks(28, 28, seed=5), make_permutation(784, seed=5))
    assert torch.equal(shuffle_blocks(28, 1, seed=5), make_permutation(784, seed=5))


def test_block_positions_cut_the_image_into_its_blocks_in_reading_order():
    blocks = block_positions(4, 2)
    assert blocks.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]


@pytest.mark.parametrize("block_size", [2, 4, 7, 14])
def test_shuffling_within_blocks_moves_every_pixel_only_inside_its_own_block(block_size):
    permutation = shuffle_within_blocks(28, block_size, seed=3)
    rows, cols = torch.arange(784) // 28, torch.arange(784) % 28
    source_rows, source_cols = permutation // 28, permutation % 28
    assert torch.equal(source_rows // block_size, rows // block_size)
    assert torch.equal(source_cols // block_size, cols // block_size)
    # The same shuffle in every block: each pixel comes from the same offset in its block.
    offsets = (source_rows % block_size) * block_size + source_cols % block_size
    by_block = offsets[block_positions(28, block_size)]
    assert (by_block == by_block[0]).all()
    assert not torch.equal(by_block[0], torch.arange(block_size * block_size))


@pytest.mark.parametrize("block_size", [2, 4, 7, 14])
def test_shuffling_blocks_keeps_each_block_contiguous_and_intact(block_size):
    images, _ = make_images(4, seed=0)
    shuffled = permute_pixels(images, shuffle_blocks(28, block_size, seed=3))
    n = 28 // block_size

    def blocks_of(x: torch.Tensor) -> torch.Tensor:  # [B, n * n, k, k], blocks in reading order
        k = block_size
        return x.view(-1, n, k, n, k).permute(0, 1, 3, 2, 4).reshape(-1, n * n, k, k)

    before, after = blocks_of(images), blocks_of(shuffled)
    moved_from = []
    for b in range(n * n):
        sources = [a for a in range(n * n) if torch.equal(after[:, b], before[:, a])]
        assert sources, f"block {b} of the shuffled images is no block of the originals"
        moved_from.append(sources[0])
    assert sorted(moved_from) == list(range(n * n))
    assert moved_from != list(range(n * n))


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


def test_a_pixel_transform_is_applied_after_the_placement_and_before_the_permutation():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8, generator=g)
    offsets = torch.tensor([[0, 0], [28, 28], [5, 9], [14, 3]])
    permutation = make_permutation(56 * 56, seed=1)
    flipped = VariantTransform(
        0.0, 1.0, normalize=False, canvas_size=56, permutation=permutation, pixels=torch.fliplr
    )  # a transform that moves pixels: its order against the permutation shows
    placed = place_on_canvas(images, 56, offsets)
    expected = permute_pixels(torch.fliplr(placed), permutation).unsqueeze(1) / 255
    assert torch.allclose(flipped(images, offsets), expected, atol=1e-6)
    flipped_after = torch.fliplr(permute_pixels(placed, permutation)).unsqueeze(1) / 255
    assert not torch.allclose(expected, flipped_after)
