"""The DataModule: splits, one permutation for every split (whole image or block by block), fixed
and redrawn canvas positions."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from mlp_vs_cnn.data import DataFilesError, ImageDataModule
from mlp_vs_cnn.data.transforms import (
    make_permutation,
    shuffle_blocks,
    shuffle_within_blocks,
    unpermute_pixels,
)

# (data options, the permutation they give) for the three permutation scopes.
PERMUTATIONS = {
    "image": (dict(permutation_seed=7), make_permutation(784, seed=7)),
    "within_blocks": (
        dict(permutation_seed=7, permutation_scope="within_blocks", block_size=4),
        shuffle_within_blocks(28, 4, seed=7),
    ),
    "blocks": (
        dict(permutation_seed=7, permutation_scope="blocks", block_size=7),
        shuffle_blocks(28, 7, seed=7),
    ),
}


@pytest.fixture
def make_datamodule(fixture_data_dir):
    def _make(**kwargs) -> ImageDataModule:
        options = dict(
            data_dir=str(fixture_data_dir),
            download=False,
            val_size=100,
            batch_size=50,
            eval_batch_size=40,
            normalize=False,
        )
        datamodule = ImageDataModule(**{**options, **kwargs})
        datamodule.setup("fit")
        return datamodule

    return _make


def transformed(datamodule: ImageDataModule, loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(model input scaled back to 0..255, source uint8 images) of every batch of `loader`."""
    out = []
    for batch in loader:
        x, _ = datamodule.on_after_batch_transfer(batch)
        out.append(((x[:, 0] * 255).round().to(torch.uint8), batch[0]))
    return out


def loaders(datamodule: ImageDataModule):
    return {
        "train": datamodule.train_dataloader(),
        "val": datamodule.val_dataloader(),
        "test": datamodule.test_dataloader(),
    }


def test_splits_partition_the_training_images_with_a_fixed_seed(make_datamodule):
    datamodule = make_datamodule()
    train, val = datamodule.splits["train"][0], datamodule.splits["val"][0]
    assert (len(train), len(val), len(datamodule.splits["test"][0])) == (500, 100, 200)
    again = make_datamodule()
    assert torch.equal(again.splits["val"][0], val)
    other = make_datamodule(split_seed=1)
    assert not torch.equal(other.splits["val"][0], val)


@pytest.mark.parametrize("scope", PERMUTATIONS)
def test_permutation_is_the_same_for_train_val_and_test(make_datamodule, scope):
    options, permutation = PERMUTATIONS[scope]
    datamodule = make_datamodule(**options)
    assert torch.equal(datamodule.permutation, permutation)
    for split, loader in loaders(datamodule).items():
        for x, source in transformed(datamodule, loader):
            assert not torch.equal(x, source), split
            assert torch.equal(unpermute_pixels(x, permutation), source), split


@pytest.mark.parametrize("scope", PERMUTATIONS)
def test_permutation_is_fixed_by_permutation_seed(make_datamodule, scope):
    options, _ = PERMUTATIONS[scope]
    first = make_datamodule(**options).permutation
    assert torch.equal(first, make_datamodule(**options).permutation)
    assert not torch.equal(first, make_datamodule(**{**options, "permutation_seed": 8}).permutation)
    assert make_datamodule().permutation is None


@pytest.mark.parametrize("scope", PERMUTATIONS)
def test_permuted_checkpoint_state_restores_the_trained_permutation(make_datamodule, scope):
    options, _ = PERMUTATIONS[scope]
    trained = make_datamodule(**options)
    evaluated = make_datamodule(**{**options, "permutation_seed": 8})
    evaluated.load_state_dict(trained.state_dict())
    assert torch.equal(evaluated.permutation, trained.permutation)


@pytest.mark.parametrize(
    ("data", "block_size", "shuffle"),
    [
        ("mnist_block_local", 4, shuffle_within_blocks),
        ("fashion_block_local", 2, shuffle_within_blocks),
        ("mnist_block_shuffle", 7, shuffle_blocks),
        ("fashion_block_shuffle", 14, shuffle_blocks),
    ],
)
def test_block_configs_take_their_block_size_from_the_command_line(
    compose_cfg, data, block_size, shuffle
):
    cfg = compose_cfg(f"data={data}", f"data.block_size={block_size}")
    datamodule = instantiate(cfg.data, _convert_="all")
    seed = cfg.data.permutation_seed
    assert torch.equal(datamodule.permutation, shuffle(28, block_size, seed))


