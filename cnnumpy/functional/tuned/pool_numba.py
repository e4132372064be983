"""Max pooling with compiled loops (numba): the math and tie rule of functional/pool.py, in one pass.

Forward scans each window's taps in row-major order, as PyTorch: y starts at -inf and idx at the window's
first tap inside x, and tap k = a*kw + b wins where it is larger than y so far, or NaN. Backward sends each
output's gradient to its one winner:

    dx[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] += dout[n, c, i, j]     where idx[n, c, i, j] = a*kw + b

Padding is never read (its -inf never wins), so there is no padded copy of x. NumPy's vectorized pooling
(pool_im2col.py) needs several passes over strided views, which run without SIMD; these loops read x once.
2x2 windows of stride 2 without padding have loops of their own, with the four taps written out (see
loops/pool.py), which is what makes this method pay there (docs/performance.md#pooling).
The batch is split over cnnumpy's threads above tuning.pool_split_bytes, each call a whole share without the GIL.

numba is optional (pip install 'cnnumpy[numba]'): imported at the first call, which compiles the loops
(loops/pool.py) in the first process and loads them from numba's on-disk cache in the next ones.
"""
import functools
import types

import numpy as np

from ..shapes import Pair, pool_out_size
from . import compiled, threads
from .config import DEFAULT, Tuning
from .pool_im2col import offsets_to_indices


@functools.cache
def kernels() -> types.ModuleType:
    """loops/pool.py, imported (and numba with it) on first use."""
    return compiled.kernels("pool", "MaxPool2d", "im2col")


def two_by_two(kernel: Pair, stride: Pair, pad: Pair, dilation: Pair) -> bool:
    """Whether the windows are 2x2 of stride 2 without padding or dilation (the loops written out for them)."""
    return tuple(kernel) == (2, 2) and tuple(stride) == (2, 2) and tuple(pad) == (0, 0) and tuple(dilation) == (1, 1)


def max_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair = (1, 1),
               ceil_mode: bool = False, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), the largest tap of each window. Returns (y, cache)."""
    loops = kernels()
    n, c, h, w = x.shape
    out_hw = tuple(pool_out_size(s, k, st, p, d, ceil_mode)
                   for s, k, st, p, d in zip((h, w), kernel, stride, pad, dilation))
    x = np.ascontiguousarray(x)
    y = np.empty((n, c) + out_hw, x.dtype)
    idx = np.empty(y.shape, np.min_scalar_type(kernel[0] * kernel[1] - 1))
    # ceil mode adds a window past an odd edge only: 2 * out_hw must still fit for the written-out loops
    two = two_by_two(kernel, stride, pad, dilation) and 2 * out_hw[0] <= h and 2 * out_hw[1] <= w
    sizes = None if two else (*kernel, *stride, *dilation, *pad)

    def chunk(s, lo, hi):
        if two:
            loops.max_pool_2x2(x[lo:hi], y[lo:hi], idx[lo:hi])
        else:
            loops.max_pool(x[lo:hi], y[lo:hi], idx[lo:hi], *sizes)

    threads.run(chunk, n, threads.split(n, x.nbytes, tuning.pool_split_bytes))
    return y, (x.shape, idx, sizes)


def max_pool2d_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W): each output's gradient goes to its one winner."""
    loops = kernels()
    x_shape, idx, sizes = cache
    dout = np.ascontiguousarray(dout)
    dx = np.empty(x_shape, dout.dtype)

    def chunk(s, lo, hi):
        if sizes is None:
            loops.max_pool_2x2_backward(dout[lo:hi], idx[lo:hi], dx[lo:hi])
        else:
            loops.max_pool_backward(dout[lo:hi], idx[lo:hi], dx[lo:hi], *sizes)

    threads.run(chunk, len(dout), threads.split(len(dout), dx.nbytes, tuning.pool_split_bytes))
    return dx


def max_pool2d_indices(cache: tuple) -> np.ndarray:
    """The flat index r*W + s of each window's maximum in its (H, W) plane, int64 (N, C, H_out, W_out)."""
    x_shape, idx, sizes = cache
    kh, kw, sh, sw, dh, dw, ph, pw = (2, 2, 2, 2, 1, 1, 0, 0) if sizes is None else sizes
    return offsets_to_indices(idx, x_shape[3], (kh, kw), (sh, sw), (ph, pw), (dh, dw))
