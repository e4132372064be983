"""2-D convolution with compiled loops (numba): im2col + GEMM whose unfolding and folding are numba loops.

The same math as conv_im2col (see there): cols: (N, C*kh*kw, L), rows ordered (c, a, b), L = H_out*W_out,

    y[n, g]  = W_g @ cols[n, g]                          GEMM (BLAS, through np.matmul)
    dW_g     = sum_n cols[n, g] @ D[n, g].T, transposed  GEMM
    dcols    = W_g.T @ D[n, g]                           GEMM
    dx       = fold(dcols): dx[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] += dcols[n, (c, a, b), (i, j)]

What NumPy cannot do well are the two data movements around the GEMMs: unfold, a copy of
one short run per output row, and fold, kh*kw strided additions. Here they are loops compiled by
numba, parallel over the batch (prange), with the padding folded into the index arithmetic
(no padded copy of x, no cropping of dx): each loop over j first works out which j read a pixel
inside the image, so the inner loop has no test. The multiply-adds stay with BLAS, which numba
loops cannot match.

numba is optional (pip install 'cnnumpy[numba]'): it is imported at the first call, which compiles
the loops (numba_kernels) in the first process and loads them from numba's on-disk cache in the next ones.
"""
import functools
import os

import numpy as np

from . import parallel
from .padding import out_size

CHUNK_BYTES = 1 << 20    # columns of one chunk: still in the cache when the GEMM reads them
CACHE_BYTES = 64 << 20   # keep the whole batch's columns for backward up to this size, else unfold again
SPLIT_WORK = 1 << 24     # multiply-adds of a chunk's GEMMs below which they stay in the calling thread


@functools.cache
def kernels():
    """(unfold, fold) from numba_kernels, imported (and numba with it) on first use."""
    try:
        import numba
    except ImportError as e:
        raise ImportError("Conv2d(method='numba') needs numba: pip install 'cnnumpy[numba]' "
                          "(or use method='im2col')") from e
    if "NUMBA_THREADING_LAYER" not in os.environ:
        # numba's default, OpenMP, is a second OpenMP runtime next to torch's when both are loaded
        # (tests, benchmarks): each then slows the other down 3-10x. Its own thread pool avoids that.
        # Set first, before the kernels exist: numba fixes the layer at the first parallel call (or
        # set_num_threads, see _threads) and silently ignores the setting afterwards.
        numba.config.THREADING_LAYER = "workqueue"
    from . import numba_kernels
    return numba_kernels.unfold, numba_kernels.fold


def _threads():
    """numba's loops use as many threads as cnnumpy.functional.parallel (within numba's own limit)."""
    import numba
    numba.set_num_threads(min(parallel.num_threads(), numba.config.NUMBA_NUM_THREADS))


def _chunk(n, per_sample):
    """Samples per chunk: the columns within CHUNK_BYTES, but at least one sample per thread."""
    return min(n, max(parallel.num_threads(), CHUNK_BYTES // per_sample, 1))


def _matmul(a, b, out):
    """out[i] = a @ b[i], or a[i] @ b[i] when a has b's number of axes: a chunk's GEMMs, split by sample over
    cnnumpy's threads when they are big enough to pay for it, since those threads hold NumPy's BLAS to one
    thread (cnnumpy.functional.parallel)."""
    batched = a.ndim == b.ndim

    def chunk(s, lo, hi):
        np.matmul(a[lo:hi] if batched else a, b[lo:hi], out=out[lo:hi])

    parallel.run(chunk, len(out), parallel.split(len(out), out.size * b.shape[-2], SPLIT_WORK))
    return out


def _sizes(x_shape, w_shape, stride, pad, dilation):
    """(kh, kw, sh, sw, dh, dw, pt, pl, ho, wo): the loops' integer arguments."""
    _, _, h, w = x_shape
    _, _, kh, kw = w_shape
    ho = out_size(h, kh, stride[0], pad[0], pad[1], dilation[0])
    wo = out_size(w, kw, stride[1], pad[2], pad[3], dilation[1])
    return kh, kw, stride[0], stride[1], dilation[0], dilation[1], pad[0], pad[2], ho, wo


def conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Forward. pad = (top, bottom, left, right). Returns (y, cache)."""
    unfold, _ = kernels()
    _threads()
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    sizes = _sizes(x.shape, w.shape, stride, pad, dilation)
    ho, wo = sizes[-2:]
    k, ell = cg * kh * kw, ho * wo
    x = np.ascontiguousarray(x)
    wm = w.reshape(groups, f // groups, k)
    y = np.empty((n, f, ho, wo), x.dtype)
    per_sample = c * kh * kw * ell * x.itemsize
    keep = n * per_sample <= CACHE_BYTES
    size = _chunk(n, per_sample)
    cols_all = np.empty((n, c * kh * kw, ell), x.dtype) if keep else None
    buf = None if keep else np.empty((size, c * kh * kw, ell), x.dtype)
    for lo, hi in parallel.chunks(n, size):
        cols = cols_all[lo:hi] if keep else buf[:hi - lo]
        unfold(x[lo:hi], cols, *sizes)
        _matmul(wm, cols.reshape(hi - lo, groups, k, ell), y[lo:hi].reshape(hi - lo, groups, -1, ell))
    if b is not None:
        y += b.reshape(1, f, 1, 1)
    return y, (x, w, cols_all, b is not None, stride, pad, dilation, groups)


def conv2d_backward(dout, cache, input_grad=True):
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C/G, kh, kw), db: (F,) or None.

    input_grad=False skips dx (returned as None): the first layer's input is data, whose gradient nobody uses.
    """
    unfold, fold = kernels()
    _threads()
    x, w, cols_all, has_bias, stride, pad, dilation, groups = cache
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    sizes = _sizes(x.shape, w.shape, stride, pad, dilation)
    ho, wo = sizes[-2:]
    k, ell, fg = cg * kh * kw, ho * wo, f // groups
    dout = np.ascontiguousarray(dout)
    wt = w.reshape(groups, fg, k).transpose(0, 2, 1)
    size = _chunk(n, c * kh * kw * ell * x.itemsize)
    buf = np.empty((size, c * kh * kw, ell), x.dtype) if cols_all is None else None
    dx = np.empty(x.shape, x.dtype) if input_grad else None
    dcols = np.empty((size, c * kh * kw, ell), x.dtype) if input_grad else None
    dw = np.zeros((groups, k, fg), x.dtype)
    dwn = np.empty((size, groups, k, fg), x.dtype)
    for lo, hi in parallel.chunks(n, size):
        m = hi - lo
        if cols_all is None:
            cols = buf[:m]
            unfold(x[lo:hi], cols, *sizes)
        else:
            cols = cols_all[lo:hi]
        d = dout[lo:hi].reshape(m, groups, fg, ell)
        dt = np.ascontiguousarray(d.transpose(0, 1, 3, 2))
        dw += _matmul(cols.reshape(m, groups, k, ell), dt, dwn[:m]).sum(axis=0)
        if input_grad:
            _matmul(wt, d, dcols[:m].reshape(m, groups, k, ell))
            fold(dcols[:m], dx[lo:hi], *sizes)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw.transpose(0, 2, 1).reshape(w.shape), db
