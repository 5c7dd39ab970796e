"""Batches sliced from in-memory tensors: one index operation per batch, no per-sample collate.

`TensorBatchLoader` stands where a `DataLoader` would. Lightning drives it like one: it calls
`sampler.set_epoch` before each epoch, and saves and restores `state_dict()` in checkpoints so
that a run stopped in the middle of an epoch resumes at the next unseen batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


class EpochSampler:
    """The order of the samples for one epoch, reproducible from (seed, epoch).

    In distributed training each rank takes every `world_size`-th index. Training shards are
    trimmed to the same length on every rank (DDP needs the same number of steps everywhere);
    evaluation shards keep every sample, so no image is dropped or counted twice.
    """

    def __init__(
        self,
        num_samples: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        equal_shards: bool = False,
    ) -> None:
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.equal_shards = equal_shards
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.equal_shards:
            return self.num_samples // self.world_size
        return len(range(self.rank, self.num_samples, self.world_size))

    def indices(self) -> torch.Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        if self.equal_shards:
            order = order[: len(self) * self.world_size]
        return order[self.rank :: self.world_size]


class TensorBatchLoader:
    """Yield tuples of batch slices of `tensors` (which share their first dimension).

    `per_epoch`, if given, makes one more tensor from the epoch number (say, random canvas
    positions for every sample), sliced alongside the others: redrawn each epoch, yet
    reproducible, and the same again after a resume.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        sampler: EpochSampler,
        drop_last: bool = False,
        per_epoch: Callable[[int], torch.Tensor] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.tensors = tensors
        self.per_epoch = per_epoch
        self.batch_size = batch_size
        self.sampler = sampler
        self.batch_sampler = None  # DataLoader's interface, which Lightning inspects
        self.drop_last = drop_last
        # Batches handed out in the current epoch, for a mid-epoch resume. Lightning fetches a batch
        # ahead only from loaders without a length, so for this one they are the batches trained.
        self._batches_done = 0
        self._resume_from = 0

    def __len__(self) -> int:
        rounding = math.floor if self.drop_last else math.ceil
        return rounding(len(self.sampler) / self.batch_size)

    def __iter__(self):
        order = self.sampler.indices()
        tensors = self.tensors
        if self.per_epoch is not None:
            tensors = (*tensors, self.per_epoch(self.sampler.epoch))
        start, self._resume_from = self._resume_from, 0
        for batch in range(start, len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            self._batches_done = batch + 1
            # index_select, not t[index]: 20x faster for a batch of MNIST images on this CPU.
            yield tuple(t.index_select(0, index) for t in tensors)
        self._batches_done = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self._batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.set_epoch(state["epoch"])
        self._resume_from = state["batches_done"]
