"""AirbenchLoader: the airbench94 recipe's data pipeline, on an in-memory array of normalised images.

Done once, at construction (the reference's "epoch 0"): a random half of the images is flipped left-right and the
result reflect-padded by t = translate on H and W. Pass k then costs one vectorised crop:

    out[i] = pad[i, :, t+dy_i : t+dy_i+H, t+dx_i : t+dx_i+W]     (dy_i, dx_i) uniform in [-t, t]^2
    out    = flip_lr(out)                                           on odd k only

so each image alternates between its two mirror images from pass to pass ("alternating flip", which covers both
views in two passes where a coin per pass repeats one of them half of the time), and is shifted anew each pass.
Batches are out[idx] for the slices idx of a permutation of 0..N-1: one fancy index each.
"""
from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from ..nn import check, random
from .loader import flag

# The tags of the random streams: stream s of pass k is np.random.default_rng([seed, k, s]). The permutation uses
# [seed, k], the same as DataLoader's; a tag must not be 0 (SeedSequence ignores trailing zeros).
SHIFTS, MASK = 1, 2


def flip_lr(x: np.ndarray) -> np.ndarray:
    """Left-right mirror image: x: (N, C, H, W) -> y: (N, C, H, W), y[..., j] = x[..., W-1-j] (a view)."""
    return x[..., ::-1]


def reflect_pad(x: np.ndarray, p: int) -> np.ndarray:
    """Pad H and W by p on each side with the mirror image of the border, the border row itself not repeated
    (torch's F.pad(x, (p, p, p, p), mode='reflect')): x: (N, C, H, W) -> (N, C, H+2p, W+2p), with

        y[..., p+i, :] = x[..., |i|, :] for -p <= i < 0,   x[..., 2(H-1)-i, :] for H <= i < H+p     (W alike)

    0 <= p < min(H, W).
    """
    check.positive_int("p", p, minimum=0)
    if x.ndim != 4:
        raise ValueError(f"x: expected shape (N, C, H, W), got shape {x.shape}")
    if p >= min(x.shape[2:]):
        raise ValueError(f"p: expected 0 <= p < min(H, W) = {min(x.shape[2:])} (reflect repeats no row), got {p}")
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="reflect")


