"""MNIST canvases: deterministic from the seed, masks that agree with the pixels, fast, and clear errors."""
import re
import time

import numpy as np
import pytest

from cnnumpy.data import MNIST
from cnnumpy.data.registry import DATASETS, normalize
from cnnumpy.data.segment import CLASSES, SegmentationDataset, mnist_canvas, paste_digits


@pytest.fixture(scope="module")
def digits():
    return MNIST.sample(False)


def test_same_seed_same_canvases_other_seed_others(digits):
    a = paste_digits(digits.data, digits.targets, 50, seed=3)
    b = paste_digits(digits.data, digits.targets, 50, seed=3)
    c = paste_digits(digits.data, digits.targets, 50, seed=4)
    assert all((u == v).all() for u, v in zip(a, b))
    assert not (a[0] == c[0]).all()


@pytest.mark.parametrize("size, max_digits", [(64, 3), (48, 2), (28, 1), (57, 4)])
def test_masks_label_the_inked_pixels_with_their_digit(digits, size, max_digits):
    canvases, masks = paste_digits(digits.data, digits.targets, 200, size=size, max_digits=max_digits, seed=0)
    assert canvases.shape == masks.shape == (200, size, size) and canvases.dtype == masks.dtype == np.uint8
    # a pixel is labelled a digit exactly where the canvas is at least the threshold
    assert ((masks > 0) == (canvases >= 128)).all()
    assert masks.max() <= 10
    # each canvas holds 1 to max_digits digits: so many classes at most, at least one
    present = [np.unique(m[m > 0]) for m in masks]
    assert all(1 <= len(p) <= max_digits for p in present)
    assert max(len(p) for p in present) == max_digits or max_digits == 1


def test_one_digit_is_the_mnist_digit_and_its_label(digits):
    """A 28x28 canvas with one digit is that digit, in place; its mask is 1 + its label on the inked pixels."""
    canvases, masks = paste_digits(digits.data[:1], digits.targets[:1], 3, size=28, max_digits=1)
    assert (canvases == digits.data[0]).all()
    assert (masks == np.where(digits.data[0] >= 128, 1 + digits.targets[0], 0)).all()


def test_generation_is_vectorised(digits):
    start = time.perf_counter()
    paste_digits(digits.data, digits.targets, 2000, seed=0)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "n: expected an int >= 1, got 0"),
    (dict(size=27), "size: expected an int >= 28, got 27"),
    (dict(max_digits=5), "max_digits: expected 1 to 4 (one digit per quadrant), got 5"),
    (dict(threshold=256), "threshold: expected 1 to 255"),
    (dict(seed=-1), "seed: expected an int >= 0, got -1"),
    (dict(images=np.zeros((2, 28, 27), np.uint8)), "images: expected uint8 digits of shape (M, 28, 28)"),
    (dict(labels=np.full(100, 10)), "labels: expected (100,) ints in 0..9"),
])
def test_bad_arguments(digits, kwargs, message):
    args = dict(images=digits.data[:100], labels=digits.targets[:100], n=4)
    with pytest.raises(ValueError, match=re.escape(message)):
        paste_digits(**{**args, **kwargs})


def test_the_dataset_gives_float_images_and_int64_masks(digits):
    entry = DATASETS["mnist-canvas"]
    ds = mnist_canvas(digits, 20, seed=0, transform=normalize(entry.info()))
    x, y = ds.batch(np.arange(4))
    assert x.shape == (4, 1, 64, 64) and x.dtype == np.float32
    assert y.shape == (4, 64, 64) and y.dtype == np.int64
    assert ds.classes == CLASSES and len(ds) == 20
    xi, yi = ds[2]
    assert (xi == x[2]).all() and (yi == y[2]).all()
    assert len(ds.subset([1, 3])) == 2 and (ds.subset([1, 3]).batch([1])[1] == y[3]).all()
    with pytest.raises(ValueError, match=r"y: expected integer masks of shape \(2, 8, 8\)"):
        SegmentationDataset(np.zeros((2, 8, 8)), np.zeros((2, 8, 7), np.int64))
    with pytest.raises(IndexError, match="index: expected -20 <= index < 20, got 20"):
        ds[20]


def test_the_registry_entry():
    entry = DATASETS["mnist-canvas"]
    assert entry.task == "segment" and entry.model == "unet" and entry.shape == (1, 64, 64)
    assert entry.info()["task"] == "segment" and "task" not in DATASETS["mnist"].info()
    test_set = entry.sample(False, None)
    assert len(test_set) == 1000 and test_set.data.shape == (1000, 64, 64)
    # the normalisation constants are those of the canvases
    x = test_set.data / 255
    assert abs(x.mean() - entry.mean) < 0.005 and abs(x.std() - entry.std) < 0.01
