"""cnnumpy.data.DistributedSampler against torch.utils.data.DistributedSampler, and the DataLoader's sampler=."""
import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler as TorchSampler

from cnnumpy.data import ArrayDataset, DataLoader, DistributedSampler
from cnnumpy.data.distributed import shard
from tests import mpi

CASES = [(n, r, drop) for n in (0, 1, 5, 10, 11, 13) for r in (1, 2, 3, 4) for drop in (False, True)]


def torch_indices(n, r, rank, shuffle, seed=0, epoch=0, drop_last=False):
    s = TorchSampler(range(n), num_replicas=r, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
    s.set_epoch(epoch)
    return list(s)


@pytest.mark.parametrize("n, r, drop", CASES)
def test_unshuffled_shards_are_torchs(n, r, drop):
    for rank in range(r):
        ours = DistributedSampler(n, r, rank, shuffle=False, drop_last=drop)
        theirs = torch_indices(n, r, rank, False, drop_last=drop)
        assert list(ours) == theirs and len(ours) == len(theirs)


@pytest.mark.parametrize("n, r, drop", CASES)
def test_shards_of_torchs_permutation_are_torchs(n, r, drop):
    """The permutation is NumPy's, not torch's; given torch's, the padding and sharding are the same."""
    seed, epoch = 3, 2
    g = torch.Generator()
    g.manual_seed(seed + epoch)
    order = torch.randperm(n, generator=g).numpy()
    for rank in range(r):
        assert shard(order, r, rank, drop).tolist() == torch_indices(n, r, rank, True, seed, epoch, drop)


@pytest.mark.parametrize("n, r, drop", CASES)
def test_shards_are_equal_and_partition_the_data(n, r, drop):
    shards = [DistributedSampler(n, r, rank, seed=1, drop_last=drop).indices() for rank in range(r)]
    size = len(shards[0])
    assert all(len(s) == size for s in shards)
    together = np.concatenate(shards)
    if drop:  # every index at most once, the dropped tail shorter than r
        assert len(set(together.tolist())) == len(together)
        assert n - r < len(together) <= n
    else:  # every index at least once; the padding repeats fewer than r of them
        assert set(together.tolist()) == set(range(n)) and len(together) - n < r


def test_set_epoch_reshuffles_the_same_way_on_every_rank():
    a = [DistributedSampler(100, 2, rank, seed=5) for rank in range(2)]
    first = [s.indices() for s in a]
    for s in a:
        s.set_epoch(1)
    second = [s.indices() for s in a]
    assert not np.array_equal(first[0], second[0])
    assert sorted(np.concatenate(second).tolist()) == list(range(100))
    b = DistributedSampler(100, 2, 0, seed=5)
    b.set_epoch(1)
    assert np.array_equal(b.indices(), second[0])  # a pass depends on (seed, epoch) alone
    assert not np.array_equal(DistributedSampler(100, 2, 0, seed=6).indices(), first[0])


def test_dataloader_reads_the_samplers_indices_and_sets_its_epoch():
    x = np.arange(10, dtype=np.float32)[:, None]
    ds = ArrayDataset(x, np.arange(10))
    sampler = DistributedSampler(ds, num_replicas=2, rank=1, seed=0)
    loader = DataLoader(ds, batch_size=2, sampler=sampler)
    assert len(loader) == 3
    for epoch in range(2):
        ys = np.concatenate([y for _, y in loader])
        sampler.set_epoch(epoch)
        assert ys.tolist() == list(sampler) and sampler.epoch == epoch
    loader.epoch = 0  # a resumed training replays pass 0
    assert np.concatenate([y for _, y in loader]).tolist() == DistributedSampler(ds, 2, 1, seed=0).indices().tolist()


def test_dataloader_sampler_errors():
    ds = ArrayDataset(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="sampler: expected shuffle=False"):
        DataLoader(ds, shuffle=True, sampler=DistributedSampler(ds, 2, 0))
    with pytest.raises(TypeError, match="sampler: expected an iterable of indices with len"):
        DataLoader(ds, sampler=3)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dataset_or_len": 2.5}, TypeError, "dataset_or_len: expected a data set with len"),
    ({"rank": 2}, ValueError, r"rank: expected 0 <= rank < num_replicas = 2, got 2"),
    ({"num_replicas": 0}, ValueError, "num_replicas"),
    ({"shuffle": 1}, TypeError, "shuffle: expected True or False"),
])
def test_arguments_are_checked(kwargs, error, match):
    args = {"dataset_or_len": 10, "num_replicas": 2, "rank": 0, **kwargs}
    with pytest.raises(error, match=match):
        DistributedSampler(**args)


def test_defaults_come_from_comm_world():
    mpi.require()
    s = DistributedSampler(7)
    assert (s.num_replicas, s.rank, len(s)) == (1, 0, 7)