def crop_shifted(padded: np.ndarray, shifts: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Crop each image of a padded batch around its centre, moved by its own shift, in one fancy index.

    padded: (N, C, H+2t, W+2t); shifts: (N, 2) ints (dy, dx) in [-t, t]; size: H, or (H, W).
    -> out: (N, C, H, W), out[i] = padded[i, :, t+dy_i : t+dy_i+H, t+dx_i : t+dx_i+W], where t = (H_padded - H) // 2.
    """
    h, w = check.pair("size", size)
    n, hp, wp = padded.shape[0], padded.shape[2], padded.shape[3]
    shifts = np.asarray(shifts)
    if shifts.shape != (n, 2) or not np.issubdtype(shifts.dtype, np.integer):
        raise ValueError(f"shifts: expected ({n}, 2) ints (dy, dx), got shape {shifts.shape} {shifts.dtype}")
    ty, tx = (hp - h) // 2, (wp - w) // 2
    if hp < h or wp < w or (n and (np.abs(shifts[:, 0]).max() > ty or np.abs(shifts[:, 1]).max() > tx)):
        raise ValueError(f"shifts: expected |dy| <= {ty} and |dx| <= {tx} for a crop of {h}x{w} from "
                         f"{hp}x{wp}, got {np.abs(shifts).max(axis=0).tolist() if n else []}")
    # Every h x w window of every image, as a view (N, C, hp-h+1, wp-w+1, h, w): picking one per image is the crop.
    windows = sliding_window_view(padded, (h, w), axis=(2, 3))
    return windows[np.arange(n), :, ty + shifts[:, 0], tx + shifts[:, 1]]


class AirbenchLoader:
    """Batches (x, y) of normalised images with airbench94's augmentation: alternating flip, random translation.

    x: (N, C, H, W) floating, already normalised (never normalised here); y: (N,) integer labels.
    flip: pre-flip a random half at construction and mirror everything on odd passes. translate: t >= 0, the largest
    shift (reflect padding, t < min(H, W)). Pass k (k = `epoch` when it starts, then `epoch` += 1) depends on
    (seed, k) alone, so `loader.epoch = k` replays pass k (a resumed training).
    seed: int >= 0, or None to draw one from cnnumpy's generator (reproducible after cnnumpy.manual_seed).
    steps: None, or the total number of batches over all passes: pass k yields min(len, steps - k*len) of them (at
    least 0), so `steps = ceil(9.9 * len)` ends the run inside its tenth pass.
    len(loader) = ceil(N / batch_size), or floor(N / batch_size) with drop_last: the batches of a full pass.
    """

    def __init__(self, x: ArrayLike, y: ArrayLike, batch_size: int = 1024, flip: bool = True, translate: int = 2,
                 shuffle: bool = True, drop_last: bool = True, seed: int | None = None,
                 steps: int | None = None) -> None:
        if not isinstance(x, np.ndarray) or x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
            got = f"shape {x.shape} {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
            raise TypeError(f"x: expected a floating numpy array (N, C, H, W) of normalised images, got {got}")
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y: expected ({len(x)},) integer labels, one per image, got shape {y.shape} {y.dtype}")
        self.batch_size = check.positive_int("batch_size", batch_size)
        self.flip = flag("flip", flip)
        self.translate = check.positive_int("translate", translate, minimum=0)
        if self.translate >= min(x.shape[2:]):
            raise ValueError(f"translate: expected 0 <= translate < min(H, W) = {min(x.shape[2:])}, "
                             f"got {self.translate}")
        self.shuffle = flag("shuffle", shuffle)
        self.drop_last = flag("drop_last", drop_last)
        self.steps = None if steps is None else check.positive_int("steps", steps, minimum=0)
        if seed is None:
            # Drawn only when needed, so a loader without randomness leaves the global stream untouched.
            random_ = self.shuffle or self.flip or self.translate > 0
            seed = int(random.generator().integers(2**63)) if random_ else 0
        self.seed = check.positive_int("seed", seed, minimum=0)
        self.targets = y
        self.size = x.shape[2:]
        # Padding commutes with the mirror image, so the half is flipped inside the padded copy (no third array).
        pad = reflect_pad(x, self.translate)
        if self.flip:
            mask = np.random.default_rng([self.seed, 0, MASK]).random(len(x)) < 0.5
            pad[mask] = flip_lr(pad[mask])
        self.padded = pad
        self.epoch = 0

    @property
    def epoch(self) -> int:
        """The number of passes started so far: the next pass is pass `epoch`."""
        return self._epoch

    @epoch.setter
    def epoch(self, k):
        self._epoch = check.positive_int("epoch", k, minimum=0)

    def __len__(self) -> int:
        n, b = len(self.targets), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def batches(self, epoch: int) -> int:
        """How many batches pass `epoch` yields: len(self), less at the end of `steps`."""
        if self.steps is None:
            return len(self)
        return max(0, min(len(self), self.steps - epoch * len(self)))

    def shifts(self, epoch: int) -> np.ndarray:
        """The (dy, dx) of every image in pass `epoch`, (N, 2) ints in [-translate, translate]."""
        t = self.translate
        rng = np.random.default_rng([self.seed, epoch, SHIFTS])
        return rng.integers(-t, t + 1, size=(len(self.targets), 2)) if t else np.zeros((len(self.targets), 2), int)

    def images(self, epoch: int) -> np.ndarray:
        """Every image as pass `epoch` shows it, in index order: (N, C, H, W)."""
        padded, shifts = self.padded, self.shifts(epoch)
        if self.flip and epoch % 2 == 1:
            # flip_lr(crop at (dy, dx)) = crop of flip_lr(padded) at (dy, -dx): the mirror costs no copy.
            padded, shifts = flip_lr(padded), shifts * [1, -1]
        return crop_shifted(padded, shifts, self.size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of pass `epoch`, (N,): 0..N-1, or the permutation drawn from (seed, epoch)."""
        n = len(self.targets)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # The pass is fixed and the counter advanced here, when the pass starts, not at its first batch.
        k = self.epoch
        self.epoch += 1
        return self._batches(k)

    def _batches(self, k):
        count = self.batches(k)
        if count == 0:
            return
        x, order, b = self.images(k), self.order(k), self.batch_size
        for start in range(0, count * b, b):
            idx = order[start:start + b]
            yield x[idx], self.targets[idx]

    def __repr__(self) -> str:
        n, c, h, w = len(self.targets), self.padded.shape[1], *self.size
        return (f"AirbenchLoader({n} images {c}x{h}x{w}, batch_size={self.batch_size}, flip={self.flip}, "
                f"translate={self.translate}, shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}, "
                f"steps={self.steps}, epoch={self.epoch})")

