"""ArrayDataset and DataLoader: batches are read with one fancy-index each, never item by item.

A dataset here is anything with `len(ds)` and `ds.batch(indices) -> (x, y)`; its transform is a batch
transform, applied once to the whole (B, ...) batch. MNIST is an ArrayDataset whose arrays come from files.
"""
import numbers
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from ..nn import random
from ..nn import check


# A batch transform: (N, ...) array -> (N, ...) array (see transforms.py).
Transform = Callable[[np.ndarray], np.ndarray]


class Dataset(Protocol):
    """What a DataLoader reads: len(ds) and ds.batch(indices) -> (x, y), e.g. an ArrayDataset."""

    def __len__(self) -> int: ...

    def batch(self, indices: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...


class ArrayDataset:
    """Images and labels held in memory: item i is (transform(x[i:i+1])[0], y[i]).

    x: (N, ...) array of any dtype, kept as `data`; y: (N,) labels, kept as `targets`.
    transform: a batch transform (N, ...) -> (N, ...), e.g. Compose([ToFloat(), Normalize(...)]), or None.
    """

    def __init__(self, x: ArrayLike, y: ArrayLike, transform: Transform | None = None) -> None:
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 1:
            raise ValueError(f"x: expected an array with a first (sample) axis, got shape {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"y: expected shape ({len(x)},), one label per row of x, got shape {y.shape}")
        self.data, self.targets, self.transform = x, y, checked_transform(transform)

    def __len__(self):
        return len(self.data)

    def batch(self, indices: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """indices: (B,) ints -> (transform(data[indices]), targets[indices])."""
        x, y = self.data[indices], self.targets[indices]
        return (x if self.transform is None else self.transform(x)), y

    def __getitem__(self, i):
        """One (x, y): x as the transform makes it (a batch of one, unwrapped), y a Python int for labels (an
        array for targets that have a shape, such as a segmentation mask)."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"index: expected an int, got {type(i).__name__}; use batch(indices) for many")
        if not -len(self) <= i < len(self):
            raise IndexError(f"index: expected -{len(self)} <= index < {len(self)}, got {i}")
        x, y = self.batch([int(i)])
        return x[0], (y[0].item() if y[0].ndim == 0 else y[0])

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} items, x {self.data.shape[1:]} {self.data.dtype})"


class DataLoader:
    """Batches (x, y) of a dataset, in order or reshuffled on every pass.

    The k-th pass over the loader (k = `epoch` when it starts, then `epoch` += 1) visits the
    permutation drawn from np.random.default_rng([seed, k]): it depends on (seed, k) alone, so setting
    `loader.epoch = k` replays pass k exactly, which is what a resumed training needs.
    seed: int >= 0, or None to draw one from cnnumpy's generator (reproducible after cnnumpy.manual_seed).
    len(loader) = ceil(N / batch_size), or floor(N / batch_size) with drop_last (the short last batch dropped).
    sampler: instead of shuffle, the indices to read (an iterable with len(), such as a DistributedSampler,
    where N is then len(sampler)); if it has set_epoch, pass k first calls sampler.set_epoch(k), so a resumed
    training replays its passes too.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 64, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, sampler: Any = None) -> None:
        if not (hasattr(dataset, "__len__") and callable(getattr(dataset, "batch", None))):
            raise TypeError(f"dataset: expected a dataset with len() and batch(indices) -> (x, y), such as MNIST "
                            f"or ArrayDataset, got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = check.positive_int("batch_size", batch_size)
        self.shuffle = flag("shuffle", shuffle)
        self.drop_last = flag("drop_last", drop_last)
        if sampler is not None and not (hasattr(sampler, "__len__") and hasattr(sampler, "__iter__")):
            raise TypeError(f"sampler: expected an iterable of indices with len(), such as DistributedSampler, "
                            f"got {type(sampler).__name__}")
        if sampler is not None and self.shuffle:
            raise ValueError("sampler: expected shuffle=False with a sampler (the sampler says the order), "
                             "got shuffle=True")
        self.sampler = sampler
        if seed is None:
            # Drawn only when needed, so a loader without shuffling leaves the global stream untouched.
            seed = int(random.generator().integers(2**63)) if shuffle else 0
        self.seed = check.positive_int("seed", seed, minimum=0)
        self.epoch = 0

    @property
    def epoch(self):
        """The number of passes started so far: the next pass is pass `epoch`."""
        return self._epoch

    @epoch.setter
    def epoch(self, k):
        self._epoch = check.positive_int("epoch", k, minimum=0)

    def __len__(self):
        n, b = len(self.dataset if self.sampler is None else self.sampler), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of pass `epoch`, (N,): 0..N-1, or a permutation drawn from (seed, epoch), or the
        sampler's for that pass."""
        if self.sampler is not None:
            if callable(getattr(self.sampler, "set_epoch", None)):
                self.sampler.set_epoch(epoch)
            return np.fromiter(self.sampler, dtype=np.int64, count=len(self.sampler))
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # The order is fixed and the counter advanced here, when the pass starts, not at its first batch.
        order = self.order(self.epoch)
        self.epoch += 1
        return self._batches(order)

    def _batches(self, order):
        b = self.batch_size
        for start in range(0, len(self) * b, b):
            yield self.dataset.batch(order[start:start + b])

    def __repr__(self):
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch}"
                + (f", sampler={self.sampler!r})" if self.sampler is not None else ")"))


def checked_transform(transform):
    """transform, if it is None or callable; else a TypeError. Datasets call it before reading any file."""
    if transform is not None and not callable(transform):
        raise TypeError(f"transform: expected a callable or None, got {type(transform).__name__}")
    return transform


def flag(name, value):
    """A bool (Python or NumPy) -> bool; anything else, even 0 or 1, is a TypeError naming the argument."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r} ({type(value).__name__})")
    return bool(value)
