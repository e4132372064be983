"""MNIST canvases: a segmentation data set made from MNIST digits, offline and deterministically from a seed.

Each canvas is a size x size black image with 1 to max_digits MNIST digits pasted on it, and its mask labels every
pixel: 0 for the background, 1 + d for a pixel of digit d (where the digit's pixel is at least `threshold`). The
canvas is split into four quadrants and each digit goes into a quadrant of its own, shifted at random within it
(on 64x64 canvases by up to 8 pixels along each axis); the 28x28 boxes of neighbours may overlap, their strokes
seldom do. Where they do, the canvas keeps the brighter pixel and the mask the digit pasted last.

    canvases, masks = paste_digits(images, labels, n=1000, size=64, seed=0)   # (1000, 64, 64) uint8 each
    train = mnist_canvas(MNIST.sample(True), n=6000, seed=0, transform=Compose([ToFloat(), Normalize(...)]))
    x, y = train.batch([0, 1])     # x: (2, 1, 64, 64) float32, y: (2, 64, 64) int64 in 0..10

The command line knows it as --data mnist-canvas (cnnumpy.data.registry), made from the full MNIST when it is
found and from the embedded sample otherwise.
"""
import numbers

import numpy as np
from numpy.typing import ArrayLike

from .loader import ArrayDataset, Transform, checked_transform

DIGIT = 28  # an MNIST digit's side
CLASSES = ["background"] + [str(d) for d in range(10)]
# what --data mnist-canvas holds: canvases of 64x64 pixels with 1 to 3 digits, so many for training and testing
TRAIN_CANVASES, TEST_CANVASES = 10_000, 1_000
# pixel mean and standard deviation of those training canvases (from the full MNIST) scaled to [0, 1]
CANVAS_MEAN = 0.0501
CANVAS_STD = 0.2011


def paste_digits(images: ArrayLike, labels: ArrayLike, n: int, size: int = 64, max_digits: int = 3,
                 threshold: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n canvases and their masks, drawn from `seed` alone.

    images: (M, 28, 28) uint8 digits; labels: (M,) their digits 0..9.
    -> canvases (n, size, size) uint8, masks (n, size, size) uint8: 0 background, 1 + d where digit d's pixel
    is >= threshold.
    Each canvas draws k in 1..max_digits, k distinct quadrants, a shift in [0, J] per axis within each
    (J = max(0, size // 2 - 24)), and k digits out of M with replacement. One paste per digit slot, each for every
    canvas at once: no loop over canvases or pixels.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (DIGIT, DIGIT) or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"images: expected uint8 digits of shape (M, 28, 28), M >= 1, got {images.dtype} of shape "
                         f"{images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) or \
            labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels: expected ({len(images)},) ints in 0..9, one per image, got {labels.dtype} of "
                         f"shape {labels.shape}")
    n = _int("n", n, 1)
    size = _int("size", size, DIGIT)
    max_digits = _int("max_digits", max_digits, 1)
    if max_digits > 4:
        raise ValueError(f"max_digits: expected 1 to 4 (one digit per quadrant), got {max_digits}")
    threshold = _int("threshold", threshold, 1)
    if threshold > 255:
        raise ValueError(f"threshold: expected 1 to 255 (a uint8 pixel), got {threshold}")
    seed = _int("seed", seed, 0)

    rng = np.random.default_rng(seed)
    count = rng.integers(1, max_digits + 1, n)                    # digits on each canvas
    quadrant = np.argsort(rng.random((n, 4)), axis=1)             # a random order of the 4 quadrants
    jitter = max(0, size // 2 - 24)
    shift = rng.integers(0, jitter + 1, (n, 4, 2))
    pick = rng.integers(0, len(images), (n, 4))
    # quadrant q = 2 * row + col; along an axis the first half starts at the edge and moves in, the second
    # half ends at the far edge (size - 28) and moves back
    half = np.stack([quadrant // 2, quadrant % 2], axis=-1)
    corner = half * (size - DIGIT) + (1 - 2 * half) * shift      # (n, 4, 2) top-left of each digit's box

    canvases = np.zeros((n, size, size), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    span = np.arange(DIGIT)
    for slot in range(max_digits):
        on = np.flatnonzero(count > slot)
        rows = (corner[on, slot, 0, None] + span)[:, :, None]     # (k, 28, 1)
        cols = (corner[on, slot, 1, None] + span)[:, None, :]     # (k, 1, 28)
        at = (on[:, None, None], rows, cols)
        digit = images[pick[on, slot]]                            # (k, 28, 28)
        canvases[at] = np.maximum(canvases[at], digit)
        masks[at] = np.where(digit >= threshold, 1 + labels[pick[on, slot]].astype(np.uint8)[:, None, None],
                             masks[at])
    return canvases, masks


class SegmentationDataset(ArrayDataset):
    """Images and per-pixel labels held in memory, as ArrayDataset for classification.

    x: (N, H, W) or (N, C, H, W) images of any dtype, kept as `data`; y: (N, H, W) class indices, kept as
    `targets` (uint8 keeps 10,000 masks of 64x64 in 41 MB), handed out as int64.
    transform: a batch transform of the images, e.g. Compose([ToFloat(), Normalize(...)]); it must keep H, W.
    classes: the class names, label 0 first.
    """

    def __init__(self, x: ArrayLike, y: ArrayLike, transform: Transform | None = None,
                 classes: list[str] | None = None) -> None:
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim not in (3, 4):
            raise ValueError(f"x: expected images (N, H, W) or (N, C, H, W), got shape {x.shape}")
        if y.shape != (len(x),) + x.shape[-2:] or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y: expected integer masks of shape {(len(x),) + x.shape[-2:]}, one per image, got "
                             f"{y.dtype} of shape {y.shape}")
        self.data, self.targets, self.transform = x, y, checked_transform(transform)
        self.classes = list(classes) if classes is not None else [str(k) for k in range(int(y.max()) + 1)]

    def batch(self, indices: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """indices: (B,) ints -> (transform(data[indices]), targets[indices] as int64 (B, H, W))."""
        x, y = self.data[indices], self.targets[indices].astype(np.int64)
        return (x if self.transform is None else self.transform(x)), y

    def subset(self, indices: ArrayLike) -> "SegmentationDataset":
        """The samples at `indices`, with the same transform and classes."""
        return SegmentationDataset(self.data[indices], self.targets[indices], self.transform, self.classes)

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} images {self.data.shape[1:]}, {len(self.classes)} classes)"


def mnist_canvas(digits, n: int, size: int = 64, max_digits: int = 3, seed: int = 0,
                 transform: Transform | None = None) -> SegmentationDataset:
    """n canvases made of the digits of `digits` (an MNIST split: .data (M, 28, 28) uint8, .targets (M,)).

    The canvases depend on the digits, n, size, max_digits and seed alone; classes: background, 0, ..., 9.
    """
    canvases, masks = paste_digits(digits.data, digits.targets, n, size, max_digits, seed=seed)
    return SegmentationDataset(canvases, masks, transform, CLASSES)


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)
