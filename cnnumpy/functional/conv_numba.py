"""2-D convolution with compiled loops (numba): im2col + GEMM whose unfolding and folding are numba loops.

The same math as conv_im2col (see there): cols: (N, C*kh*kw, L), rows ordered (c, a, b), L = H_out*W_out,

    y[n, g]  = W_g @ cols[n, g]                          GEMM (BLAS, through np.matmul)
    dW_g     = sum_n D[n, g] @ cols[n, g].T              GEMM (conv_im2col.add_weight_grad)
    dcols    = W_g.T @ D[n, g]                           GEMM
    dx       = fold(dcols): dx[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] += dcols[n, (c, a, b), (i, j)]

What NumPy cannot do well are the two data movements around the GEMMs: unfold, a copy of
one short run per output row, and fold, kh*kw strided additions. Here they are loops compiled by
numba, with the padding folded into the index arithmetic (no padded copy of x, no cropping of dx):
each loop over j first works out which j read a pixel inside the image, so the inner loop has no test.
The multiply-adds stay with BLAS, which numba loops cannot match.

The batch goes in chunks (columns of at most CHUNK_BYTES, still in the cache for the GEMM) over
cnnumpy's threads (cnnumpy.functional.parallel), and each loop does a whole chunk in one call that
releases the GIL: a chunk is a handful of long calls, so two threads rarely wait for each other's GIL.
(numba's own parallel loops were slower here: their threads sleep between loops, and waking one
costs ~30 us on these virtual machines, more than many of the loops take.)

3x3 layers of stride 1 with at least 32 channels and filters and outputs of 16x16 or more go another
way (conv_winograd.pays): Winograd's F(2x2, 3x3), whose compiled transforms turn the layer into 16 GEMMs
of depth C on 2.25x fewer multiplications (conv_winograd). WINOGRAD = False sends them through the
unfolding above instead.

numba is optional (pip install 'cnnumpy[numba]'): it is imported at the first call, which compiles
the loops (numba_kernels, winograd_kernels) in the first process and loads them from numba's on-disk cache
in the next ones.
"""
import functools
from collections.abc import Callable, Sequence

import numpy as np

from . import conv_winograd, jit, parallel
from .conv_im2col import add_weight_grad, scratch, summed_weight_grad
from .padding import Pad, out_size
from .pool_naive import Pair

CHUNK_BYTES = 2 << 20    # columns of one chunk: still in the cache when the GEMM reads them
CACHE_BYTES = 16 << 20   # keep the whole batch's columns for backward up to this size, else unfold again
WINOGRAD = True          # 3x3 stride-1 layers where conv_winograd.pays go through conv_winograd


def winograd(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], groups: int, channels: int,
             filters: int, out_hw: Sequence[int]) -> bool:
    """Whether conv2d computes this layer by conv_winograd: WINOGRAD is on and conv_winograd.pays."""
    return WINOGRAD and conv_winograd.pays(kernel, stride, dilation, groups, channels, filters, out_hw)


@functools.cache
def kernels() -> tuple[Callable[..., None], Callable[..., None]]:
    """(unfold, fold) from numba_kernels, imported (and numba with it) on first use."""
    k = jit.kernels("numba_kernels", "Conv2d", "im2col")
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
           keep: bool = True) -> tuple[np.ndarray, tuple]:
    """Forward. pad = (top, bottom, left, right). Returns (y, cache).

    keep=False never keeps the columns for backward (which then unfolds x again): for inference.
    """
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    sizes = _sizes(x.shape, w.shape, stride, pad, dilation)
    ho, wo = sizes[-2:]
    if winograd((kh, kw), stride, dilation, groups, c, f, (ho, wo)):
        return conv_winograd.conv2d(x, w, b, stride, pad, dilation, groups)
    unfold, _ = kernels()
    k, ell = cg * kh * kw, ho * wo
    x = np.ascontiguousarray(x)
    wm = w.reshape(groups, f // groups, k)
    y = np.empty((n, f, ho, wo), x.dtype)
    per_sample = c * kh * kw * ell * x.itemsize
    cols_all = np.empty((n, c * kh * kw, ell), x.dtype) if keep and n * per_sample <= CACHE_BYTES else None
    bias = None if b is None else b.reshape(1, f, 1, 1)

    def chunk(s, lo, hi):
        m = hi - lo
        cols = scratch(s, "cols", (m, c * kh * kw, ell), x.dtype)[:m] if cols_all is None else cols_all[lo:hi]
        unfold(x[lo:hi], cols, *sizes)
        np.matmul(wm, cols.reshape(m, groups, k, ell), out=y[lo:hi].reshape(m, groups, -1, ell))
        if bias is not None:
            y[lo:hi] += bias

    parallel.run(chunk, n, parallel.chunk_size(n, per_sample, CHUNK_BYTES))
    return y, (x, w, cols_all, b is not None, stride, pad, dilation, groups)


def conv2d_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C/G, kh, kw), db: (F,) or None.

    Each is computed only when asked, else returned as None (see conv_im2col.conv2d_backward): input_grad=False
    for a first layer, weight_grad / bias_grad=False for frozen parameters (no unfolding, no dW GEMM).
    """
    if isinstance(cache, conv_winograd.Cache):
        return conv_winograd.conv2d_backward(dout, cache, input_grad, weight_grad, bias_grad)
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
            add_weight_grad(cols.reshape(m, groups, 1, k, ell), d, s)
        if bias_grad:
            parallel.add(s, "db", d.sum(axis=(0, 3)))
        if input_grad:
            dcols = scratch(s, "dcols", (m,) + shape, x.dtype)[:m]
            np.matmul(wt, d, out=dcols.reshape(m, groups, k, ell))
            fold(dcols, dx[lo:hi], *sizes)

    size = parallel.chunk_size(n, c * kh * kw * ell * x.itemsize, CHUNK_BYTES)
    parts = parallel.run(chunk, n, size) if weight_grad or bias_grad or input_grad else []
    dw = summed_weight_grad(parts, w.shape) if weight_grad else None
    db = sum(s["db"] for s in parts).reshape(f) if bias_grad else None
    return dx, dw, db