@pytest.mark.parametrize("data", ["mnist_block_local", "mnist_block_shuffle"])
def test_the_default_block_permutation_moves_nearly_every_pixel_at_every_scale(compose_cfg, data):
    cfg = compose_cfg(f"data={data}")
    scope, seed = cfg.data.permutation_scope, cfg.data.permutation_seed
    shuffle = shuffle_within_blocks if scope == "within_blocks" else shuffle_blocks
    identity = 1 if scope == "within_blocks" else 28
    for block_size in {1, 2, 4, 7, 14, 28} - {identity}:
        moved = shuffle(28, block_size, seed) != torch.arange(784)
        assert moved.float().mean() > 0.99, block_size


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_shifted_images_keep_every_pixel_of_the_digit_on_the_canvas(make_datamodule, split):
    datamodule = make_datamodule(canvas_size=56, image_size=56)
    for x, source in transformed(datamodule, loaders(datamodule)[split]):
        assert x.shape[1:] == (56, 56)
        assert torch.equal(x.long().sum((1, 2)), source.long().sum((1, 2)))


def test_validation_and_test_positions_repeat_across_epochs(make_datamodule):
    datamodule = make_datamodule(canvas_size=56, image_size=56)
    for split in ("val", "test"):
        loader = loaders(datamodule)[split]
        first = torch.cat([x for x, _ in transformed(datamodule, loader)])
        loader.sampler.set_epoch(1)
        second = torch.cat([x for x, _ in transformed(datamodule, loader)])
        assert torch.equal(first, second), split
        fresh = make_datamodule(canvas_size=56, image_size=56)
        assert torch.equal(
            first, torch.cat([x for x, _ in transformed(fresh, loaders(fresh)[split])])
        )


def test_validation_and_test_positions_differ_from_each_other_and_from_the_center(make_datamodule):
    datamodule = make_datamodule(canvas_size=56, image_size=56)
    val_offsets, test_offsets = datamodule.splits["val"][2], datamodule.splits["test"][2]
    assert not torch.equal(val_offsets, test_offsets[: len(val_offsets)])
    assert len(val_offsets.unique(dim=0)) > 50


def test_training_positions_change_between_epochs(make_datamodule):
    datamodule = make_datamodule(canvas_size=56, image_size=56)
    loader = datamodule.train_dataloader()

    def positions_by_image(epoch: int) -> torch.Tensor:
        loader.sampler.set_epoch(epoch)
        by_image = {}
        for images, _, offsets in loader:
            for image, offset in zip(images, offsets, strict=True):
                by_image[image.numpy().tobytes()] = offset
        return torch.stack([by_image[k] for k in sorted(by_image)])

    epoch0, epoch1 = positions_by_image(0), positions_by_image(1)
    assert (epoch0 != epoch1).any(dim=1).float().mean() > 0.9
    assert torch.equal(positions_by_image(0), epoch0)


def test_center_placement_puts_every_image_in_the_middle(make_datamodule):
    datamodule = make_datamodule(
        canvas_size=56, image_size=56, train_placement="center", eval_placement="center"
    )
    for split, loader in loaders(datamodule).items():
        for x, source in transformed(datamodule, loader):
            assert torch.equal(x[:, 14:42, 14:42], source), split


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(canvas_size=56), "set data.image_size=56"),
        (dict(image_size=56), "set data.image_size=28"),
        (dict(canvas_size=20, image_size=20), "canvas_size must be larger than 28"),
        (dict(canvas_size=28, image_size=28), "canvas_size must be larger than 28"),
        (dict(train_placement="left"), "train_placement must be 'random' or 'center'"),
        (dict(eval_placement="centre"), "eval_placement must be 'random' or 'center'"),
        (dict(dataset="CIFAR10"), "data.dataset must be one of"),
        (dict(val_size=0), "val_size"),
        (dict(permutation_scope="rows"), r"permutation_scope must be one of \('image', "),
        (dict(permutation_seed=0, block_size=4), "block_size=4 is only used with"),
        (
            dict(permutation_seed=0, permutation_scope="blocks", block_size=5),
            r"block_size must divide the image side 28, one of \(1, 2, 4, 7, 14, 28\)",
        ),
        (
            dict(permutation_seed=0, permutation_scope="within_blocks"),
            r"block_size must divide .* got None",
        ),
        (
            dict(
                permutation_seed=0,
                permutation_scope="blocks",
                block_size=4,
                canvas_size=56,
                image_size=56,
            ),
            "does not combine with a canvas",
        ),
        (
            dict(permutation_scope="within_blocks", block_size=4),
            "needs data.permutation_seed",
        ),
    ],
)
def test_inconsistent_data_options_are_refused_with_a_clear_message(
    fixture_data_dir, options, message
):
    with pytest.raises(ValueError, match=message):
        ImageDataModule(data_dir=str(fixture_data_dir), **options)


