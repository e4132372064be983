"""GroupNorm, InstanceNorm and LayerNorm made fast: functional.norm's group_norm, instance_moments, instance_norm,
layer_norm and their backwards, a chunk of samples (LayerNorm: rows) at a time on cnnumpy's threads.

The readable functions reuse BatchNorm's on a (1, rows, m) view, which allocates several arrays of x's size per
pass (x - mean, its square, xhat, gamma * xhat, ...) and walks x once per operator. Here a chunk of samples
(tuning.norm_chunk_bytes of x) goes through every step while it is in the cache, writing y in place. The cache
holds x, mean and r, not xhat (an array as large as y, written and read back): the backward computes xhat again,
a chunk at a time, by the forward's expression (x - mean) r. It needs one temporary, dout * xhat, whose sums per
(sample, channel) give dgamma and, weighted by gamma, the per-group sum of dxhat * xhat:

    with s1 = sum_row gamma_c dout, s2 = sum_row gamma_c dout xhat, M the row's length, r = 1 / sqrt(var + eps),
    dx = r gamma_c dout - xhat (r s2 / M) - r s1 / M      (functional.norm.normalize_backward, gamma folded in)

With numba installed (tuning.norm_compiled), each row (a sample's group, or LayerNorm's row) goes through
loops/norm_family.py instead: three passes over the row, forward and backward, while it is in the cache.

Same signatures, results (to rounding: the sums are taken in another order) and dtypes as the readable functions,
plus `tuning`; the caches are the tuned functions' own. Running statistics (InstanceNorm in evaluation with
track_running_stats) go to tuned/norm.py's batch_norm.
"""
import functools
import importlib
import math

import numpy as np

from . import compiled, norm, threads
from .config import DEFAULT, Tuning


@functools.cache
def _loops():
    """loops/norm_family.py, imported (and numba with it) at the first layer that uses it."""
    return importlib.import_module(f"{__package__}.loops.norm_family")


def _use_loops(tuning, *arrays):
    """Whether numba's loops run: tuning.norm_compiled, numba installed, every array of a dtype they take."""
    return (tuning.norm_compiled and compiled.has_numba()
            and all(compiled.compiled_dtype(a.dtype) for a in arrays if a is not None))


def _affine(weight, bias, shape, dtype):
    """gamma and beta as contiguous arrays of `shape` and dtype (ones and zeros where None)."""
    g = np.ones(shape, dtype) if weight is None else np.ascontiguousarray(weight, dtype).reshape(shape)
    b = np.zeros(shape, dtype) if bias is None else np.ascontiguousarray(bias, dtype).reshape(shape)
    return g, b


