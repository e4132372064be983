"""Max pooling with compiled loops (numba): the same math and tie rule as pool_naive and pool, one pass.

Forward scans each window's taps in row-major order, as PyTorch: y starts at -inf and idx at the window's
first tap inside x, and tap k = a*kw + b wins where it is larger than y so far, or NaN. Backward sends each
output's gradient to its one winner:

    dx[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] += dout[n, c, i, j]     where idx[n, c, i, j] = a*kw + b

Padding is never read (its -inf never wins), so there is no padded copy of x. NumPy's vectorized pooling
(pool.py) needs several passes over strided views, which run without SIMD; these loops read x once.
2x2 windows of stride 2 without padding have loops of their own, with the four taps written out (see
pool_numba_kernels): one thread, batch 32, LeNet-5's two pools forward 51-60 and 65-75 us against pool.py's
117-120 and 101-103, backward 71-74 and 73-89 against 137-141 and 110-116; a whole LeNet-5 training step 4 %
faster at one thread (batch 32), 7 % at two (batch 64; one compiled call per share holds the GIL once).
The batch is split over cnnumpy's threads above SPLIT_BYTES, each call a whole share without the GIL.

numba is optional (pip install 'cnnumpy[numba]'): imported at the first call, which compiles the loops
(pool_numba_kernels) in the first process and loads them from numba's on-disk cache in the next ones.
"""
import functools
import types

import numpy as np

from . import jit, parallel
from .pool_naive import Pair, pool_out_size

# inputs of at least this size are split over cnnumpy's threads; interleaved at 2 threads, LeNet-5 trained 6 %
# faster at batch 64 than with 1 MB (whose 1.2 MB first pool then split), and inferred at batch 256 within 2 %
SPLIT_BYTES = 2 << 20


@functools.cache
def kernels() -> types.ModuleType:
    """pool_numba_kernels, imported (and numba with it) on first use."""
    return jit.kernels("pool_numba_kernels", "MaxPool2d", "fast")


def two_by_two(kernel: Pair, stride: Pair, pad: Pair, dilation: Pair) -> bool:
    """Whether the windows are 2x2 of stride 2 without padding or dilation (the loops written out for them)."""
    return tuple(kernel) == (2, 2) and tuple(stride) == (2, 2) and tuple(pad) == (0, 0) and tuple(dilation) == (1, 1)


def max_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair = (1, 1),
               ceil_mode: bool = False) -> tuple[np.ndarray, tuple]:
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

    parallel.run(chunk, n, parallel.split(n, x.nbytes, SPLIT_BYTES))
    return y, (x.shape, idx, sizes)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
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

    parallel.run(chunk, len(dout), parallel.split(len(dout), dx.nbytes, SPLIT_BYTES))
    return dx
