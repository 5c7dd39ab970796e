"""What the network receives: the un-permuted view of permuted inputs is the original image."""

from __future__ import annotations

import pytest
import torch

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.visualize.figures import readable
from mlp_vs_cnn.visualize.samples import class_samples


@pytest.mark.parametrize(
    "scope",
    [
        dict(),
        dict(permutation_scope="within_blocks", block_size=4),
        dict(permutation_scope="blocks", block_size=7),
    ],
)
def test_unpermuted_view_of_permuted_samples_equals_the_original_images(fixture_data_dir, scope):
    common = dict(dataset="MNIST", data_dir=str(fixture_data_dir), download=False, val_size=100)
    original = ImageDataModule(**common)
    permuted = ImageDataModule(**common, permutation_seed=7, **scope)
    original_images, original_index = class_samples(original, per_class=4)
    permuted_images, permuted_index = class_samples(permuted, per_class=4)
    assert torch.equal(original_index, permuted_index)
    assert not torch.equal(permuted_images, original_images)
    assert torch.equal(readable(permuted_images, permuted.permutation), original_images)
