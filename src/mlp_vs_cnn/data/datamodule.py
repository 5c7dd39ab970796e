"""One LightningDataModule for MNIST and Fashion-MNIST: original, shifted or permuted.

The whole dataset stays an in-memory uint8 tensor. Loaders hand out uint8 batches; the variant
(shift, permutation, normalisation) is applied in `on_after_batch_transfer`, once the batch is
on its device, so on a GPU it runs there.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

import lightning as L
import torch

from mlp_vs_cnn.data.idx import DataFilesError, load_split
from mlp_vs_cnn.data.loader import EpochSampler, TensorBatchLoader
from mlp_vs_cnn.data.transforms import (
    VariantTransform,
    center_offsets,
    make_permutation,
    random_offsets,
    region_of,
    region_offsets,
    shuffle_blocks,
    shuffle_within_blocks,
)

log = logging.getLogger(__name__)


def _in_process_group() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _destroy_process_group() -> None:
    if _in_process_group():
        torch.distributed.destroy_process_group()


_exit_cleanup_registered = False


def _destroy_process_group_at_exit() -> None:
    """Destroy this process's process group before the interpreter shuts down.

    Lightning does this only for NCCL. A gloo group (DDP on CPUs, `trainer=ddp_sim`) left to
    interpreter shutdown can abort a worker ("terminate called without an active exception").
    Registered once per process, from the first `setup` after the group exists.
    """
    global _exit_cleanup_registered
    if _in_process_group() and not _exit_cleanup_registered:
        atexit.register(_destroy_process_group)
        _exit_cleanup_registered = True


Placement = Literal["random", "center"]
PermutationScope = Literal["image", "within_blocks", "blocks"]
PERMUTATION_SCOPES = get_args(PermutationScope)
SOURCE_SIZE = 28  # side of the MNIST and Fashion-MNIST images
BLOCK_SIZES = tuple(k for k in range(1, SOURCE_SIZE + 1) if SOURCE_SIZE % k == 0)
DATASETS = ("MNIST", "FashionMNIST")


def default_data_dir() -> str:
    """`$DATA_DIR` if set; else `data/` in the project if it exists; else `../shared/data` beside
    the project if that exists (where this project's machines and CI keep both datasets, and where
    `make` looks too); else `data/`, where torchvision downloads them."""
    if os.environ.get("DATA_DIR"):
        return os.environ["DATA_DIR"]
    project = Path(__file__).resolve().parents[3]
    for folder in (project / "data", project.parent / "shared" / "data"):
        if folder.is_dir():
            return str(folder)
    return str(project / "data")


def split_indices(num_images: int, val_size: int, split_seed: int) -> tuple[torch.Tensor, ...]:
    """The validation and training indices of the training file: one permutation drawn from
    `split_seed`, its first `val_size` images held out (the same split in every run)."""
    order = torch.randperm(num_images, generator=torch.Generator().manual_seed(split_seed))
    return order[:val_size], order[val_size:]


def scoped_permutation(
    scope: PermutationScope, side: int, seed: int, block_size: int | None = None
) -> torch.Tensor:
    """The fixed pixel permutation of a side x side image for a `permutation_scope`."""
    if scope == "image":
        return make_permutation(side * side, seed)
    shuffle = shuffle_within_blocks if scope == "within_blocks" else shuffle_blocks
    return shuffle(side, block_size, seed)


def simplest_permutation_settings(data: dict) -> dict:
    """`data` (a data config's resolved values) with its pixel permutation in its simplest
    equivalent form, so that two configs that permute the pixels alike read alike: a block
    permutation that moves nothing (`within_blocks` with k = 1, `blocks` with k = the side) is
    no permutation (seed, scope and k at their defaults), and one that is a whole-image
    permutation (`within_blocks` with k = the side, `blocks` with k = 1) is scope `image` with
    the same seed, as `scoped_permutation` draws it."""
    scope, k = data.get("permutation_scope"), data.get("block_size")
    if data.get("permutation_seed") is None or scope not in ("within_blocks", "blocks"):
        return data
    identity = k == (1 if scope == "within_blocks" else SOURCE_SIZE)
    whole = k == (SOURCE_SIZE if scope == "within_blocks" else 1)
    if not (identity or whole):
        return data
    simplest = {**data, "permutation_scope": "image", "block_size": None}
    if identity:
        simplest["permutation_seed"] = None
    return simplest


def _check_position_task(
    regions: int, canvas_size: int | None, num_classes: int, placements: dict[str, str]
) -> None:
    """Refuse a position task whose regions cannot each hold a whole image, or whose labels
    are not its regions."""
    if regions not in (2, 4):
        raise ValueError(f"data.position_regions must be 2 or 4 (or null), got {regions}")
    if canvas_size is None or canvas_size < 2 * SOURCE_SIZE:
        raise ValueError(
            f"data.position_regions={regions} needs data.canvas_size >= {2 * SOURCE_SIZE} (each "
            f"region holds a whole {SOURCE_SIZE}x{SOURCE_SIZE} image), got {canvas_size}"
        )
    if num_classes != regions:
        raise ValueError(
            f"data.position_regions={regions} labels each image by its region: set "
            f"data.num_classes={regions}, got {num_classes}"
        )
    centred = [name for name, value in placements.items() if value == "center"]
    if centred:
        raise ValueError(
            f"data.{centred[0]}=center puts every image in the middle, in no region: the "
            f"position task places them itself (leave it at random)"
        )


def _check_permutation_scope(
    scope: str, block_size: int | None, seed: int | None, canvas_size: int | None
) -> None:
    """Refuse a permutation scope, block size, seed and canvas that do not go together."""
    if scope not in PERMUTATION_SCOPES:
        raise ValueError(
            f"data.permutation_scope must be one of {PERMUTATION_SCOPES}, got {scope!r}"
        )
    if scope == "image":
        if block_size is not None:
            raise ValueError(
                f"data.block_size={block_size} is only used with data.permutation_scope "
                f"'within_blocks' or 'blocks' (it is 'image'); set data.block_size=null."
            )
        return
    if block_size not in BLOCK_SIZES:
        raise ValueError(
            f"data.block_size must divide the image side {SOURCE_SIZE}, one of {BLOCK_SIZES}, "
            f"for data.permutation_scope={scope!r}; got {block_size}"
        )
    if canvas_size is not None:
        raise ValueError(
            f"data.permutation_scope={scope!r} cuts blocks from the {SOURCE_SIZE}x{SOURCE_SIZE} "
            f"image and does not combine with a canvas; set data.canvas_size=null."
        )
    if seed is None:
        raise ValueError(
            f"data.permutation_scope={scope!r} needs data.permutation_seed (null = no permutation)"
        )


def _pixel_transform(path: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function `data.pixel_transform` names by its import path."""
    module, _, name = path.rpartition(".")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        cause = " ".join(f"{type(err).__name__}: {err}".split())  # one line
        raise ValueError(
            f"data.pixel_transform={path}: no function can be imported from that path ({cause}); "
            f"give the import path of a function of a uint8 batch [B, H, W]"
        ) from None
    if not callable(function):
        raise ValueError(f"data.pixel_transform={path} is not a function")
    return function


class ImageDataModule(L.LightningDataModule):
    """MNIST or Fashion-MNIST, original, shifted, or permuted (whole image, or scale by scale).

    Args:
        dataset: "MNIST" or "FashionMNIST" (torchvision's folder names).
        data_dir: folder holding `<dataset>/raw/*-ubyte[.gz]`; only read, unless the files are
            absent and `download` is true.
        download: fetch the files with torchvision when they are absent.
        batch_size: training batch size (images per optimiser step).
        eval_batch_size: validation and test batch size.
        val_size: images of the 60,000 training images held out for validation.
        split_seed: seed of the train/validation split.
        normalize: subtract the dataset mean and divide by its std; false keeps pixels in [0, 1].
        mean, std: pixel statistics in [0, 1] of the dataset.
        canvas_size: side of the canvas each image is placed on (shifted), or null.
        train_placement, eval_placement: "random" (uniform position) or "center" on the canvas.
        eval_seed: seed of the validation and test positions, fixed so evaluation repeats.
        shuffle_seed: seed of the training order and training positions (set to the run's seed).
        permutation_seed: seed of the pixel permutation (permuted), or null for none.
        position_regions: the position task (Kayhan & van Gemert 2020): each image is put
            entirely inside one of 2 regions of the canvas (its left or right half) or 4 (its
            quadrants), drawn uniformly, and labelled by that region, not by its class; null
            for the dataset's own labels. Needs a canvas of at least twice the image side.
        permutation_scope: what the permutation shuffles: "image" (all pixels), "within_blocks"
            (the pixels inside each block_size x block_size block, the same way in every block) or
            "blocks" (whole blocks, their contents intact); see `transforms.shuffle_*`.
        block_size: side k of the blocks of the two block scopes; must divide 28. Not for "image"
            scope nor with a canvas (blocks are cut from the 28x28 image).
        image_size: side of the images the model receives; must match the variant. Model configs
            read it, so it is declared here rather than derived.
        num_classes: number of classes; model configs read it.
        class_names: one name per class, for figures.
        limit_train_samples, limit_eval_samples: keep only the first N images (quick checks).
        pixel_transform: the import path of a function uint8 [B, H, W] -> uint8 [B, H, W]
            applied to every batch of every split after the canvas placement and before the
            permutation (e.g. `mypackage.transforms.invert`), or null: a new variant is
            that function and a `conf/variant/` file that names it.
    """

    def __init__(
        self,
        dataset: str = "MNIST",
        data_dir: str | None = None,
        download: bool = True,
        batch_size: int = 256,
        eval_batch_size: int = 250,
        val_size: int = 5000,
        split_seed: int = 12345,
        normalize: bool = True,
        mean: float = 0.1307,
        std: float = 0.3081,
        canvas_size: int | None = None,
        train_placement: Placement = "random",
        eval_placement: Placement = "random",
        eval_seed: int = 0,
        shuffle_seed: int = 0,
        permutation_seed: int | None = None,
        permutation_scope: PermutationScope = "image",
        block_size: int | None = None,
        position_regions: int | None = None,
        image_size: int = SOURCE_SIZE,
        num_classes: int = 10,
        class_names: list[str] | None = None,
        limit_train_samples: int | None = None,
        limit_eval_samples: int | None = None,
        pixel_transform: str | None = None,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"data.dataset must be one of {DATASETS}, got {dataset!r}")
        placements = {"train_placement": train_placement, "eval_placement": eval_placement}
        for name, value in placements.items():
            if value not in ("random", "center"):
                raise ValueError(f"data.{name} must be 'random' or 'center', got {value!r}")
        if canvas_size is not None and canvas_size <= SOURCE_SIZE:
            raise ValueError(
                f"data.canvas_size must be larger than {SOURCE_SIZE} (a canvas the size of the "
                f"image cannot shift it), got {canvas_size}; null for unshifted images"
            )
        expected_size = canvas_size or SOURCE_SIZE
        if image_size != expected_size:
            raise ValueError(
                f"data.image_size is {image_size} but the images will be {expected_size}x"
                f"{expected_size} (canvas_size={canvas_size}); set data.image_size={expected_size}."
            )
        _check_permutation_scope(permutation_scope, block_size, permutation_seed, canvas_size)
        if position_regions is not None:
            _check_position_task(position_regions, canvas_size, num_classes, placements)
        if not 0 < val_size < 60_000:
            raise ValueError(f"data.val_size must be between 1 and 59999, got {val_size}")
        self.save_hyperparameters()
        self.dataset = dataset
        self.data_dir = data_dir or default_data_dir()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.image_size = image_size
        self.num_classes = num_classes
        self.class_names = list(class_names or map(str, range(num_classes)))
        permutation = (
            scoped_permutation(permutation_scope, image_size, permutation_seed, block_size)
            if permutation_seed is not None
            else None
        )
        pixels = _pixel_transform(pixel_transform) if pixel_transform is not None else None
        self.transform = VariantTransform(mean, std, normalize, canvas_size, permutation, pixels)
        self.splits: dict[str, tuple[torch.Tensor, ...]] = {}

    @property
    def permutation(self) -> torch.Tensor | None:
        return self.transform.permutation

    def setup(self, stage: str | None = None) -> None:
        _destroy_process_group_at_exit()
        if self.splits:
            return
        hp = self.hparams
        images, labels = load_split(self.data_dir, self.dataset, "train", hp.download)
        if hp.val_size >= len(images):  # known only once the files are read: a data error
            raise DataFilesError(
                f"data.val_size={hp.val_size} leaves no training images: the {self.dataset} files "
                f"in {self.data_dir} hold {len(images)}."
            )
        val_index, train_index = split_indices(len(images), hp.val_size, hp.split_seed)
        test_images, test_labels = load_split(self.data_dir, self.dataset, "test", hp.download)
        splits = {
            "train": (images[train_index], labels[train_index]),
            "val": (images[val_index], labels[val_index]),
            "test": (test_images, test_labels),
        }
        for name, (x, y) in splits.items():
            limit = hp.limit_train_samples if name == "train" else hp.limit_eval_samples
            if limit is not None:
                x, y = x[:limit], y[:limit]
            self.splits[name] = (x, y, *self._placements(name, len(x)))

    def _placements(self, split: str, n: int) -> tuple[torch.Tensor, ...]:
        """Canvas positions fixed once per evaluation split (training ones change every epoch)."""
        hp = self.hparams
        if hp.canvas_size is None or split == "train":
            return ()
        if hp.eval_placement == "center":
            return (center_offsets(n, SOURCE_SIZE, hp.canvas_size),)
        # A different stream per split, each fixed by eval_seed.
        generator = torch.Generator().manual_seed(hp.eval_seed + (split == "test"))
        return (self._random_offsets(n, generator),)

    def _train_placements(self, epoch: int) -> torch.Tensor:
        hp = self.hparams
        n = len(self.splits["train"][0])
        if hp.train_placement == "center":
            return center_offsets(n, SOURCE_SIZE, hp.canvas_size)
        generator = torch.Generator().manual_seed(hp.shuffle_seed * 1_000_003 + epoch)
        return self._random_offsets(n, generator)

    def _random_offsets(self, n: int, generator: torch.Generator) -> torch.Tensor:
        regions, canvas = self.hparams.position_regions, self.hparams.canvas_size
        if regions is None:
            return random_offsets(n, SOURCE_SIZE, canvas, generator=generator)
        return region_offsets(n, regions, SOURCE_SIZE, canvas, generator=generator)

    def _labels(self, labels: torch.Tensor, offsets: list[torch.Tensor]) -> torch.Tensor:
        """The dataset's labels, or in the position task the region each image was put in."""
        regions = self.hparams.position_regions
        if regions is None:
            return labels
        return region_of(offsets[0], regions, self.hparams.canvas_size).to(labels.device)

    def _loader(self, split: str, batch_size: int) -> TensorBatchLoader:
        tensors = self.splits[split]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        training = split == "train"
        sampler = EpochSampler(
            len(tensors[0]),
            shuffle=training,
            seed=self.hparams.shuffle_seed,
            rank=rank,
            world_size=world,
            equal_shards=training,
        )
        per_epoch = self._train_placements if training and self.hparams.canvas_size else None
        return TensorBatchLoader(tensors, batch_size, sampler, per_epoch=per_epoch)

    def train_dataloader(self) -> TensorBatchLoader:
        return self._loader("train", self.batch_size)

    def val_dataloader(self) -> TensorBatchLoader:
        return self._loader("val", self.eval_batch_size)

    def test_dataloader(self) -> TensorBatchLoader:
        return self._loader("test", self.eval_batch_size)

    def model_inputs(
        self, split: str, index: torch.Tensor, epoch: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images `index` of a split as the model receives them (float [n, 1, S, S]), and labels.

        For figures and analyses; training images sit where epoch `epoch` placed them.
        """
        self.setup()
        images, labels, *offsets = self.splits[split]
        if split == "train" and self.hparams.canvas_size:
            offsets = [self._train_placements(epoch)]
        offsets = [o[index] for o in offsets]
        return self.transform(images[index], *offsets), self._labels(labels[index], offsets)

    def on_after_batch_transfer(self, batch, dataloader_idx: int = 0):
        if isinstance(batch, torch.Tensor):  # the model summary's example input: a model input
            return batch
        images, labels, *offsets = batch
        return self.transform(images, *offsets), self._labels(labels, offsets)

    # The permutation travels with checkpoints so evaluation restores exactly the one trained on.
    def state_dict(self) -> dict:
        state = {"dataset": self.dataset, "image_size": self.image_size}
        if self.permutation is not None:
            state["permutation"] = self.permutation
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get("permutation")
        if self.permutation is not None and saved is not None:
            if not torch.equal(saved, self.permutation):
                log.warning("Using the pixel permutation stored in the checkpoint.")
            self.transform.set_permutation(saved)
