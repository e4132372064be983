"""ArrayDataset and DataLoader: every sample once per pass, reproducible order per (seed, pass), one
vectorised read per batch, and clear errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.data.loader import ArrayDataset, DataLoader
from cnnumpy.data.transforms import ToFloat

FAST = settings(max_examples=40, deadline=None)


def numbered(n):
    """x[i] is a 2x2 image filled with i % 256, y[i] = i: a batch shows which samples it holds."""
    return ArrayDataset(np.repeat(np.arange(n) % 256, 4).reshape(n, 2, 2).astype(np.uint8), np.arange(n))


class Counting(ArrayDataset):
    """Counts batch() calls and refuses item-by-item access."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def batch(self, indices):
        self.calls += 1
        return super().batch(indices)

    def __getitem__(self, i):
        raise AssertionError("DataLoader read an item at a time")


@FAST
@given(n=st.integers(0, 60), batch_size=st.integers(1, 25), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**32))
def test_each_sample_once_per_pass(n, batch_size, shuffle, drop_last, seed):
    loader = DataLoader(numbered(n), batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    batches = list(loader)
    full, rest = divmod(n, batch_size)
    assert len(loader) == len(batches) == full + (rest > 0 and not drop_last)
    assert all(len(x) == len(y) == batch_size for x, y in batches[:full])
    seen = np.concatenate([y for _, y in batches]) if batches else np.array([], int)
    expected = n if not drop_last else full * batch_size
    assert len(seen) == expected and len(np.unique(seen)) == expected
    if not shuffle:
        assert np.array_equal(seen, np.arange(expected))
    for x, y in batches:
        assert np.array_equal(x[:, 0, 0], y % 256)  # images and labels stay paired


def test_order_depends_only_on_seed_and_pass():
    a = DataLoader(numbered(100), 10, shuffle=True, seed=7)
    b = DataLoader(numbered(100), 10, shuffle=True, seed=7)
    passes_a = [np.concatenate([y for _, y in a]) for _ in range(3)]
    passes_b = [np.concatenate([y for _, y in b]) for _ in range(3)]
    assert all(np.array_equal(p, q) for p, q in zip(passes_a, passes_b))
    assert not np.array_equal(passes_a[0], passes_a[1]) and not np.array_equal(passes_a[1], passes_a[2])
    assert a.epoch == 3
    # A resumed run: a fresh loader set to pass 2 replays pass 2.
    c = DataLoader(numbered(100), 10, shuffle=True, seed=7)
    c.epoch = 2
    assert np.array_equal(np.concatenate([y for _, y in c]), passes_a[2]) and c.epoch == 3
    assert np.array_equal(a.order(1), passes_a[1])
    other = DataLoader(numbered(100), 10, shuffle=True, seed=8)
    assert not np.array_equal(np.concatenate([y for _, y in other]), passes_a[0])


def test_pass_counter_advances_when_a_pass_starts():
    loader = DataLoader(numbered(10), 3, shuffle=True, seed=0)
    it = iter(loader)
    assert loader.epoch == 1
    next(it)  # an abandoned pass still counts
    first = np.concatenate([y for _, y in loader])
    assert loader.epoch == 2 and np.array_equal(first, loader.order(1))


def test_seed_none_follows_manual_seed():
    cnnumpy.manual_seed(3)
    a = DataLoader(numbered(50), 5, shuffle=True)
    cnnumpy.manual_seed(3)
    b = DataLoader(numbered(50), 5, shuffle=True)
    assert a.seed == b.seed and np.array_equal(a.order(0), b.order(0))
    # Without shuffling the global stream is left alone.
    cnnumpy.manual_seed(3)
    DataLoader(numbered(50), 5)
    assert cnnumpy.random.generator().integers(2**63) == a.seed


def test_one_vectorised_read_per_batch():
    ds = Counting(np.zeros((130, 28, 28), np.uint8), np.zeros(130, np.int64), transform=ToFloat())
    batches = list(DataLoader(ds, 64, shuffle=True, seed=0))
    assert ds.calls == 3 == len(batches)
    assert batches[0][0].shape == (64, 1, 28, 28) and batches[0][0].dtype == np.float32
    assert batches[-1][0].shape == (2, 1, 28, 28)


def test_array_dataset_items():
    ds = ArrayDataset(np.arange(12).reshape(3, 4), [5, 6, 7], transform=lambda x: x * 2)
    x, y = ds[1]
    assert np.array_equal(x, [8, 10, 12, 14]) and y == 6 and isinstance(y, int)
    assert len(ds) == 3 and ds.targets.tolist() == [5, 6, 7]


@pytest.mark.parametrize("x, y, transform, error, message", [
    (np.zeros((3, 2)), np.zeros(4), None, ValueError,
     r"y: expected shape \(3,\), one label per row of x, got shape \(4,\)"),
    (np.zeros((3, 2)), np.zeros((3, 1)), None, ValueError, r"got shape \(3, 1\)"),
    (np.float64(1.0), np.zeros(1), None, ValueError, r"x: expected an array with a first \(sample\) axis"),
    (np.zeros((3, 2)), np.zeros(3), "flip", TypeError, "transform: expected a callable or None, got str"),
])
def test_array_dataset_errors(x, y, transform, error, message):
    with pytest.raises(error, match=message):
        ArrayDataset(x, y, transform)


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(-5, 0), st.floats(allow_nan=False), st.text(max_size=3), st.booleans()))
def test_bad_batch_size_is_named(batch_size):
    with pytest.raises((TypeError, ValueError), match=r"batch_size: expected an int") as e:
        DataLoader(numbered(4), batch_size)
    assert repr(batch_size) in str(e.value) or str(batch_size) in str(e.value)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(shuffle=1), TypeError, "shuffle: expected True or False, got 1"),
    (dict(drop_last="no"), TypeError, "drop_last: expected True or False, got 'no'"),
    (dict(seed=-1), ValueError, "seed: expected an int >= 0, got -1"),
    (dict(seed=1.5), TypeError, "seed: expected an int, got 1.5"),
])
def test_flag_and_seed_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        DataLoader(numbered(4), 2, **kwargs)


def test_dataset_and_epoch_errors():
    with pytest.raises(TypeError, match=r"dataset: expected a dataset with len\(\) and batch\(indices\).* got list"):
        DataLoader([(1, 2)], 2)
    loader = DataLoader(numbered(4), 2)
    with pytest.raises(ValueError, match="epoch: expected an int >= 0, got -1"):
        loader.epoch = -1
