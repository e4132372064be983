"""DistributedSampler: the share of a data set's indices that one rank reads, as torch.utils.data.DistributedSampler.

With n samples, R replicas and S = ceil(n / R) samples per rank (floor((n - R) / R) + 1 = ceil((n - R) / R)
with drop_last when R does not divide n), pass k:

    order   = a permutation of 0..n-1 drawn from seed + k (shuffle), else 0..n-1
    order   = order + order[:R*S - n]   (padded by repeating its first indices, so every rank gets S)
              or order[:R*S]           (drop_last: the tail dropped)
    rank r  gets order[r::R]           (every R-th index, starting at r)

so the ranks' shares are disjoint (but for the padding), of equal size, and together cover the data set.
Every rank draws the same permutation (same seed, same pass), and none needs to talk to the others.
The permutation is NumPy's (np.random.default_rng(seed + k)), not torch's: the shards of a given order are
torch's, the order itself differs.
"""
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..nn import check
from .loader import flag


def shard(order: np.ndarray, num_replicas: int, rank: int, drop_last: bool = False) -> np.ndarray:
    """order: (n,) indices -> rank's (S,) share: padded by repeating (or cut, drop_last) to R*S, then order[rank::R]."""
    n, r = len(order), num_replicas
    size = (n - r) // r + 1 if drop_last and n % r else -(-n // r)  # torch's num_samples: ceil((n - R) / R)
    total = size * r
    if total > n:
        order = np.resize(order, total)  # np.resize repeats the array from its start: torch's padding
    return order[:total][rank::r]


class DistributedSampler:
    """The indices rank `rank` of `num_replicas` reads in each pass; see the module docstring.

    dataset_or_len: a data set (anything with len()) or its length n >= 0.
    num_replicas, rank: default MPI.COMM_WORLD's size and rank (mpi4py imported only then).
    shuffle: a new permutation every pass, drawn from seed + epoch; seed: int >= 0, the same on every rank.
    drop_last: drop the tail that would not fill every rank's share, instead of padding with repeated indices.
    iter(sampler) -> the (S,) indices of pass `epoch`; len(sampler) = S. Call set_epoch(k) before pass k (the
    DataLoader does when given this sampler), or every pass repeats the order of pass 0, as torch's.
    """

    def __init__(self, dataset_or_len: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if isinstance(dataset_or_len, numbers.Integral) and not isinstance(dataset_or_len, bool):
            n = check.positive_int("dataset_or_len", int(dataset_or_len), minimum=0)
        elif hasattr(dataset_or_len, "__len__"):
            n = len(dataset_or_len)
        else:
            raise TypeError(f"dataset_or_len: expected a data set with len() or an int, "
                            f"got {type(dataset_or_len).__name__}")
        if num_replicas is None or rank is None:
            from ..nn.distributed import world
            comm = world()
            num_replicas = comm.Get_size() if num_replicas is None else num_replicas
            rank = comm.Get_rank() if rank is None else rank
        self.num_replicas = check.positive_int("num_replicas", num_replicas)
        rank = check.positive_int("rank", rank, minimum=0)
        if rank >= self.num_replicas:
            raise ValueError(f"rank: expected 0 <= rank < num_replicas = {self.num_replicas}, got {rank}")
        self.rank = rank
        self.n = n
        self.shuffle = flag("shuffle", shuffle)
        self.seed = check.positive_int("seed", seed, minimum=0)
        self.drop_last = flag("drop_last", drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The pass the next iteration draws its permutation for."""
        self.epoch = check.positive_int("epoch", epoch, minimum=0)

    def order(self) -> np.ndarray:
        """The (n,) order of the whole data set in this pass, the same on every rank."""
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng(self.seed + self.epoch).permutation(self.n)

    def indices(self) -> np.ndarray:
        """This rank's (S,) indices of this pass."""
        return shard(self.order(), self.num_replicas, self.rank, self.drop_last)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        r = self.num_replicas
        return (self.n - r) // r + 1 if self.drop_last and self.n % r else -(-self.n // r)

    def __repr__(self) -> str:
        return (f"DistributedSampler({self.n} items, num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch})")
