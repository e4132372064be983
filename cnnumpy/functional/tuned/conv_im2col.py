"""2-D convolution as matrix products (im2col + GEMM): the math of functional/conv.py, vectorized.

The columns and the GEMMs are engine.py's (see there):

    y[n, g] = W_g @ cols[n, g]                  (rows columns: sum over kernel rows a of W_g[:, :, a, :] @ slice a)
    dW_g    = sum_n D[n, g] @ cols[n, g].T      (engine.add_weight_grad)
    dcols   = W_g.T @ D[n, g], folded back onto the padded input kh*kw strided additions at a time
    db      = sum of dout over n, i, j

and for stride 1, dx = conv2d(dout padded by dilation*(k-1) - pad, rot180(W) transposed) instead of the
folding (docs/conv.md derives it): one unfolding and kh GEMMs where folding needs kh*kw additions, and with
two threads the number of NumPy calls counts, since each one hands the GIL over.

The batch goes in chunks whose columns fit tuning.chunk_bytes (still in the cache when the GEMM reads them),
spread over cnnumpy's threads (threads.run); the whole batch's columns are kept for backward only up to
tuning.cache_bytes, beyond that backward unfolds each chunk again, which also spares the first
touch of every page of a fresh buffer of tens of MB (docs/performance.md#tuning-knobs).

Shapes as in functional/conv.py: x (N, C, H, W), w (F, C/G, kh, kw), b (F,) or None, pad (top, bottom, left, right).
"""
from collections import namedtuple

import numpy as np

from ..shapes import Pad, Pair
from . import conv_batched, threads
from .config import DEFAULT, Tuning
from .engine import (Geometry, add_weight_grad, flipped, full_pad, geometry, interior, kernel_rows, multiply,
                     scratch, summed_weight_grad, taps, unfold)

# what backward needs: x only when the columns were not kept (backward unfolds it again), else None
Cache = namedtuple("Cache", "x x_shape w cols has_bias stride pad dilation groups rows")


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), groups: int = 1,
           keep: bool = True, *,
           tuning: Tuning = DEFAULT) -> tuple[np.ndarray, Cache | conv_batched.Cache]:
    """Forward. Returns (y, cache).

    keep=False never keeps the columns for backward (which then unfolds x again): for inference, where
    allocating them costs more than the copy into them. Small outputs go to conv_batched (the batch along the
    columns of one GEMM per chunk, see conv_batched.applies).
    """
    if conv_batched.applies(x.shape, w.shape, stride, pad, dilation, groups, tuning):
        return conv_batched.conv2d(x, w, b, stride, pad, dilation, keep, tuning=tuning)
    n = len(x)
    g = geometry(x.shape, w.shape, stride, pad, dilation, tuning.rows)
    fg, ell = g.f // groups, g.ho * g.wo
    if g.rows:  # W_g[:, :, a, :] for each kernel row a, contiguous: (kh, G, Fg, Cg*kw)
        wm = np.ascontiguousarray(w.reshape(groups, fg, g.cg, g.kh, g.kw).transpose(3, 0, 1, 2, 4))
        wm = wm.reshape(g.kh, groups, fg, g.kc)
    else:
        wm = w.reshape(groups, fg, g.k)
    per_sample = groups * g.kc * g.lc * x.itemsize
    if pointwise(g, stride, pad):  # the columns are x itself: nothing to unfold, and kept for backward for free
        cols_all = np.ascontiguousarray(x).reshape(n, groups, g.kc, g.lc)
    elif keep and n * per_sample <= tuning.cache_bytes:
        cols_all = np.empty((n, groups, g.kc, g.lc), x.dtype)
    else:
        cols_all = None
    y = np.empty((n, g.f, g.ho, g.wo), x.dtype)
    bias = None if b is None else b.reshape(1, g.f, 1, 1)

    def chunk(s, lo, hi):
        m = hi - lo
        if cols_all is not None:
            cols = cols_all[lo:hi]
        else:
            cols = scratch(s, "cols", (m, groups, g.kc, g.lc), x.dtype)[:m]
        if not pointwise(g, stride, pad):
            unfold(x, lo, hi, g, pad, stride, dilation, groups, s, cols)
        multiply(wm, cols, g, dilation, s, y[lo:hi].reshape(m, groups, fg, ell))
        if bias is not None:
            y[lo:hi] += bias

    threads.run(chunk, n, threads.chunk_size(n, per_sample, tuning.chunk_bytes))
    # without the columns, backward needs x to unfold it again
    return y, Cache(x if cols_all is None else None, x.shape, w, cols_all, b is not None, stride, pad, dilation, groups,
                    g.rows)