def _run(fn, x, tuning):
    """fn(s, lo, hi) over chunks of x's samples, tuning.norm_chunk_bytes each, on the threads."""
    n = len(x)
    return threads.run(fn, n, threads.chunk_size(n, x.nbytes // max(n, 1), tuning.norm_chunk_bytes))


def _buffer(s, key, shape, dtype):
    """A scratch array of the thread's scratch s, at least shape[0] long (chunks never grow along a run)."""
    b = s.get(key)
    if b is None or b.shape[0] < shape[0] or b.shape[1:] != shape[1:] or b.dtype != dtype:
        b = s[key] = np.empty(shape, dtype)
    return b[:shape[0]]


def grouped_moments(x: np.ndarray, groups: int, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """x: (N, C, ...) -> mean, var: (N, groups): each sample's group of C/groups channels' mean and biased
    variance over its channels and positions (functional.norm.row_moments with N * groups rows)."""
    n = len(x)
    x3 = x.reshape(n, groups, -1)
    mean = np.empty((n, groups), x.dtype)
    var = np.empty((n, groups), x.dtype)
    if _use_loops(tuning, x) and x.size:
        loops = _loops()
        xr = np.ascontiguousarray(x).reshape(n * groups, -1)

        def rows(s, lo, hi):
            loops.moments(xr, mean.reshape(-1), var.reshape(-1), lo * groups, hi * groups)

        _run(rows, x3, tuning)
        return mean, var

    def chunk(s, lo, hi):
        xc = x3[lo:hi]
        mean[lo:hi] = xc.mean(axis=2)
        d = np.subtract(xc, mean[lo:hi, :, None], out=_buffer(s, "d", xc.shape, x.dtype))
        var[lo:hi] = np.square(d, out=d).mean(axis=2)

    _run(chunk, x3, tuning)
    return mean, var


def _normalize(x, groups, mean, var, weight, bias, eps, tuning):
    """y, x (contiguous), mean, r = 1 / sqrt(var + eps) (N, groups): each group normalised by its (mean, var)
    to xhat = (x - mean) r, then y = gamma_c xhat + beta_c. mean, var None: the chunk's own, from the x - mean
    written into a scratch xhat (grouped_moments without a second pass over x)."""
    n, c = x.shape[:2]
    x = np.ascontiguousarray(x)
    x3 = x.reshape(n, groups, -1)
    own = mean is None
    if own:
        mean, var = np.empty((n, groups), x.dtype), np.empty((n, groups), x.dtype)
        r = np.empty((n, groups), x.dtype)
    else:
        r = 1.0 / np.sqrt(var + eps)
    xdt = np.result_type(x, mean, r)
    y = np.empty(x.shape, np.result_type(xdt, *(v for v in (weight, bias) if v is not None)))
    if _use_loops(tuning, x, mean, y) and x.size:
        _normalize_loops(x, groups, mean, var, r, own, weight, bias, eps, y, tuning)
        return y, x, mean, r
    yc3 = y.reshape(n, c, -1)
    wb = None if weight is None else weight.reshape(1, c, 1)
    bb = None if bias is None else bias.reshape(1, c, 1)

    def chunk(s, lo, hi):
        xh = _buffer(s, "xhat", (hi - lo,) + x3.shape[1:], xdt)
        if own:
            mean[lo:hi] = x3[lo:hi].mean(axis=2)
        np.subtract(x3[lo:hi], mean[lo:hi, :, None], out=xh)
        if own:
            sq = np.square(xh, out=_buffer(s, "sq", xh.shape, xh.dtype))
            var[lo:hi] = sq.mean(axis=2)
            r[lo:hi] = 1.0 / np.sqrt(var[lo:hi] + eps)
        xh *= r[lo:hi, :, None]
        xhc, yc = xh.reshape(hi - lo, c, -1), yc3[lo:hi]
        if wb is None:
            np.copyto(yc, xhc)
        else:
            np.multiply(xhc, wb, out=yc)
        if bb is not None:
            yc += bb

    _run(chunk, x3, tuning)
    return y, x, mean, r


def _xhat(s, x3, mean, r, lo, hi, dtype):
    """xhat = (x - mean) r of samples [lo, hi) as (k, groups, P), in the thread's scratch: the forward's
    expression, so its values."""
    xh = _buffer(s, "xhat", (hi - lo,) + x3.shape[1:], dtype)
    np.subtract(x3[lo:hi], mean[lo:hi, :, None], out=xh)
    xh *= r[lo:hi, :, None]
    return xh


def _normalize_loops(x, groups, mean, var, r, own, weight, bias, eps, y, tuning):
    """_normalize by loops/norm_family.group_forward, a chunk of samples (their groups' rows) at a time."""
    n, c = x.shape[:2]
    cg = c // groups
    rows = (n * groups, cg, x.size // (n * c))
    xr = x.reshape(rows)
    gamma, beta = _affine(weight, bias, (groups, cg), y.dtype)
    mf, rf = mean.reshape(-1), r.reshape(-1)
    count = x.dtype.type(rows[1] * rows[2])
    if not own:
        np.copyto(rf, 1.0 / np.sqrt(var.reshape(-1) + eps))
    loops = _loops()

    def chunk(s, lo, hi):
        loops.group_forward(xr, gamma, beta, eps, count, mf, rf, y.reshape(rows), own, lo * groups, hi * groups)

    _run(chunk, x, tuning)


def group_norm(x: np.ndarray, num_groups: int, weight: np.ndarray | None = None, bias: np.ndarray | None = None,
               eps: float = 1e-5, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.norm.group_norm: x: (N, C, ...) -> y shaped as x, each sample's group of C/G channels
    normalised, then gamma_c xhat + beta_c. Returns (y, cache)."""
    y, xc, mean, r = _normalize(x, num_groups, None, None, weight, bias, eps, tuning)
    return y, (xc, mean, r, weight, bias is not None)


def group_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                        bias_grad: bool = True, *,
                        tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """functional.norm.group_norm_backward: dout -> dx (None if not input_grad), dweight, dbias: (C,) or None."""
    x, mean, r, weight, has_bias = cache
    n, c = dout.shape[:2]
    groups = r.shape[1]
    cg = c // groups
    want_w = weight_grad and weight is not None
    want_b = bias_grad and has_bias
    if not (input_grad or want_w or want_b):
        return None, None, None
    d3, x3 = dout.reshape(n, c, -1), x.reshape(n, groups, -1)
    m = x3.shape[2]  # entries per group
    xdt = np.result_type(x, mean, r)
    dx = np.empty(dout.shape, np.result_type(dout, xdt)) if input_grad else None
    if dx is not None and dout.size and _use_loops(tuning, dout, x, mean, dx, r):
        return _group_backward_loops(dout, x, mean, r, weight, dx, want_w, want_b, tuning)
    dx3 = None if dx is None else dx.reshape(n, c, -1)
    gamma = np.ones(c, dout.dtype) if weight is None else weight

    def chunk(s, lo, hi):
        dc, xc = d3[lo:hi], _xhat(s, x3, mean, r, lo, hi, xdt).reshape(hi - lo, c, -1)
        sd = dc.sum(axis=2)  # (m, C): sum of dout per sample and channel
        t = np.multiply(dc, xc, out=_buffer(s, "t", dc.shape, dx.dtype if dx is not None else dout.dtype))
        sdx = t.sum(axis=2)  # (m, C): sum of dout * xhat
        if want_w:
            threads.add(s, "dw", sdx.sum(axis=0))
        if want_b:
            threads.add(s, "db", sd.sum(axis=0))
        if dx3 is None:
            return
        k = hi - lo
        rc = r[lo:hi]                                                   # (k, G)
        s1 = (sd * gamma).reshape(k, groups, cg).sum(axis=2) / m       # mean of dxhat per group
        s2 = (sdx * gamma).reshape(k, groups, cg).sum(axis=2) / m      # mean of dxhat * xhat per group
        a = np.repeat(rc, cg, axis=1) * gamma                          # (k, C): r gamma_c
        b = np.repeat(rc * s2, cg, axis=1)
        cc = np.repeat(rc * s1, cg, axis=1)
        out = dx3[lo:hi]
        np.multiply(dc, a[:, :, None], out=out)
        out -= np.multiply(xc, b[:, :, None], out=t)
        out -= cc[:, :, None]

    parts = _run(chunk, dout, tuning)
    dw = sum((p["dw"] for p in parts if "dw" in p), np.zeros(c, dout.dtype)) if want_w else None
    db = sum((p["db"] for p in parts if "db" in p), np.zeros(c, dout.dtype)) if want_b else None
    return dx, dw, db


def _group_backward_loops(dout, x, mean, r, weight, dx, want_w, want_b, tuning):
    """group_norm_backward by loops/norm_family.group_backward, a chunk of samples at a time."""
    n, c = dout.shape[:2]
    groups = r.shape[1]
    cg = c // groups
    rows = (n * groups, cg, dout.size // (n * c))
    dr = np.ascontiguousarray(dout).reshape(rows)
    gamma, _ = _affine(weight, None, (groups, cg), dx.dtype)
    rf, mf = np.ascontiguousarray(r).reshape(-1), np.ascontiguousarray(mean).reshape(-1)
    count = dx.dtype.type(rows[1] * rows[2])
    loops = _loops()

    def chunk(s, lo, hi):
        if "dw" not in s:
            s["dw"], s["db"] = np.zeros((groups, cg), dx.dtype), np.zeros((groups, cg), dx.dtype)
        loops.group_backward(dr, x.reshape(rows), mf, gamma, rf, dx.reshape(rows), s["dw"], s["db"], count,
                             lo * groups, hi * groups)

    parts = _run(chunk, dout, tuning)
    dw = sum(p["dw"] for p in parts).reshape(c) if want_w else None
    db = sum(p["db"] for p in parts).reshape(c) if want_b else None
    return dx, dw, db


def instance_moments(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """functional.norm.instance_moments: x: (N, C, ...) -> mean, var: (N, C) over each plane's positions."""
    return grouped_moments(x, x.shape[1], tuning=tuning)


def instance_norm(x: np.ndarray, mean: np.ndarray, var: np.ndarray, weight: np.ndarray | None = None,
                  bias: np.ndarray | None = None, eps: float = 1e-5, use_input_stats: bool = True, *,
                  tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.norm.instance_norm: with the input's statistics mean, var: (N, C), group_norm with one channel
    per group; with running ones (C,), tuned batch_norm in evaluation. Returns (y, cache)."""
    if not use_input_stats:
        y, bcache = norm.batch_norm(x, mean, var, weight, bias, eps, training=False, tuning=tuning)
        return y, (False, bcache)
    y, xc, mean, r = _normalize(x, x.shape[1], mean, var, weight, bias, eps, tuning)
    return y, (True, (xc, mean, r, weight, bias is not None))


def instance_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                           bias_grad: bool = True, *,
                           tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """functional.norm.instance_norm_backward: dout -> dx (None if not input_grad), dweight, dbias."""
    use_input_stats, inner = cache
    if not use_input_stats:
        return norm.batch_norm_backward(dout, inner, input_grad, weight_grad, bias_grad, tuning=tuning)
    return group_norm_backward(dout, inner, input_grad, weight_grad, bias_grad, tuning=tuning)


def layer_norm(x: np.ndarray, normalized_ndim: int, weight: np.ndarray | None = None,
               bias: np.ndarray | None = None, eps: float = 1e-5, *,
               tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.norm.layer_norm: each row (one index of the leading axes) normalised over its last
    normalized_ndim axes S, then y = gamma * xhat + beta elementwise over S. Returns (y, cache)."""
    size = math.prod(x.shape[x.ndim - normalized_ndim:])
    rows = x.size // max(size, 1)
    x2 = np.ascontiguousarray(x).reshape(rows, size)
    mean, r = np.empty(rows, x.dtype), np.empty(rows, x.dtype)
    y = np.empty(x2.shape, np.result_type(x, *(v for v in (weight, bias) if v is not None)))
    wf = None if weight is None else weight.reshape(1, size)
    bf = None if bias is None else bias.reshape(1, size)
    if _use_loops(tuning, x, y) and x.size:
        loops = _loops()
        gamma, beta = _affine(weight, bias, (size,), y.dtype)
        count = x.dtype.type(size)

        def chunk(s, lo, hi):
            loops.layer_forward(x2, gamma, beta, eps, count, mean, r, y, lo, hi)

        _run(chunk, x2, tuning)
        return y.reshape(x.shape), (x2, mean, r, x.shape, normalized_ndim, weight, bias is not None)

    def chunk(s, lo, hi):
        xh, yc = _buffer(s, "xhat", (hi - lo, size), x.dtype), y[lo:hi]
        mean[lo:hi] = x2[lo:hi].mean(axis=1)
        np.subtract(x2[lo:hi], mean[lo:hi, None], out=xh)
        var = np.square(xh, out=_buffer(s, "sq", xh.shape, xh.dtype)).mean(axis=1)
        r[lo:hi] = 1.0 / np.sqrt(var + eps)
        xh *= r[lo:hi, None]
        if wf is None:
            np.copyto(yc, xh)
        else:
            np.multiply(xh, wf, out=yc)
        if bf is not None:
            yc += bf

    _run(chunk, x2, tuning)
    return y.reshape(x.shape), (x2, mean, r, x.shape, normalized_ndim, weight, bias is not None)


def layer_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                        bias_grad: bool = True, *,
                        tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """functional.norm.layer_norm_backward: dout -> dx (None if not input_grad), dweight, dbias shaped as S or None.
    Per row, with dxhat = gamma dout and means over the row: dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))."""
    x2, mean, r, shape, normalized_ndim, weight, has_bias = cache
    rows, size = x2.shape
    norm_shape = shape[len(shape) - normalized_ndim:]
    want_w = weight_grad and weight is not None
    want_b = bias_grad and has_bias
    if not (input_grad or want_w or want_b):
        return None, None, None
    d2 = dout.reshape(rows, size)
    dx = np.empty(x2.shape, np.result_type(dout, x2, r)) if input_grad else None
    wf = None if weight is None else weight.reshape(1, size)
    dtype = dx.dtype if dx is not None else dout.dtype
    if dout.size and _use_loops(tuning, dout, x2, r):
        loops = _loops()
        dc2 = np.ascontiguousarray(d2)
        gamma, _ = _affine(weight, None, (size,), dtype)
        out = dx if dx is not None else np.empty((1, 1), dtype)
        count = np.dtype(dtype).type(size)

        def chunk(s, lo, hi):
            if "dw" not in s:
                s["dw"], s["db"] = np.zeros(size, dtype), np.zeros(size, dtype)
            loops.layer_backward(dc2, x2, mean, gamma, r, out, s["dw"], s["db"], dx is not None, count, lo, hi)

        parts = _run(chunk, x2, tuning)
        dw = sum(p["dw"] for p in parts).reshape(norm_shape) if want_w else None
        db = sum(p["db"] for p in parts).reshape(norm_shape) if want_b else None
        return (None if dx is None else dx.reshape(shape)), dw, db

    def chunk(s, lo, hi):
        dc = d2[lo:hi]
        xc = np.subtract(x2[lo:hi], mean[lo:hi, None], out=_buffer(s, "xhat", dc.shape, x2.dtype))
        xc *= r[lo:hi, None]  # xhat, as the forward computed it
        t = _buffer(s, "t", dc.shape, dtype)
        if want_w:
            threads.add(s, "dw", np.multiply(dc, xc, out=t).sum(axis=0))
        if want_b:
            threads.add(s, "db", dc.sum(axis=0))
        if dx is None:
            return
        out = dx[lo:hi]
        if wf is None:
            np.copyto(out, dc)
        else:
            np.multiply(dc, wf, out=out)  # dxhat
        s1 = out.mean(axis=1)
        s2 = np.multiply(out, xc, out=t).mean(axis=1)
        rc = r[lo:hi]
        out *= rc[:, None]
        out -= np.multiply(xc, (rc * s2)[:, None], out=t)
        out -= (rc * s1)[:, None]

    parts = _run(chunk, x2, tuning)
    dw = sum((p["dw"] for p in parts if "dw" in p), np.zeros(size, dtype)).reshape(norm_shape) if want_w else None
    db = sum((p["db"] for p in parts if "db" in p), np.zeros(size, dtype)).reshape(norm_shape) if want_b else None
    return (None if dx is None else dx.reshape(shape)), dw, db
