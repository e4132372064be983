"""Batch transforms: ToFloat and Normalize against torch (what torchvision's ToTensor and Normalize compute),
RandomShift against a shift by slices, and their error messages."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.data.transforms import Compose, Normalize, RandomShift, ToFloat
from tests.util import assert_close

FAST = settings(max_examples=30, deadline=None)


def pixels(shape, seed=0, low=0):
    return np.random.default_rng(seed).integers(low, 256, size=shape).astype(np.uint8)


@pytest.mark.parametrize("shape, out", [((5, 7, 6), (5, 1, 7, 6)), ((4, 3, 5, 5), (4, 3, 5, 5))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_float_matches_torch(shape, out, dtype):
    x = pixels(shape)
    y = ToFloat(dtype)(x)
    ref = torch.from_numpy(x).to(torch.float32 if dtype == np.float32 else torch.float64).div(255)
    assert y.shape == out and y.dtype == dtype
    assert_close("ToFloat", y, ref.reshape(out), 0.0)  # torchvision's ToTensor: img.float().div(255)
    assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mean, std, channels", [(0.1307, 0.3081, 1), ([0.4, 0.5, 0.6], [0.2, 0.25, 0.3], 3),
                                                 (0.5, [0.1, 0.2], 2)])
def test_normalize_matches_torch(dtype, mean, std, channels):
    x = np.random.default_rng(1).random((4, channels, 5, 6)).astype(dtype)
    y = Normalize(mean, std)(x)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    m = torch.as_tensor(np.broadcast_to(mean, channels).copy(), dtype=tdtype).view(-1, 1, 1)
    s = torch.as_tensor(np.broadcast_to(std, channels).copy(), dtype=tdtype).view(-1, 1, 1)
    assert y.dtype == dtype
    assert_close("Normalize", y, torch.from_numpy(x).sub(m).div(s), 0.0)  # torchvision: tensor.sub_(m).div_(s)


def test_compose_applies_in_order():
    x = pixels((2, 3, 3))
    y = Compose([ToFloat(), Normalize(0.5, 0.5)])(x)
    assert np.array_equal(y, (x[:, None].astype(np.float32) / 255 - 0.5) / np.float32(0.5))
    assert Compose([])(x) is x
    assert np.array_equal(Compose([lambda a: a + 1, lambda a: a * 2])(np.array([1])), [4])


def shifted(x, dy, dx):
    """x (..., H, W) moved dy rows down and dx columns right, zeros where nothing moved in: the reference."""
    h, w = x.shape[-2:]
    y = np.zeros_like(x)
    if abs(dy) < h and abs(dx) < w:
        y[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return y


def shifts_of(x, y, s):
    """For each image, the (dy, dx) in [-s, s]^2 whose reference shift gives y[n]; fails if there is none."""
    found = []
    for xn, yn in zip(x, y):
        hits = [(dy, dx) for dy in range(-s, s + 1) for dx in range(-s, s + 1)
                if np.array_equal(shifted(xn, dy, dx), yn)]
        assert hits, "an image is not a shift of its input within max_shift"
        found.append(hits[0])
    return found


@FAST
@given(s=st.integers(0, 3), shape=st.sampled_from([(6, 5, 7), (4, 2, 6, 5)]), seed=st.integers(0, 1000),
       dtype=st.sampled_from([np.uint8, np.float32]))
def test_random_shift_is_a_bounded_translation(s, shape, seed, dtype):
    x = pixels(shape, seed, low=1).astype(dtype)  # no zero pixel, so every shift is recognisable
    y = RandomShift(s, seed=seed)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    shifts_of(x, y, s)  # the same shift for every channel of an image, within [-s, s]


def test_random_shift_draws_every_shift():
    x = pixels((400, 6, 6), low=1)
    found = shifts_of(x, RandomShift(1, seed=0)(x), 1)
    counts = np.unique(np.array(found), axis=0, return_counts=True)[1]
    assert len(counts) == 9 and counts.min() > 20, counts  # ~44 each of the 9 shifts


def test_random_shift_reproducible_and_identity():
    x = pixels((8, 28, 28))
    assert np.array_equal(RandomShift(2, seed=5)(x), RandomShift(2, seed=5)(x))
    t = RandomShift(2, seed=5)
    assert not np.array_equal(t(x), t(x))  # the generator moves on between batches
    cnnumpy.manual_seed(4)
    a = RandomShift(2)(x)
    cnnumpy.manual_seed(4)
    assert np.array_equal(RandomShift(2)(x), a)
    assert np.array_equal(RandomShift(0)(x), x)
    assert np.array_equal(RandomShift(3, seed=np.random.default_rng(1))(x), RandomShift(3, seed=1)(x))
    small = pixels((30, 4, 5), low=1)
    found = shifts_of(small, RandomShift(7, seed=0)(small), 7)  # shifts past the border leave black images
    assert any(abs(dy) >= 4 or abs(dx) >= 5 for dy, dx in found)


@pytest.mark.parametrize("make, x, error, message", [
    (ToFloat, np.zeros((2, 3, 3), np.float32), TypeError, "x: expected uint8 pixels, got float32"),
    (ToFloat, np.zeros((3, 3), np.uint8), ValueError,
     r"x: expected 3 \(N, H, W\) or 4 \(N, C, H, W\) dimensions, got 2"),
    (ToFloat, [[1]], TypeError, "x: expected a numpy.ndarray, got list"),
    (lambda: Normalize(0.5, 0.5), np.zeros((2, 3, 3), np.float32), ValueError, "x: expected 4 dimensions"),
    (lambda: Normalize(0.5, 0.5), np.zeros((2, 1, 3, 3), np.uint8), TypeError, "x: expected a floating dtype"),
    (lambda: Normalize([0.1, 0.2], 0.5), np.zeros((2, 3, 3, 3)), ValueError,
     r"mean: expected 1 or 3 values \(x has 3 channels\), got 2"),
    (lambda: RandomShift(1), np.zeros((3, 3)), ValueError, "x: expected 3 .* got 2"),
    (lambda: RandomShift(1), [[[1]]], TypeError, "x: expected a numpy.ndarray, got list"),
])
def test_call_errors(make, x, error, message):
    with pytest.raises(error, match=message):
        make()(x)


@pytest.mark.parametrize("make, error, message", [
    (lambda: ToFloat(np.int32), TypeError, "dtype: expected a floating dtype .* got int32"),
    (lambda: Normalize(0.5, 0), ValueError, "std: expected values > 0, got 0"),
    (lambda: Normalize(0.5, [0.2, -0.1]), ValueError, r"std: expected values > 0, got \[0.2, -0.1\]"),
    (lambda: Normalize("0.5", 0.5), ValueError, "mean: expected a finite number .* got '0.5'"),
    (lambda: Normalize(True, 0.5), ValueError, "mean: expected a finite number .* got True"),
    (lambda: Normalize([], 0.5), ValueError, r"mean: expected a finite number .* got \[\]"),
    (lambda: Normalize(0.5, float("nan")), ValueError, "std: expected a finite number .* got nan"),
    (lambda: Normalize([[0.5]], 0.5), ValueError, r"mean: .* got \[\[0.5\]\]"),
    (lambda: Compose(ToFloat()), TypeError, "transforms: expected a list of callables, got ToFloat"),
    (lambda: Compose([ToFloat(), 3]), TypeError, r"transforms\[1\]: expected a callable, got int"),
    (lambda: RandomShift(-1), ValueError, "max_shift: expected an int >= 0, got -1"),
    (lambda: RandomShift(1.5), TypeError, "max_shift: expected an int, got 1.5"),
    (lambda: RandomShift(1, seed="a"), TypeError, "seed: expected an int, got 'a'"),
])
def test_construction_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


@FAST
@given(std=st.one_of(st.floats(max_value=0.0, allow_nan=False), st.lists(st.floats(-1.0, 0.0), min_size=1,
                                                                           max_size=3)))
def test_non_positive_std_is_named(std):
    with pytest.raises(ValueError, match=r"^std: expected (values > 0|a finite number)"):
        Normalize(0.0, std)
