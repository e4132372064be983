"""The compiled loops of pool_numba: max pooling forward (value and winning tap) and backward.

Imported by pool_numba.kernels() only. As in loops/conv.py (the convolution's loops): plain loops without the
GIL (nogil), a whole chunk of samples per call on one of cnnumpy's threads, at module level so that numba's
on-disk cache finds them again in the next process.

Two pairs: any window (max_pool, max_pool_backward), and 2x2 windows of stride 2 without padding (the pooling
of LeNet, VGG and most CNNs), whose four taps are written out. numba compiles a loop for the types of its
arguments, not their values, so the general loops cannot unroll a window they only know at run time: on
2x2 windows they lost to NumPy's passes (pool_im2col.py), and the written-out ones won
(docs/performance.md#pooling).
"""
import numba
import numpy as np

from ..compiled import compiled
from .conv import span


@compiled(nogil=True)
def max_pool(x, y, idx, kh, kw, sh, sw, dh, dw, pt, pl):
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out) and idx (the same shape), written in place.

    PyTorch's scan of window (i, j): y starts at -inf and idx at the first tap inside x; then tap k = a*kw + b,
    in row-major order, reading x[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl], wins where it is larger than
    y so far or NaN (so the first maximum wins a tie, and the last NaN wins).
    """
    n, c, h, w = x.shape
    ho, wo = y.shape[2], y.shape[3]
    first_b = np.empty(wo, np.int64)  # the first tap column inside x, per output column
    for j in range(wo):
        b0 = 0
        while j * sw + b0 * dw - pl < 0:
            b0 += 1
        first_b[j] = b0
    for s in range(n):
        for ci in range(c):
            for i in range(ho):
                a0 = 0
                while i * sh + a0 * dh - pt < 0:
                    a0 += 1
                for j in range(wo):
                    y[s, ci, i, j] = -np.inf
                    idx[s, ci, i, j] = a0 * kw + first_b[j]
                for a in range(a0, kh):
                    row = i * sh + a * dh - pt
                    if row >= h:
                        break
                    for b in range(kw):
                        off = b * dw - pl
                        j0, j1 = span(w, wo, sw, off)
                        k = a * kw + b
                        for j in range(j0, j1):
                            v = x[s, ci, row, numba.uint64(j * sw + off)]
                            m = y[s, ci, i, numba.uint64(j)]
                            win = (v > m) | (v != v)
                            y[s, ci, i, numba.uint64(j)] = v if win else m
                            idx[s, ci, i, numba.uint64(j)] = k if win else idx[s, ci, i, numba.uint64(j)]


@compiled(nogil=True)
def max_pool_backward(dout, idx, dx, kh, kw, sh, sw, dh, dw, pt, pl):
    """dout, idx: (N, C, H_out, W_out) -> dx: (N, C, H, W), written in place: dx = 0, then each output's
    gradient added to its winner, x[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] for idx = a*kw + b
    (added: overlapping windows can share a winner)."""
    n, c, h, w = dx.shape
    ho, wo = dout.shape[2], dout.shape[3]
    for s in range(n):
        for ci in range(c):
            dx[s, ci, :, :] = 0
            for i in range(ho):
                for j in range(wo):
                    k = idx[s, ci, i, j]
                    a = k // kw
                    b = k - a * kw
                    dx[s, ci, i * sh + a * dh - pt, j * sw + b * dw - pl] += dout[s, ci, i, j]


@compiled(nogil=True)
def max_pool_2x2(x, y, idx):
    """max_pool for 2x2 windows of stride 2 and no padding: y, idx: (N, C, H // 2, W // 2), the four taps in
    PyTorch's order (0: top left, 1: top right, 2: bottom left, 3: bottom right)."""
    n, c, h, w = x.shape
    ho, wo = y.shape[2], y.shape[3]
    xs = x.reshape(n * c, h, w)
    ys = y.reshape(n * c, ho, wo)
    ks = idx.reshape(n * c, ho, wo)
    for p in range(n * c):
        for i in range(ho):
            top = xs[p, 2 * i]
            bottom = xs[p, 2 * i + 1]
            for j in range(wo):
                m = top[2 * j]
                k = 0
                v = top[2 * j + 1]
                if v > m or v != v:
                    m, k = v, 1
                v = bottom[2 * j]
                if v > m or v != v:
                    m, k = v, 2
                v = bottom[2 * j + 1]
                if v > m or v != v:
                    m, k = v, 3
                ys[p, i, j] = m
                ks[p, i, j] = k


@compiled(nogil=True)
def max_pool_2x2_backward(dout, idx, dx):
    """max_pool_backward for max_pool_2x2: every pixel of dx written once, dout at the winner and 0 elsewhere
    (also in the last row and column of an odd size, which no window reaches)."""
    n, c, h, w = dx.shape
    ho, wo = dout.shape[2], dout.shape[3]
    ds = dout.reshape(n * c, ho, wo)
    ks = idx.reshape(n * c, ho, wo)
    xs = dx.reshape(n * c, h, w)
    for p in range(n * c):
        for i in range(ho):
            top = xs[p, 2 * i]
            bottom = xs[p, 2 * i + 1]
            for j in range(wo):
                d = ds[p, i, j]
                k = ks[p, i, j]
                top[2 * j] = d if k == 0 else 0
                top[2 * j + 1] = d if k == 1 else 0
                bottom[2 * j] = d if k == 2 else 0
                bottom[2 * j + 1] = d if k == 3 else 0
            for col in range(2 * wo, w):
                top[col] = 0
                bottom[col] = 0
        for row in range(2 * ho, h):
            for col in range(w):
                xs[p, row, col] = 0
