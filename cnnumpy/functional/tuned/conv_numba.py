"""2-D convolution with compiled loops (numba): im2col + GEMM whose unfolding and folding are numba loops.

The same math as conv_im2col (see there): cols: (N, C*kh*kw, L), rows ordered (c, a, b), L = H_out*W_out,

    y[n, g]  = W_g @ cols[n, g]                          GEMM (BLAS, through np.matmul)
    dW_g     = sum_n D[n, g] @ cols[n, g].T              GEMM (engine.add_weight_grad)
    dcols    = W_g.T @ D[n, g]                           GEMM
    dx       = fold(dcols): dx[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] += dcols[n, (c, a, b), (i, j)]

What NumPy cannot do well are the two data movements around the GEMMs: unfold, a copy of
one short run per output row, and fold, kh*kw strided additions. Here they are loops compiled by
numba, with the padding folded into the index arithmetic (no padded copy of x, no cropping of dx):
each loop over j first works out which j read a pixel inside the image, so the inner loop has no test.
The multiply-adds stay with BLAS, which numba loops cannot match -- except in depthwise layers (one input
channel per group), where the products are too thin for BLAS: those take conv_depthwise's loops over the taps
(tuning.depthwise).

The batch goes in chunks (columns of at most tuning.chunk_bytes, still in the cache for the GEMM) over
cnnumpy's threads (threads.run), and each loop does a whole chunk in one call that releases the GIL: a chunk
is a handful of long calls, so two threads rarely wait for each other's GIL. (numba's own parallel loops
were slower here: their threads sleep between loops, and waking one costs more than many of the loops take;
docs/performance.md#tuning-knobs.)

numba is optional (pip install 'cnnumpy[numba]'): it is imported at the first call, which compiles
the loops (loops/conv.py) in the first process and loads them from numba's on-disk cache
in the next ones.
"""
import functools
from collections.abc import Callable

import numpy as np

from ..shapes import Pad, Pair, out_size
from . import compiled, conv_depthwise, threads
from .config import DEFAULT, Tuning
from .engine import add_weight_grad, scratch, summed_weight_grad


@functools.cache
def kernels() -> tuple[Callable[..., None], Callable[..., None]]:
    """(unfold, fold) from loops/conv.py, imported (and numba with it) on first use."""
    k = compiled.kernels("conv", "Conv2d", "im2col")
    return k.unfold, k.fold


def _sizes(x_shape, w_shape, stride, pad, dilation):
    """(kh, kw, sh, sw, dh, dw, pt, pl, ho, wo): the loops' integer arguments."""
    _, _, h, w = x_shape
    _, _, kh, kw = w_shape
    ho = out_size(h, kh, stride[0], pad[0], pad[1], dilation[0])
    wo = out_size(w, kw, stride[1], pad[2], pad[3], dilation[1])
    return kh, kw, stride[0], stride[1], dilation[0], dilation[1], pad[0], pad[2], ho, wo


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), groups: int = 1,
           keep: bool = True, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """Forward. pad = (top, bottom, left, right). Returns (y, cache).

    keep=False never keeps the columns for backward (which then unfolds x again): for inference.
    """
    if tuning.depthwise and conv_depthwise.applies(w.shape, groups, x.shape[1]):
        y, cache = conv_depthwise.conv2d(x, w, b, stride, pad, dilation, groups, keep, tuning=tuning)
        return y, ("depthwise", cache)
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    sizes = _sizes(x.shape, w.shape, stride, pad, dilation)
    ho, wo = sizes[-2:]
    unfold, _ = kernels()
    k, ell = cg * kh * kw, ho * wo
    x = np.ascontiguousarray(x)
    wm = w.reshape(groups, f // groups, k)
    y = np.empty((n, f, ho, wo), x.dtype)
    per_sample = c * kh * kw * ell * x.itemsize
    cols_all = np.empty((n, c * kh * kw, ell), x.dtype) if keep and n * per_sample <= tuning.cache_bytes else None
    bias = None if b is None else b.reshape(1, f, 1, 1)

    def chunk(s, lo, hi):
        m = hi - lo
        cols = scratch(s, "cols", (m, c * kh * kw, ell), x.dtype)[:m] if cols_all is None else cols_all[lo:hi]
        unfold(x[lo:hi], cols, *sizes)
        np.matmul(wm, cols.reshape(m, groups, k, ell), out=y[lo:hi].reshape(m, groups, -1, ell))
        if bias is not None:
            y[lo:hi] += bias

    threads.run(chunk, n, threads.chunk_size(n, per_sample, tuning.chunk_bytes))
    return y, (x, w, cols_all, b is not None, stride, pad, dilation, groups)


def conv2d_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True, *,
                    tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C/G, kh, kw), db: (F,) or None.

    Each is computed only when asked, else returned as None (see conv_im2col.conv2d_backward): input_grad=False
    for a first layer, weight_grad / bias_grad=False for frozen parameters (no unfolding, no dW GEMM).
    """
    if isinstance(cache[0], str):  # ("depthwise", its cache)
        return conv_depthwise.conv2d_backward(dout, cache[1], input_grad, weight_grad, bias_grad, tuning=tuning)
    unfold, fold = kernels()
    x, w, cols_all, has_bias, stride, pad, dilation, groups = cache
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    sizes = _sizes(x.shape, w.shape, stride, pad, dilation)
    ho, wo = sizes[-2:]
    k, ell, fg = cg * kh * kw, ho * wo, f // groups
    bias_grad = bias_grad and has_bias
    dout = np.ascontiguousarray(dout)
    wt = np.ascontiguousarray(w.reshape(groups, fg, k).transpose(0, 2, 1))  # W_g.T
    dx = np.empty(x.shape, x.dtype) if input_grad else None
    shape = (c * kh * kw, ell)

    def chunk(s, lo, hi):
        m = hi - lo
        d = dout[lo:hi].reshape(m, groups, fg, ell)
        if weight_grad:
            if cols_all is None:
                cols = scratch(s, "cols", (m,) + shape, x.dtype)[:m]
                unfold(x[lo:hi], cols, *sizes)
            else:
                cols = cols_all[lo:hi]
            add_weight_grad(cols.reshape(m, groups, 1, k, ell), d, s, tuning)
        if bias_grad:
            threads.add(s, "db", d.sum(axis=(0, 3)))
        if input_grad:
            dcols = scratch(s, "dcols", (m,) + shape, x.dtype)[:m]
            np.matmul(wt, d, out=dcols.reshape(m, groups, k, ell))
            fold(dcols, dx[lo:hi], *sizes)

    size = threads.chunk_size(n, c * kh * kw * ell * x.itemsize, tuning.chunk_bytes)
    parts = threads.run(chunk, n, size) if weight_grad or bias_grad or input_grad else []
    dw = summed_weight_grad(parts, w.shape) if weight_grad else None
    db = sum(s["db"] for s in parts).reshape(f) if bias_grad else None
    return dx, dw, db
