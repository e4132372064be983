"""BatchNorm made fast: functional.norm's moments, batch_norm and batch_norm_backward in chunks on threads.

Every pass walks the batch a chunk of samples at a time (tuning.norm_chunk_bytes of x, so that the temporaries
stay in the cache and no array of x's size is allocated for them) on cnnumpy's threads, summing per channel
within each chunk; the partial sums are added at the end. Same signatures, results and dtypes as the readable
functions, plus `tuning`; why: docs/performance.md#tuned-relu-linear-and-batchnorm-2026-12-07.
"""
import importlib

import numpy as np

from . import compiled, threads
from .config import DEFAULT, Tuning
from .conv_infer import CLAMP, activate


def _loops(tuning, *arrays):
    """loops/batchnorm.py when it runs these arrays (tuning.bn_compiled, numba installed, one dtype it takes, x
    contiguous and not empty), else None."""
    x = arrays[0]
    if not (tuning.bn_compiled and x.size and x.ndim >= 2 and x.flags.c_contiguous and compiled.has_numba()
            and compiled.compiled_dtype(x.dtype) and all(a.dtype == x.dtype for a in arrays if a is not None)):
        return None
    return importlib.import_module(f"{__package__}.loops.batchnorm")


def _planes(x):
    """x: (N, C, ...) as (N, C, P), a view."""
    return x.reshape(x.shape[0], x.shape[1], -1)


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
    loops = _loops(tuning, x)
    if loops is not None:
        x3 = _planes(x)

        def pass_(squares, mean):
            def chunk(s, lo, hi):
                out = np.zeros(x.shape[1], x.dtype)
                loops.sums(x3, mean, out, squares, lo, hi)
                threads.add(s, "sum", out)
            return sum(t["sum"] for t in _run(chunk, x, tuning))

        mean = pass_(False, np.zeros(x.shape[1], x.dtype)) / x.dtype.type(m)
        var = pass_(True, mean.astype(x.dtype, copy=False)) / x.dtype.type(m)
        return mean.astype(x.dtype, copy=False), var.astype(x.dtype, copy=False)

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
    loops = _loops(tuning, x, mean, inv_std, weight, bias)
    if loops is not None:
        ones = np.ones(x.shape[1], x.dtype)
        w = ones if weight is None else weight
        b = ones if bias is None else bias
        x3, xh3, y3 = _planes(x), _planes(xhat), _planes(y)

        def plane_chunk(s, lo, hi):
            loops.normalize(x3, mean, inv_std, w, b, weight is not None, bias is not None, xh3, y3, lo, hi)

        _run(plane_chunk, x, tuning)
        return y, (xhat, inv_std, weight, bias is not None, training)

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


def batch_norm_eval(x: np.ndarray, mean: np.ndarray, var: np.ndarray, weight: np.ndarray | None = None,
                    bias: np.ndarray | None = None, eps: float = 1e-5, act: str | None = None, slope: float = 0.01,
                    *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """batch_norm's y in eval mode, alone (no x-hat kept for a backward), with an activation after it:

        y = act(x * s + t)        s = weight / sqrt(var + eps),  t = bias - mean * s     (per channel)

    as torch's inference kernel folds it (s and t in float64, then x's dtype). act: None, "relu", "relu6" or
    "leaky_relu" (slope), as conv_infer's. x: (N, C, ...), the rest (C,) -> y: x's shape and dtype.
    """
    if act not in CLAMP:
        raise ValueError(f"act: expected None or one of {tuple(k for k in CLAMP if k)}, got {act!r}")
    scale = 1.0 / np.sqrt(np.asarray(var, np.float64) + eps)
    if weight is not None:
        scale = scale * weight
    shift = -np.asarray(mean, np.float64) * scale
    if bias is not None:
        shift = shift + bias
    dtype = np.result_type(x, mean, var, *(v for v in (weight, bias) if v is not None))
    s, t = scale.astype(dtype), shift.astype(dtype)
    y = np.empty(x.shape, dtype)
    loops = _loops(tuning, x, s, t)
    if loops is not None:
        kind, low, high = CLAMP[act]
        scalars = [x.dtype.type(v) for v in (low, high, slope)]
        x3, y3 = _planes(x), _planes(y)
        _run(lambda _, lo, hi: loops.affine(x3, s, t, kind, *scalars, y3, lo, hi), x, tuning)
        return y
    sb, tb = _per_channel(s, x.ndim), _per_channel(t, x.ndim)

    def chunk(_, lo, hi):
        np.multiply(x[lo:hi], sb, out=y[lo:hi])
        np.add(y[lo:hi], tb, out=y[lo:hi])
        activate(y[lo:hi], act, slope)

    _run(chunk, x, tuning)
    return y


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

    loops = _loops(tuning, dout, xhat) if dout.flags.c_contiguous and xhat.flags.c_contiguous else None

    def sums(s, lo, hi):
        if loops is not None:
            db, dg = np.zeros(dout.shape[1], dout.dtype), np.zeros(dout.shape[1], dout.dtype)
            loops.grad_sums(_planes(dout), _planes(xhat), db, dg, need_dbeta, need_dgamma, lo, hi)
            if need_dbeta:
                threads.add(s, "dbeta", db)
            if need_dgamma:
                threads.add(s, "dgamma", dg)
            return
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

    factors = [v.reshape(-1) for v in (a, a if b is None else b, a if c is None else c)]  # b, c: training only
    if loops is not None and all(v.dtype == dx.dtype == dout.dtype for v in factors):

        def grad_chunk(s, lo, hi):
            loops.grad(_planes(dout), _planes(xhat), *factors, b is not None, _planes(dx), lo, hi)

        _run(grad_chunk, dout, tuning)
        return dx, dweight, dbias

    def grad(s, lo, hi):
        out = np.multiply(dout[lo:hi], a, out=dx[lo:hi])
        if b is not None:
            out -= np.multiply(xhat[lo:hi], b)
            out -= c

    _run(grad, dout, tuning)
    return dx, dweight, dbias
