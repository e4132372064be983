"""2-D convolution of small outputs as im2col with the batch along the columns: one GEMM per chunk, not per sample.

On a small output (3x3 maps late in a network) the per-sample products of conv_im2col are thin: W_g @ cols[n]
has L = H_out*W_out columns, and dW = sum_n D[n] @ cols[n].T is a sum of rank-L updates, both far from what
BLAS can do. Here the columns of a chunk of m samples sit side by side, sample-major within each row:

    cols[(c, a, b), n*L + (i, j)] = xp[n, c, i*sh + a*dh, j*sw + b*dw]        (K x m*L, K = C*kh*kw)
    Y   = W @ cols        (F x m*L)      y[n, f, i, j] = Y[f, n*L + (i, j)]
    D   = dout as (F, m*L), the same order
    dW  = sum over chunks of D @ cols.T  (F x K, depth m*L)
    dcols = W.T @ D, folded back onto the padded input kh*kw strided additions at a time (as in conv_im2col)
    db  = the row sums of D

so each product has m*L columns or a depth of m*L. The price is a transposing copy of y and of dout, small
next to the products on small maps. One group only (applies).

Chunks and threads as in conv_im2col: columns of at most tuning.chunk_bytes per chunk, the whole batch's kept
for backward up to tuning.cache_bytes (else backward unfolds each chunk again).
x (N, C, H, W), w (F, C, kh, kw), b (F,) or None, pad (top, bottom, left, right).
"""
from collections import namedtuple

import numpy as np

from ..shapes import Pad, Pair
from . import threads
from .config import DEFAULT, Tuning
from .engine import Geometry, geometry, interior, scratch, taps

# x only when the columns were not kept (backward unfolds it again), else None; cols: (K, N*L) or None
Cache = namedtuple("Cache", "x x_shape w cols has_bias stride pad dilation")


def applies(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Pair, pad: Pad, dilation: Pair, groups: int,
            tuning: Tuning = DEFAULT) -> bool:
    """Whether conv_im2col computes the layer this way: one group, an output of at most tuning.batched_area
    pixels, and more than one sample (else there is no batch to put along the columns)."""
    if groups != 1 or x_shape[0] < 2:
        return False
    g = geometry(x_shape, w_shape, stride, pad, dilation, False)
    return g.ho * g.wo <= tuning.batched_area


def _unfold(x: np.ndarray, lo: int, hi: int, g: Geometry, pad: Pad, stride: Pair, dilation: Pair, s: dict,
            out: np.ndarray) -> None:
    """The columns of samples lo..hi-1 into out: (K, m*L), padding through s's buffer "xp"."""
    m = hi - lo
    if pad == (0, 0, 0, 0):
        xp = x[lo:hi].reshape(m, g.c, g.h * g.w)
    else:
        xp = scratch(s, "xp", (m, g.c, g.hp * g.wp), x.dtype, zero=True)[:m]  # border zeroed once
        interior(xp, g, pad)[...] = x[lo:hi]
    view = taps(xp, g, 1, stride, dilation)[:, 0]  # (m, C, kh, kw, H_out, W_out)
    np.copyto(out.reshape(g.c, g.kh, g.kw, m, g.ho, g.wo), view.transpose(1, 2, 3, 0, 4, 5))


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), keep: bool = True, *,
           tuning: Tuning = DEFAULT) -> tuple[np.ndarray, Cache]:
    """Forward. Returns (y, cache); keep=False never keeps the columns (backward unfolds x again)."""
    n = len(x)
    g = geometry(x.shape, w.shape, stride, pad, dilation, False)
    ell = g.ho * g.wo
    wm = w.reshape(g.f, g.k)
    per_sample = g.k * ell * x.itemsize
    cols_all = np.empty((g.k, n * ell), x.dtype) if keep and n * per_sample <= tuning.cache_bytes else None
    y = np.empty((n, g.f, g.ho, g.wo), x.dtype)

    def chunk(s, lo, hi):
        m = hi - lo
        if cols_all is not None:
            cols = cols_all[:, lo * ell:hi * ell]
        else:
            cols = scratch(s, "cols", (g.k, m * ell), x.dtype)[:, :m * ell]
        _unfold(x, lo, hi, g, pad, stride, dilation, s, cols)
        out = np.matmul(wm, cols, out=scratch(s, "out", (g.f, m * ell), x.dtype)[:, :m * ell])
        if b is not None:
            out += b[:, None]
        y[lo:hi] = out.reshape(g.f, m, g.ho, g.wo).transpose(1, 0, 2, 3)

    threads.run(chunk, n, threads.chunk_size(n, per_sample, tuning.chunk_bytes))
    return y, Cache(x if cols_all is None else None, x.shape, w, cols_all, b is not None, stride, pad, dilation)


def conv2d_backward(dout: np.ndarray, cache: Cache, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True, *,
                    tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C, kh, kw), db: (F,) or None; each only when asked
    (see conv_im2col.conv2d_backward)."""
    x, x_shape, w, cols_all, has_bias, stride, pad, dilation = cache
    n = len(dout)
    g = geometry(x_shape, w.shape, stride, pad, dilation, False)
    ell = g.ho * g.wo
    dtype = dout.dtype
    bias_grad = bias_grad and has_bias
    if not (input_grad or weight_grad or bias_grad):
        return None, None, None
    wt = w.reshape(g.f, g.k).T
    dx = np.empty(x_shape, dtype) if input_grad else None
    direct = pad == (0, 0, 0, 0)  # then dx itself is the folding buffer

    def chunk(s, lo, hi):
        m = hi - lo
        d = scratch(s, "d", (g.f, m * ell), dtype)[:, :m * ell]
        d.reshape(g.f, m, ell)[...] = dout[lo:hi].reshape(m, g.f, ell).transpose(1, 0, 2)
        if weight_grad:
            if cols_all is not None:
                cols = cols_all[:, lo * ell:hi * ell]
            else:
                cols = scratch(s, "cols", (g.k, m * ell), dtype)[:, :m * ell]
                _unfold(x, lo, hi, g, pad, stride, dilation, s, cols)
            if "dw" in s:
                s["dw"] += np.matmul(d, cols.T, out=s["dw_part"])
            else:
                s["dw"] = np.matmul(d, cols.T)
                s["dw_part"] = np.empty_like(s["dw"])
        if bias_grad:
            threads.add(s, "db", d.sum(axis=1))
        if not input_grad:
            return
        dcols = np.matmul(wt, d, out=scratch(s, "dcols", (g.k, m * ell), dtype)[:, :m * ell])
        if direct:
            dxp = dx[lo:hi].reshape(m, g.c, g.h * g.w)
        else:
            dxp = scratch(s, "dxp", (m, g.c, g.hp * g.wp), dtype)[:m]
        dxp[...] = 0
        # within one kernel offset (a, b) the windows touch distinct pixels: a plain strided addition is exact
        view = taps(dxp, g, 1, stride, dilation, writeable=True)[:, 0]
        dc = dcols.reshape(g.c, g.kh, g.kw, m, g.ho, g.wo).transpose(3, 0, 1, 2, 4, 5)
        for a in range(g.kh):
            for b in range(g.kw):
                v = view[:, :, a, b]
                np.add(v, dc[:, :, a, b], out=v)
        if not direct:
            dx[lo:hi] = interior(dxp, g, pad)

    parts = threads.run(chunk, n, threads.chunk_size(n, g.k * ell * dtype.itemsize, tuning.chunk_bytes))
    dw = sum(s["dw"] for s in parts).reshape(w.shape) if weight_grad else None
    db = sum(s["db"] for s in parts) if bias_grad else None
    return dx, dw, db
