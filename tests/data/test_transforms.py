"""Batch transforms: ToFloat and Normalize against torch (what torchvision's ToTensor and Normalize compute),
RandomShift against a shift by slices, RandomCrop and RandomHorizontalFlip against per-image references with the
same draws (marked pixels land where the docstrings say), and their error messages."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.data.cifar import CIFAR10_MEAN, CIFAR10_STD
from cnnumpy.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomShift, ToFloat
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
                                                 (0.5, [0.1, 0.2], 2), (CIFAR10_MEAN, CIFAR10_STD, 3)])
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


def test_cifar10_constants_apply_per_channel():
    """Channel c is standardised by mean[c], std[c]: a constant image of the means becomes zeros, mean + std ones."""
    x = np.empty((2, 3, 4, 4), np.float64)
    x[0] = np.array(CIFAR10_MEAN)[:, None, None]
    x[1] = (np.array(CIFAR10_MEAN) + np.array(CIFAR10_STD))[:, None, None]
    y = Normalize(CIFAR10_MEAN, CIFAR10_STD)(x)
    np.testing.assert_allclose(y[0], 0, atol=1e-15)
    np.testing.assert_allclose(y[1], 1, rtol=1e-14)
    assert CIFAR10_MEAN == (0.4914, 0.4822, 0.4465) and CIFAR10_STD == (0.2470, 0.2435, 0.2616)


# --- RandomCrop ------------------------------------------------------------------------------------------

def crop_reference(x, size, padding, seed):
    """Per image, with the draws the docstring states: i then j from np.random.default_rng(seed)."""
    (h, w), p, n = size, padding, len(x)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, x.shape[-2] + 2 * p - h + 1, size=n)
    j = rng.integers(0, x.shape[-1] + 2 * p - w + 1, size=n)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)])
    return np.stack([padded[k, ..., i[k]:i[k] + h, j[k]:j[k] + w] for k in range(n)]), i, j


@FAST
@given(shape=st.sampled_from([(5, 3, 8, 7), (4, 6, 6), (3, 1, 5, 9)]), size=st.integers(1, 8),
       padding=st.integers(0, 3), seed=st.integers(0, 10**6), dtype=st.sampled_from([np.uint8, np.float32]))
def test_random_crop_matches_the_reference(shape, size, padding, seed, dtype):
    x = pixels(shape, seed).astype(dtype)
    h, w = shape[-2] + 2 * padding, shape[-1] + 2 * padding
    crop = RandomCrop((size, size + 1), padding=padding, seed=seed)
    if size > h or size + 1 > w:  # the window does not fit: the error names size and the padded size
        with pytest.raises(ValueError, match=rf"^size: expected at most the padded image size \({h}, {w}\)"):
            crop(x)
        return
    y = crop(x)
    ref, _, _ = crop_reference(x, (size, size + 1), padding, seed)
    assert y.shape == x.shape[:-2] + (size, size + 1) and y.dtype == x.dtype
    assert np.array_equal(y, ref)


def test_random_crop_with_padding_moves_a_marked_pixel_by_the_drawn_offset():
    """32x32 images, one pixel marked per image; RandomCrop(32, padding=4): the pixel at (r, c) lands at
    (r + 4 - i, c + 4 - j), everything else stays 0."""
    n = 200
    rng = np.random.default_rng(0)
    r, c = rng.integers(0, 32, size=(2, n))
    x = np.zeros((n, 3, 32, 32), np.uint8)
    x[np.arange(n), 1, r, c] = 255
    y = RandomCrop(32, padding=4, seed=11)(x)
    draws = np.random.default_rng(11)
    i, j = draws.integers(0, 9, size=n), draws.integers(0, 9, size=n)
    rows, cols = r + 4 - i, c + 4 - j
    inside = (rows >= 0) & (rows < 32) & (cols >= 0) & (cols < 32)
    expected = np.zeros_like(x)
    expected[np.arange(n)[inside], 1, rows[inside], cols[inside]] = 255
    assert np.array_equal(y, expected)
    assert inside.sum() > 150 and (~inside).sum() > 0  # both cases occurred
    assert set(i.tolist()) == set(range(9)) and set(j.tolist()) == set(range(9))


def test_random_crop_fills_zeros_where_the_padding_shows():
    """An image of ones: the crop is ones exactly on the rows and columns that came from the image."""
    x = np.ones((50, 3, 32, 32), np.float32)
    y = RandomCrop(32, padding=4, seed=3)(x)
    _, i, j = crop_reference(x, (32, 32), 4, 3)
    for k in range(50):
        rows = (np.arange(32) + i[k] - 4 >= 0) & (np.arange(32) + i[k] - 4 < 32)
        cols = (np.arange(32) + j[k] - 4 >= 0) & (np.arange(32) + j[k] - 4 < 32)
        assert np.array_equal(y[k], np.broadcast_to(np.outer(rows, cols), (3, 32, 32)).astype(np.float32))


def test_random_crop_is_a_bounded_shift_and_reproducible():
    x = pixels((8, 3, 10, 10), low=1)
    y = RandomCrop(10, padding=2, seed=5)(x)
    shifts_of(x, y, 2)  # every image is x shifted by at most 2, the same for its 3 channels
    assert np.array_equal(RandomCrop(10, padding=2, seed=5)(x), y)
    t = RandomCrop(10, padding=2, seed=5)
    assert not np.array_equal(t(x), t(x))  # the generator moves on between batches
    cnnumpy.manual_seed(2)
    a = RandomCrop(10, padding=2)(x)
    cnnumpy.manual_seed(2)
    assert np.array_equal(RandomCrop(10, padding=2)(x), a)
    assert np.array_equal(RandomCrop(10, padding=2, seed=np.random.default_rng(5))(x), y)
    assert np.array_equal(RandomCrop(10)(x), x)  # no padding, full size: nothing to choose
    assert RandomCrop(10)(x) is not x


# --- RandomHorizontalFlip --------------------------------------------------------------------------------

@FAST
@given(shape=st.sampled_from([(6, 3, 4, 5), (7, 4, 3)]), p=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
       seed=st.integers(0, 10**6), dtype=st.sampled_from([np.uint8, np.float64]))
def test_random_flip_mirrors_the_drawn_images(shape, p, seed, dtype):
    x = pixels(shape, seed).astype(dtype)
    before = x.copy()
    y = RandomHorizontalFlip(p, seed=seed)(x)
    flip = np.random.default_rng(seed).random(len(x)) < p
    assert y.shape == x.shape and y.dtype == x.dtype and np.array_equal(x, before)
    for n in range(len(x)):
        assert np.array_equal(y[n], x[n, ..., ::-1] if flip[n] else x[n])


def test_random_flip_moves_a_marked_pixel_to_its_mirror_column():
    x = np.zeros((300, 3, 32, 32), np.uint8)
    x[:, 2, 5, 7] = 200
    y = RandomHorizontalFlip(seed=0)(x)
    flipped = y[:, 2, 5, 32 - 1 - 7] == 200
    kept = y[:, 2, 5, 7] == 200
    assert np.all(flipped ^ kept) and np.count_nonzero(y) == 300
    assert 110 < flipped.sum() < 190, flipped.sum()  # p = 0.5
    assert np.array_equal(RandomHorizontalFlip(1.0)(x)[:, 2, 5, 24], np.full(300, 200))
    assert np.array_equal(RandomHorizontalFlip(0.0)(x), x)


def test_cifar10_pipeline():
    x = pixels((16, 3, 32, 32))
    augment = Compose([RandomCrop(32, padding=4, seed=1), RandomHorizontalFlip(seed=2), ToFloat(),
                       Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    y = augment(x)
    assert y.shape == (16, 3, 32, 32) and y.dtype == np.float32
    by_hand = RandomHorizontalFlip(seed=2)(RandomCrop(32, padding=4, seed=1)(x))
    assert np.array_equal(y, Normalize(CIFAR10_MEAN, CIFAR10_STD)(ToFloat()(by_hand)))


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
    (lambda: RandomCrop(2), np.zeros((3, 3)), ValueError, "x: expected 3 .* got 2"),
    (lambda: RandomCrop(2), [[[1]]], TypeError, "x: expected a numpy.ndarray, got list"),
    (lambda: RandomCrop(33), np.zeros((2, 3, 32, 32)), ValueError,
     r"size: expected at most the padded image size \(32, 32\) \(x \(32, 32\) with padding=0\), got \(33, 33\)"),
    (lambda: RandomCrop((41, 8), padding=4), np.zeros((2, 32, 32)), ValueError,
     r"size: expected at most the padded image size \(40, 40\) .* got \(41, 8\)"),
    (lambda: RandomHorizontalFlip(), np.zeros((2, 1, 1, 1, 1)), ValueError, "x: expected 3 .* got 5"),
    (lambda: RandomHorizontalFlip(), (1, 2), TypeError, "x: expected a numpy.ndarray, got tuple"),
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
    (lambda: RandomCrop(0), ValueError, "size: expected values >= 1, got 0"),
    (lambda: RandomCrop((32, 32, 3)), ValueError, r"size: expected an int or a pair of ints, got \(32, 32, 3\)"),
    (lambda: RandomCrop(2.5), TypeError, "size: expected an int or a pair of ints, got 2.5"),
    (lambda: RandomCrop(32, padding=-1), ValueError, "padding: expected an int >= 0, got -1"),
    (lambda: RandomCrop(32, padding=True), TypeError, "padding: expected an int, got True"),
    (lambda: RandomCrop(32, seed=-3), ValueError, "seed: expected an int >= 0, got -3"),
    (lambda: RandomHorizontalFlip(1.5), ValueError, r"p: expected a value in \[0, 1\], got 1.5"),
    (lambda: RandomHorizontalFlip("0.5"), TypeError, "p: expected a float, got '0.5'"),
    (lambda: RandomHorizontalFlip(seed=1.0), TypeError, "seed: expected an int, got 1.0"),
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