def pointwise(g: Geometry, stride: Pair, pad: Pad) -> bool:
    """Whether the layer is a 1x1 convolution of stride 1 without padding, whose columns are x itself:
    cols[n, g, c, i*W + j] = x[n, g*Cg + c, i, j]."""
    return g.kh == g.kw == 1 and tuple(stride) == (1, 1) and tuple(pad) == (0, 0, 0, 0)


def conv2d_backward(dout: np.ndarray, cache: Cache | conv_batched.Cache, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True, *,
                    tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C/G, kh, kw), db: (F,) or None.

    Each is computed only when asked, else returned as None: input_grad=False for a first layer, whose input is
    data nobody differentiates; weight_grad=False or bias_grad=False for a frozen parameter (requires_grad
    False). Without dw there is no unfolding of x and no dW GEMM, the larger half of a layer's backward.
    """
    if isinstance(cache, conv_batched.Cache):
        return conv_batched.conv2d_backward(dout, cache, input_grad, weight_grad, bias_grad, tuning=tuning)
    x, x_shape, w, cols_all, has_bias, stride, pad, dilation, groups, rows = cache
    n = len(dout)
    g = geometry(x_shape, w.shape, stride, pad, dilation, rows)
    fg, ell = g.f // groups, g.ho * g.wo
    dtype = dout.dtype
    full = full_pad(w.shape, pad, dilation)
    # dx of a stride-1 layer is a convolution of dout (after the threads below); others fold dcols
    by_conv = input_grad and stride == (1, 1) and min(full) >= 0
    fold = input_grad and not by_conv
    bias_grad = bias_grad and has_bias
    dx = np.empty(x_shape, dtype) if fold else None
    direct = pad == (0, 0, 0, 0)  # then dx itself is the folding buffer
    wt = w.reshape(groups, fg, g.k).transpose(0, 2, 1)  # W_g.T, rows ordered (c, a, b) as a window's

    def chunk(s, lo, hi):
        m, size = hi - lo, size_
        d = dout[lo:hi].reshape(m, groups, fg, ell)
        if weight_grad:
            if cols_all is not None:
                cols = cols_all[lo:hi]
            else:
                cols = scratch(s, "cols", (size, groups, g.kc, g.lc), dtype)[:m]
                unfold(x, lo, hi, g, pad, stride, dilation, groups, s, cols)
            # kernel row a of dW from the slice of the columns that row a read
            add_weight_grad(kernel_rows(cols, g, dilation) if g.rows else cols[:, :, None], d, s, tuning)
        if bias_grad:  # here rather than one pass over dout after the threads: d is in the cache now
            threads.add(s, "db", d.sum(axis=(0, 3)))
        if not fold:
            return
        if direct:
            dxp = dx[lo:hi].reshape(m, g.c, g.h * g.w)
        else:
            dxp = scratch(s, "dxp", (size, g.c, g.hp * g.wp), dtype)[:m]
        dxp[...] = 0
        dcols = np.matmul(wt, d, out=scratch(s, "dcols", (size, groups, g.k, ell), dtype)[:m])
        dcols = dcols.reshape(m, groups, g.cg, g.kh, g.kw, g.ho, g.wo)
        # col2im: within one kernel offset (a, b) the windows touch distinct pixels, so a plain
        # addition through the strided view is exact; kh*kw NumPy calls, none per pixel
        view = taps(dxp, g, groups, stride, dilation, writeable=True)
        for a in range(g.kh):
            for b in range(g.kw):
                v = view[:, :, :, a, b]
                np.add(v, dcols[:, :, :, a, b], out=v)
        if not direct:
            dx[lo:hi] = interior(dxp, g, pad)

    size_ = threads.chunk_size(n, groups * g.kc * g.lc * dtype.itemsize, tuning.chunk_bytes)
    parts = threads.run(chunk, n, size_) if weight_grad or bias_grad or fold else []
    dw = summed_weight_grad(parts, w.shape) if weight_grad else None
    db = sum(s["db"] for s in parts).reshape(g.f) if bias_grad else None
    if by_conv:
        dx = conv2d(dout, flipped(w, groups), None, (1, 1), full, dilation, groups, keep=False, tuning=tuning)[0]
    return dx, dw, db
