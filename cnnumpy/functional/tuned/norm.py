"""BatchNorm made fast: functional.norm's moments, batch_norm and batch_norm_backward in chunks on threads.

Every pass walks the batch a chunk of samples at a time (tuning.norm_chunk_bytes of x, so that the temporaries
stay in the cache and no array of x's size is allocated for them) on cnnumpy's threads, summing per channel
within each chunk; the partial sums are added at the end. Same signatures, results and dtypes as the readable
functions, plus `tuning`; why: docs/performance.md#tuned-relu-linear-and-batchnorm-2026-12-07.
"""
import numpy as np

from . import threads
from .config import DEFAULT, Tuning


def _per_channel(v, ndim):
    """(C,) -> (1, C, 1, ...) so it broadcasts against an ndim-dimensional x."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _run(fn, x, tuning):
    """fn(s, lo, hi) over chunks of x's samples on cnnumpy's threads; returns the threads' scratch dicts."""
    n = len(x)
    per_sample = x.nbytes // max(n, 1)
    return threads.run(fn, n, threads.chunk_size(n, per_sample, tuning.norm_chunk_bytes))


def _sums(a):
    """Per-channel sums of a: (m, C, ...) -> (C,): the contiguous inner axes first, then the samples."""
    return a.reshape(a.shape[0], a.shape[1], -1).sum(axis=2).sum(axis=0)


def moments(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """functional.norm.moments: x: (N, C, ...) -> mean: (C,), var: (C,) (biased, divided by m)."""
    m = x.size // x.shape[1]

    def total(s, lo, hi):
        threads.add(s, "sum", _sums(x[lo:hi]))

    mean = sum(t["sum"] for t in _run(total, x, tuning)) / x.dtype.type(m)
    mb = _per_channel(mean, x.ndim)

    def squares(s, lo, hi):  # sum (x - mean)^2: two passes over x, but no cancellation as in E[x^2] - mean^2
        d = np.subtract(x[lo:hi], mb)
        threads.add(s, "sq", _sums(np.square(d, out=d)))

    var = sum(t["sq"] for t in _run(squares, x, tuning)) / x.dtype.type(m)
    return mean.astype(x.dtype, copy=False), var.astype(x.dtype, copy=False)


def batch_norm(x: np.ndarray, mean: np.ndarray, var: np.ndarray, weight: np.ndarray | None = None,
               bias: np.ndarray | None = None, eps: float = 1e-5, training: bool = True, *,
               tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.norm.batch_norm: y = weight * (x - mean) / sqrt(var + eps) + bias. Returns (y, cache)."""
    inv_std = 1.0 / np.sqrt(var + eps)
    nd = x.ndim
    mb, ib = _per_channel(mean, nd), _per_channel(inv_std, nd)
    wb = _per_channel(weight, nd) if weight is not None else None
    bb = _per_channel(bias, nd) if bias is not None else None
    xhat = np.empty(x.shape, np.result_type(x, mean, inv_std))
    y = np.empty(x.shape, np.result_type(xhat, *(v for v in (weight, bias) if v is not None)))

    def chunk(s, lo, hi):
        xh, yc = xhat[lo:hi], y[lo:hi]
        np.subtract(x[lo:hi], mb, out=xh)
        np.multiply(xh, ib, out=xh)
        if wb is not None:
            np.multiply(xh, wb, out=yc)
        else:
            np.copyto(yc, xh)
        if bb is not None:
            np.add(yc, bb, out=yc)

    _run(chunk, x, tuning)
    return y, (xhat, inv_std, weight, bias is not None, training)


def batch_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                        bias_grad: bool = True, *,
                        tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """functional.norm.batch_norm_backward: dout -> dx, dweight, dbias (see its derivation).

    dx = dout * a - xhat * b - c with a = gamma * inv_std, b = a * dgamma / m, c = a * dbeta / m in training
    (only a in evaluation), in one pass per chunk. A sum not asked for is skipped unless the training dx needs it.
    """
    xhat, inv_std, weight, has_bias, training = cache
    nd = dout.ndim
    through_stats = training and input_grad  # the training dx needs both sums
    need_dbeta = through_stats or (bias_grad and has_bias)
    need_dgamma = through_stats or (weight_grad and weight is not None)

    def sums(s, lo, hi):
        d = dout[lo:hi]
        if need_dbeta:
            threads.add(s, "dbeta", _sums(d))
        if need_dgamma:
            threads.add(s, "dgamma", _sums(np.multiply(d, xhat[lo:hi])))

    parts = _run(sums, dout, tuning) if need_dbeta or need_dgamma else []
    dbeta = sum(t["dbeta"] for t in parts) if need_dbeta else None
    dgamma = sum(t["dgamma"] for t in parts) if need_dgamma else None
    dweight = dgamma if weight_grad and weight is not None else None
    dbias = dbeta if bias_grad and has_bias else None
    if not input_grad:
        return None, dweight, dbias
    scale = inv_std if weight is None else weight * inv_std
    dx = np.empty(dout.shape, np.result_type(dout, scale))
    if training:
        # dx = (scale / m) * (m * dout - dbeta - xhat * dgamma) = dout * scale - xhat * (scale * dgamma / m) - scale * dbeta / m
        m = dout.size // dout.shape[1]
        a, b, c = (_per_channel(v, nd) for v in (scale, scale * dgamma / m, scale * dbeta / m))
    else:
        a, b, c = _per_channel(scale, nd), None, None

    def grad(s, lo, hi):
        out = np.multiply(dout[lo:hi], a, out=dx[lo:hi])
        if b is not None:
            out -= np.multiply(xhat[lo:hi], b)
            out -= c

    _run(grad, dout, tuning)
    return dx, dweight, dbias