def test_a_validation_split_larger_than_the_data_is_refused(make_datamodule):
    with pytest.raises(DataFilesError, match="data.val_size=600 leaves no training images"):
        make_datamodule(val_size=600)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data=mnist_shifted", "data.image_size=28"], "set data.image_size=56"),
        (["data=mnist", "data.canvas_size=56"], "set data.image_size=56"),
        (["data=fashion_shifted", "data.train_placement=middle"], "train_placement"),
        (["data=mnist_block_local", "data.block_size=3"], "block_size must divide"),
        (["data=fashion_block_shuffle", "data.block_size=null"], "block_size must divide"),
    ],
)
def test_wrong_config_values_give_clear_errors(compose_cfg, overrides, message):
    cfg = compose_cfg(*overrides)
    with pytest.raises(Exception, match=message):
        instantiate(cfg.data, _convert_="all")


def test_a_shifted_config_with_another_canvas_size_gives_that_image_size(compose_cfg):
    cfg = compose_cfg("data=mnist_shifted", "data.canvas_size=64")
    assert cfg.data.image_size == 64 and cfg.model.image_size == 64
    assert instantiate(cfg.data, _convert_="all").image_size == 64


def test_training_batches_hold_batch_size_images(make_datamodule):
    datamodule = make_datamodule(batch_size=200)  # 500 training images
    datamodule.setup("fit")
    assert [len(labels) for _, labels in datamodule.train_dataloader()] == [200, 200, 100]


@pytest.mark.parametrize("regions", [2, 4])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_the_position_task_puts_each_image_inside_its_labelled_region(
    make_datamodule, regions, split
):
    names = ["left", "right"] if regions == 2 else ["tl", "tr", "bl", "br"]
    datamodule = make_datamodule(
        canvas_size=56, image_size=56, position_regions=regions, num_classes=regions,
        class_names=names,
    )  # fmt: skip
    counts = torch.zeros(regions)
    for batch in loaders(datamodule)[split]:
        x, labels = datamodule.on_after_batch_transfer(batch)
        bright = x[:, 0] > 0
        for image, label, source in zip(bright, labels.tolist(), batch[0], strict=True):
            rows, cols = (slice(0, 56), slice(0, 28)) if label % 2 == 0 else (None, slice(28, 56))
            if regions == 4:
                rows = slice(0, 28) if label < 2 else slice(28, 56)
            rows = rows or slice(0, 56)
            inside = image[rows, cols].sum()
            assert inside == image.sum() == (source > 0).sum()  # the whole image, all inside
            counts[label] += 1
    assert (counts > 0).all()  # every region is drawn


def test_a_position_task_whose_regions_cannot_hold_an_image_or_whose_classes_differ_is_refused(
    make_datamodule,
):
    with pytest.raises(ValueError, match="canvas_size >= 56"):
        make_datamodule(canvas_size=40, image_size=40, position_regions=2, num_classes=2)
    with pytest.raises(ValueError, match="num_classes=4"):
        make_datamodule(canvas_size=56, image_size=56, position_regions=4)
    with pytest.raises(ValueError, match="2 or 4"):
        make_datamodule(canvas_size=56, image_size=56, position_regions=3, num_classes=3)


def test_the_position_configs_label_by_region(compose_cfg):
    cfg = compose_cfg("data=fashion_position")
    assert (cfg.data.num_classes, list(cfg.data.class_names)) == (2, ["left", "right"])
    assert cfg.data.dataset == "FashionMNIST" and cfg.data.image_size == 56


def invert(images: torch.Tensor) -> torch.Tensor:
    """A variant's pixel transform, for the tests: 255 - x."""
    return 255 - images


def test_a_variant_names_its_pixel_transform_by_import_path(fixture_data_dir):
    data = ImageDataModule(data_dir=str(fixture_data_dir), pixel_transform=f"{__name__}.invert")
    assert data.transform.pixels is invert
    with pytest.raises(ValueError, match=r"data.pixel_transform=no.such: no function can be"):
        ImageDataModule(data_dir=str(fixture_data_dir), pixel_transform="no.such")
