"""Batch transforms: each takes the whole batch (N, ...) as one NumPy array and returns a new one.

The usual MNIST pipeline, augmentation first (on uint8, where the zero fill is the black background):
    Compose([RandomShift(2), ToFloat(), Normalize(MNIST_MEAN, MNIST_STD)])
and the usual CIFAR-10 one (the random transforms draw one value per image, never loop over images):
    Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToFloat(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])
"""
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike

from ..nn import random
from ..nn import check
from .loader import Transform

# seed= of the random transforms: an int >= 0, a generator used as it is, or None (drawn from cnnumpy's generator)
Seed = int | np.random.Generator | None


class ToFloat:
    """uint8 pixels -> floats in [0, 1]: y = x / 255, with a channel axis added to grayscale images.

    x: (N, H, W) uint8 -> (N, 1, H, W); (N, C, H, W) uint8 -> (N, C, H, W); dtype float32 (or as given).
    """

    def __init__(self, dtype: DTypeLike = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        if not np.issubdtype(self.dtype, np.floating):
            raise TypeError(f"dtype: expected a floating dtype (float32 or float64), got {self.dtype}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x: expected a numpy.ndarray, got {type(x).__name__}")
        if x.dtype != np.uint8:
            raise TypeError(f"x: expected uint8 pixels, got {x.dtype}")
        if x.ndim not in (3, 4):
            raise ValueError(f"x: expected 3 (N, H, W) or 4 (N, C, H, W) dimensions, got {x.ndim} (shape {x.shape})")
        y = x.astype(self.dtype)
        y /= 255  # divided rather than multiplied by 1/255, as torchvision's ToTensor, for identical values
        return y[:, None] if x.ndim == 3 else y

    def __repr__(self):
        return f"ToFloat(dtype={self.dtype})"


class Normalize:
    """Per-channel standardisation: y[:, c] = (x[:, c] - mean[c]) / std[c]; x: (N, C, H, W) floating, dtype kept.

    mean, std: a number (every channel) or one per channel.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = _per_channel("mean", mean)
        self.std = _per_channel("std", std)
        if not (self.std > 0).all():
            raise ValueError(f"std: expected values > 0, got {std!r}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        check.image_batch("x", x)
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"{name}: expected 1 or {c} values (x has {c} channels), got {len(v)}")
        # Cast the constants, not x, so float32 stays float32.
        mean = self.mean.astype(x.dtype).reshape(-1, 1, 1)
        std = self.std.astype(x.dtype).reshape(-1, 1, 1)
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Compose:
    """Apply transforms in order: Compose([f, g])(x) = g(f(x))."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        if not isinstance(transforms, (list, tuple)):
            raise TypeError(f"transforms: expected a list of callables, got {type(transforms).__name__}")
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}]: expected a callable, got {type(t).__name__}")
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class RandomShift:
    """Translate each image by its own random (dy, dx), integers in [-max_shift, max_shift], filling with 0.

    x: (N, H, W) or (N, C, H, W), any dtype -> same shape and dtype
    y[n, ..., i, j] = x[n, ..., i - dy_n, j - dx_n]  where that pixel exists, else 0
    Vectorised: pad by s = max_shift; the padded image has (2s+1)^2 windows of size (H, W), window (a, b)
    being the image shifted by (s - a, s - b), and image n takes window (s - dy_n, s - dx_n): one gather.
    seed: int, np.random.Generator, or None for a generator seeded from cnnumpy's (see manual_seed).
    """

    def __init__(self, max_shift: int, seed: Seed = None) -> None:
        self.max_shift = check.positive_int("max_shift", max_shift, minimum=0)
        self.rng = generator(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        images("x", x)
        s, n = self.max_shift, len(x)
        dy, dx = self.rng.integers(-s, s + 1, size=(2, n))
        padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(s, s), (s, s)])
        # A view, no copy: (N, [C,] 2s+1, 2s+1, H, W).
        windows = sliding_window_view(padded, x.shape[-2:], axis=(-2, -1))
        return windows[np.arange(n), ..., s - dy, s - dx, :, :]

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift})"


class RandomCrop:
    """Pad each image with `padding` zeros on every side, then cut a random (h, w) window out of it.

    x: (N, H, W) or (N, C, H, W), any dtype -> (N, [C,] h, w), same dtype; as torchvision's RandomCrop
    (constant zero padding), but with one draw per image of the batch:
        i_n ~ U{0, ..., H + 2p - h},  j_n ~ U{0, ..., W + 2p - w}      (drawn in this order: all i, then all j)
        y[n, ..., a, b] = padded[n, ..., i_n + a, j_n + b] = x[n, ..., i_n + a - p, j_n + b - p]  (0 off x)
    With h = H, w = W the crop is a shift by (p - i_n, p - j_n), the pixels pushed past the border lost.
    Vectorised: a strided view of all windows of the padded batch, (N, [C,] H+2p-h+1, W+2p-w+1, h, w),
    and one gather of window (i_n, j_n) for each image n.
    size: int (square) or (h, w); padding: int >= 0; seed: int, np.random.Generator or None (cnnumpy's generator).
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0, seed: Seed = None) -> None:
        self.size = check.pair("size", size)
        self.padding = check.positive_int("padding", padding, minimum=0)
        self.rng = generator(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        images("x", x)
        (h, w), p, n = self.size, self.padding, len(x)
        big_h, big_w = x.shape[-2] + 2 * p, x.shape[-1] + 2 * p
        if h > big_h or w > big_w:
            raise ValueError(f"size: expected at most the padded image size ({big_h}, {big_w}) "
                             f"(x {x.shape[-2:]} with padding={p}), got {self.size}")
        i = self.rng.integers(0, big_h - h + 1, size=n)
        j = self.rng.integers(0, big_w - w + 1, size=n)
        padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)]) if p else x
        windows = sliding_window_view(padded, (h, w), axis=(-2, -1))
        return windows[np.arange(n), ..., i, j, :, :]

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p, as torchvision's RandomHorizontalFlip, one draw per image.

    x: (N, H, W) or (N, C, H, W), any dtype -> same shape and dtype (a new array)
    flip_n = u_n < p with u_n ~ U[0, 1);  y[n, ..., a, b] = x[n, ..., a, W - 1 - b] if flip_n else x[n, ..., a, b]
    seed: int, np.random.Generator or None (cnnumpy's generator).
    """

    def __init__(self, p: float = 0.5, seed: Seed = None) -> None:
        self.p = check.probability("p", p)
        self.rng = generator(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        images("x", x)
        flip = self.rng.random(len(x)) < self.p
        y = x.copy()
        y[flip] = x[flip, ..., ::-1]
        return y

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


def generator(seed):
    """seed: int >= 0, np.random.Generator (used as it is) or None (seeded from cnnumpy's generator, so
    reproducible after cnnumpy.manual_seed) -> np.random.Generator."""
    if seed is None:
        seed = int(random.generator().integers(2**63))
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check.positive_int("seed", seed, minimum=0))


def images(name, x):
    """x: a batch of images, (N, H, W) or (N, C, H, W), any dtype."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected 3 (N, H, W) or 4 (N, C, H, W) dimensions, got {x.ndim} "
                         f"(shape {x.shape})")


def _per_channel(name, value):
    """A number or a list of numbers -> (C,) float64; bools and strings are refused, not converted."""
    try:
        v = None if isinstance(value, (bool, str)) else np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        v = None
    if v is None or v.ndim != 1 or len(v) == 0 or not np.isfinite(v).all():
        raise ValueError(f"{name}: expected a finite number or a non-empty list of them (one per channel), "
                         f"got {value!r}")
    return v
