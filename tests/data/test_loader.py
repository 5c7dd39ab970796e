"""The in-memory batch loader: every sample once per epoch, sharded across ranks, resumable."""

from __future__ import annotations

import pytest
import torch

from mlp_vs_cnn.data.loader import EpochSampler, TensorBatchLoader


def make_loader(n=103, batch_size=10, shuffle=True, seed=0, rank=0, world_size=1, **kwargs):
    sampler = EpochSampler(
        n,
        shuffle,
        seed=seed,
        rank=rank,
        world_size=world_size,
        equal_shards=kwargs.pop("equal_shards", False),
    )
    return TensorBatchLoader((torch.arange(n), torch.arange(n) * 10), batch_size, sampler, **kwargs)


def seen(loader) -> torch.Tensor:
    return torch.cat([batch[0] for batch in loader])


@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_cover_every_index_exactly_once_per_epoch(shuffle):
    loader = make_loader(shuffle=shuffle)
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        batches = list(loader)
        assert len(batches) == len(loader) == 11
        assert torch.equal(torch.cat([b[0] for b in batches]).sort().values, torch.arange(103))


def test_batches_slice_all_tensors_with_the_same_index():
    for indices, tens in make_loader():
        assert torch.equal(tens, indices * 10)


def test_drop_last_drops_only_the_incomplete_batch():
    loader = make_loader(drop_last=True)
    assert len(loader) == 10
    assert all(len(b[0]) == 10 for b in loader)


def test_training_order_changes_between_epochs_and_repeats_for_the_same_seed():
    loader = make_loader()
    loader.sampler.set_epoch(0)
    first = seen(loader)
    loader.sampler.set_epoch(1)
    second = seen(loader)
    assert not torch.equal(first, second)
    again = make_loader()
    again.sampler.set_epoch(1)
    assert torch.equal(seen(again), second)


def test_evaluation_order_is_sequential():
    assert torch.equal(seen(make_loader(shuffle=False)), torch.arange(103))


@pytest.mark.parametrize("world_size", [2, 3])
def test_evaluation_shards_of_all_ranks_cover_every_index_once(world_size):
    shards = [
        seen(make_loader(shuffle=False, rank=r, world_size=world_size)) for r in range(world_size)
    ]
    assert torch.equal(torch.cat(shards).sort().values, torch.arange(103))


@pytest.mark.parametrize("world_size", [2, 3])
def test_training_shards_are_disjoint_equal_and_drop_fewer_than_world_size(world_size):
    loaders = [
        make_loader(rank=r, world_size=world_size, equal_shards=True) for r in range(world_size)
    ]
    shards = [seen(loader) for loader in loaders]
    assert len({len(s) for s in shards}) == 1 and len({len(lo) for lo in loaders}) == 1
    union = torch.cat(shards)
    assert len(union.unique()) == len(union) > 103 - world_size


def test_per_epoch_tensor_is_drawn_from_the_epoch_and_sliced_alongside():
    loader = make_loader(per_epoch=lambda epoch: torch.arange(103) + 1000 * epoch)
    loader.sampler.set_epoch(2)
    for indices, _, extra in loader:
        assert torch.equal(extra, indices + 2000)


def test_state_dict_resumes_mid_epoch_at_the_next_unseen_batch():
    loader = make_loader(per_epoch=lambda epoch: torch.arange(103) + 1000 * epoch)
    loader.sampler.set_epoch(1)
    full = list(loader)
    iterator = iter(loader)
    for _ in range(4):
        next(iterator)
    state = loader.state_dict()
    assert state == {"epoch": 1, "batches_done": 4}

    resumed = make_loader(per_epoch=lambda epoch: torch.arange(103) + 1000 * epoch)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == len(full) - 4
    for got, expected in zip(rest, full[4:], strict=True):
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    # The next epoch after the resumed one is complete again.
    resumed.sampler.set_epoch(2)
    assert len(list(resumed)) == len(full)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(batch_size=0)
