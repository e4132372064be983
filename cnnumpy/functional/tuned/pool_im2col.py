"""2-D pooling, vectorized: the math of functional/pool.py, one NumPy call per kernel offset (method "im2col").

Pad x once (-inf for max, 0 for average; in ceil mode also past the bottom/right
edge, so the last windows that hang over it still fit) and take the strided view
of all windows, v: (N, C, H_out, W_out, kh, kw). For each kernel offset (a, b),
v[..., a, b] is one tap of every window at once, so the loops over the batch and the
pixels vanish and only kh*kw whole-array steps are left:

    max:  y   = np.maximum over the offsets (it keeps NaN, as PyTorch)
          idx = the offset k = a*kw + b that won: the first one larger than all before it, or NaN
          dx  = dout * [idx == k], added into offset k's strided slice of the padded input
                (np.where(idx == k, dout, 0) when dout holds an inf or NaN, see _gate)
    avg:  y   = (sum over the offsets of v[..., a, b]) / divisor        divisor: (H_out, W_out)
          dx  = dout / divisor, added into every offset's strided slice

Non-overlapping max pooling (stride = kernel, no padding, no dilation: LeNet's and VGG's 2x2) has a
faster path, "tiles": the windows tile x, so the max is taken in two sweeps, first along each
window row (kw-1 steps over x's columns) then across the rows (kh-1 steps); each sweep keeps the
index of its winner, the column ci and the row ri, and backward routes dout through them: one
pass per window row and one per window column, each writing its pixels exactly once.

Adaptive pooling, matrix products and sweeps rather than windows, is in pool_adaptive.py, and max unpooling, a
scatter, in pool_unpool.py; this module lends them its name (one method, every pooling op).

Shapes and output sizes as in functional/pool.py. Max pooling splits inputs of at least
tuning.pool_split_bytes over cnnumpy's threads, a share of the batch each.
"""
import numpy as np

from ..shapes import Pair, pad2d, pool_out_size, unpad2d
from . import threads
from .config import DEFAULT, Tuning
from .engine import windows
from .pool_adaptive import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, adaptive_max_pool2d,
                            adaptive_max_pool2d_backward, adaptive_max_pool2d_indices)
from .pool_unpool import max_unpool2d, max_unpool2d_backward

__all__ = ["adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
           "adaptive_max_pool2d_indices", "avg_pool2d", "avg_pool2d_backward", "max_pool2d", "max_pool2d_backward",
           "max_pool2d_values",
           "max_pool2d_indices", "max_unpool2d", "max_unpool2d_backward"]


def _edges(shape, kernel, stride, pad, dilation, out_hw):
    """(top, bottom, left, right) padding that makes every window fit, bottom/right grown for ceil mode."""
    edges = []
    for size, k, s, p, d, o in zip(shape, kernel, stride, pad, dilation, out_hw):
        past = (o - 1) * s + d * (k - 1) + 1 - (size + 2 * p)  # > 0 when the last window hangs past the padding
        edges += [p, p + max(past, 0)]
    return tuple(edges)


def _slice(a, b, stride, dilation, out_hw):
    """The pixels of the padded input that kernel offset (a, b) touches, one per output."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    return (Ellipsis, slice(a * dh, a * dh + sh * (ho - 1) + 1, sh),
            slice(b * dw, b * dw + sw * (wo - 1) + 1, sw))


def _first_tap(out, stride, pad, dilation):
    """Along one axis, the first kernel offset of each window that lands inside x (not in padding)."""
    start = np.arange(out) * stride - pad
    return np.maximum(0, -(start // dilation))  # ceil(-start / dilation) taps skip the padding


def _scan(first, rest, nan, y=None, idx=None):
    """Running max over the taps first, *rest (arrays of one shape) and the index of the winner.

    PyTorch's rule: a tap wins when it is larger than the max so far, or NaN. Without a NaN, that is
    the first maximum; `nan` adds the NaN test (one more pass per tap), needed only when there is one.
    Since k grows, the index is the largest k whose tap won: idx = max(idx, k * won).
    Strided taps are first copied to one contiguous buffer: a copy plus two contiguous passes
    beat two strided passes (which get no SIMD). y and idx may be given to be written in place.
    """
    y = first.copy() if y is None else _set(y, first)
    if len(rest) == 1:  # two taps (a 2-wide window): the winner's index is the comparison itself
        tap = rest[0] if rest[0].flags.c_contiguous else np.ascontiguousarray(rest[0])
        won = np.greater(tap, y)
        if nan:
            won |= np.isnan(tap)
        np.maximum(y, tap, out=y)
        won = won.view(np.uint8)
        return y, (won if idx is None else _set(idx, won))
    idx = np.zeros(y.shape, dtype=np.min_scalar_type(len(rest))) if idx is None else _set(idx, 0)
    won, k_won = np.empty(y.shape, dtype=bool), np.empty(idx.shape, dtype=idx.dtype)
    buf = np.empty_like(y)
    for k, tap in enumerate(rest, 1):
        if not tap.flags.c_contiguous:
            np.copyto(buf, tap)
            tap = buf
        np.greater(tap, y, out=won)  # strict: a tie keeps the first maximum
        if nan:
            won |= np.isnan(tap)
        np.maximum(y, tap, out=y)
        np.multiply(won, idx.dtype.type(k), out=k_won)
        np.maximum(idx, k_won, out=idx)
    return y, idx


def _set(a, value):
    """a with every entry set to value (an array or a scalar); returns a."""
    np.copyto(a, value)
    return a


def _max_tiles(x, kernel, out_hw, nan=False, out=(None, None, None)):
    """Non-overlapping windows: y: (N, C, H_out, W_out), ci: (N, C, H_out*kh, W_out), ri: like y.

    Sweep 1: r[n, c, row, j] = max over b of x[n, c, row, j*kw + b], ci = the winning b.
    Sweep 2: y[n, c, i, j] = max over a of r[n, c, i*kh + a, j], ri = the winning a.
    Window (i, j)'s winner is x[n, c, i*kh + ri, j*kw + ci[n, c, i*kh + ri, j]]: the first maximum in
    row-major order (a row wins only if strictly larger, and within it the first column does), as PyTorch.
    With a NaN in y the sweeps are redone with the NaN test, so that the last NaN wins, as PyTorch.
    out: (y, ci, ri) to write into, or Nones.
    """
    (kh, kw), (ho, wo) = kernel, out_hw
    xs = x[:, :, :ho * kh, :wo * kw]  # floor mode drops the rows and columns no window reaches
    r, ci = _scan(xs[..., 0::kw], [xs[..., b::kw] for b in range(1, kw)], nan, idx=out[1])
    r = r.reshape(x.shape[0], x.shape[1], ho, kh, wo)
    y, ri = _scan(r[:, :, :, 0], [r[:, :, :, a] for a in range(1, kh)], nan, out[0], out[2])
    if not nan and np.isnan(y).any():
        return _max_tiles(x, kernel, out_hw, True, out)
    return y, ci, ri


def _max_tiles_split(x, kernel, out_hw, split_bytes):
    """_max_tiles over cnnumpy's threads, a share of the batch each, when x is big enough to pay."""
    (kh, kw), (ho, wo), (n, c) = kernel, out_hw, x.shape[:2]
    # the index dtypes _scan would choose: the smallest that holds kw - 1 (ci) and kh - 1 (ri)
    y = np.empty((n, c, ho, wo), x.dtype)
    ci = np.empty((n, c, ho * kh, wo), np.min_scalar_type(kw - 1))
    ri = np.empty((n, c, ho, wo), np.min_scalar_type(kh - 1))

    def chunk(s, lo, hi):
        _max_tiles(x[lo:hi], kernel, out_hw, out=(y[lo:hi], ci[lo:hi], ri[lo:hi]))

    threads.run(chunk, n, threads.split(n, x.nbytes, split_bytes))
    return y, ci, ri


def _gate(dout, won, finite, out):
    """out = dout where won, else 0. A product with the indicator where dout is finite (several times
    faster than np.where, or than a masked copy); np.where where it is not, since inf * 0 = NaN would
    reach the taps that lost, which get 0 in PyTorch. finite: whether dout is known to be finite."""
    if finite:
        return np.multiply(dout, won, out=out)
    np.copyto(out, np.where(won, dout, 0))
    return out


def _max_tiles_backward(dout, x_shape, ci, ri, kernel, split_bytes):
    """dx: each output's gradient to its one winner, window row first (rg), then column; every pixel
    of dx is written once, those no window reaches are 0. Split over cnnumpy's threads by batch."""
    n = len(dout)
    dx = np.empty(x_shape, dtype=dout.dtype)

    def chunk(s, lo, hi):
        _max_tiles_backward_into(dx[lo:hi], dout[lo:hi], ci[lo:hi], ri[lo:hi], kernel)

    threads.run(chunk, n, threads.split(n, dx.nbytes, split_bytes))
    return dx


def _max_tiles_backward_into(dx, dout, ci, ri, kernel):
    """_max_tiles_backward for one share of the batch, written into dx."""
    (kh, kw), (n, c, ho, wo), x_shape = kernel, dout.shape, dx.shape
    finite = np.isfinite(dout).all()  # one pass over the share; see _gate
    rg = np.empty((n, c, ho, kh, wo), dtype=dout.dtype)
    won = np.empty(dout.shape, dtype=bool)
    for a in range(kh):
        np.equal(ri, a, out=won)
        _gate(dout, won, finite, rg[:, :, :, a])
    rg = rg.reshape(n, c, ho * kh, wo)
    if x_shape[2] != ho * kh or x_shape[3] != wo * kw:
        dx[...] = 0  # the rows and columns no window reaches
    won = np.empty(rg.shape, dtype=bool)
    for b in range(kw):
        np.equal(ci, b, out=won)
        _gate(rg, won, finite, dx[:, :, :ho * kh, b:wo * kw:kw])


def max_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair = (1, 1),
               ceil_mode: bool = False, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), the largest tap of each window. Returns (y, cache).

    PyTorch's scan, all windows at once: y starts at tap (0, 0), which is -inf if it lies in the
    padding, and idx at each window's first tap inside x; tap k then wins where it is larger
    than y so far, or NaN. np.maximum gives that y, since it keeps a NaN from either side.
    """
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = kernel, pad
    out_hw = (pool_out_size(h, kh, stride[0], ph, dilation[0], ceil_mode),
              pool_out_size(w, kw, stride[1], pw, dilation[1], ceil_mode))
    if (tuple(stride) == tuple(kernel) and pad == (0, 0) and dilation == (1, 1)
            and out_hw[0] * kh <= h and out_hw[1] * kw <= w):
        y, ci, ri = _max_tiles_split(x, kernel, out_hw, tuning.pool_split_bytes)
        return y, ("tiles", x.shape, ci, ri, kernel)
    edges = _edges((h, w), kernel, stride, pad, dilation, out_hw)
    xp = pad2d(x, edges, value=-np.inf)
    v = windows(xp, kernel, stride, dilation, out_hw)
    # a NaN test per offset costs a pass each; one pass over x tells whether it is needed at all
    nan = np.isnan(x).any()
    y = np.empty((n, c) + out_hw, x.dtype)
    idx = np.empty(y.shape, np.min_scalar_type(kh * kw - 1))

    def chunk(s, lo, hi):  # a share of the batch per thread
        vc = v[lo:hi]
        _scan(vc[..., 0, 0], [vc[..., k // kw, k % kw] for k in range(1, kh * kw)], nan, y[lo:hi], idx[lo:hi])

    threads.run(chunk, n, threads.split(n, x.nbytes, tuning.pool_split_bytes))
    if ph or pw:  # an all -inf window keeps its first tap inside x, not 0 (padding), as PyTorch's scan
        first = (_first_tap(out_hw[0], stride[0], ph, dilation[0])[:, None] * kw
                 + _first_tap(out_hw[1], stride[1], pw, dilation[1]))
        np.copyto(idx, first.astype(idx.dtype), where=(idx == 0) & (y == -np.inf))
    return y, ("taps", xp.shape, edges, idx, kernel, stride, dilation)


def max_pool2d_values(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair = (1, 1),
                      ceil_mode: bool = False, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """max_pool2d's y alone, for a forward that keeps nothing (eval mode): x: (N, C, H, W) -> (N, C, H_out, W_out).

    The max of a window is the max over its rows of the max over its columns, so it takes two sweeps of strided
    views, kw - 1 steps along the rows then kh - 1 across them, where the windows' taps need kh*kw - 1 steps and
    an index of the winner: r[.., p, j] = max_b xp[.., p, j*sw + b*dw], y[.., i, j] = max_a r[.., i*sh + a*dh, j].
    np.maximum keeps a NaN from either side, as max_pool2d's y.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    out_hw = (pool_out_size(h, kh, sh, pad[0], dh, ceil_mode), pool_out_size(w, kw, sw, pad[1], dw, ceil_mode))
    ho, wo = out_hw
    edges = _edges((h, w), kernel, stride, pad, dilation, out_hw)
    xp = pad2d(x, edges, value=-np.inf) if any(edges) else x
    y = np.empty((n, c, ho, wo), x.dtype)

    def chunk(s, lo, hi):  # a share of the batch per thread
        part = xp[lo:hi]
        cols = part[..., 0:(wo - 1) * sw + 1:sw].copy()
        for b in range(1, kw):
            np.maximum(cols, part[..., b * dw:b * dw + (wo - 1) * sw + 1:sw], out=cols)
        out = y[lo:hi]
        np.copyto(out, cols[..., 0:(ho - 1) * sh + 1:sh, :])
        for a in range(1, kh):
            np.maximum(out, cols[..., a * dh:a * dh + (ho - 1) * sh + 1:sh, :], out=out)

    threads.run(chunk, n, threads.split(n, x.nbytes, tuning.pool_split_bytes))
    return y


def max_pool2d_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W): each output's gradient goes to its one winner.

    For offset k = a*kw + b, dxp[window taps at k] += dout * [idx == k], by _gate (which keeps an inf
    or NaN of dout at its winner, as PyTorch).
    """
    if cache[0] == "tiles":
        return _max_tiles_backward(dout, *cache[1:], tuning.pool_split_bytes)
    _, xp_shape, edges, idx, (kh, kw), stride, dilation = cache
    n, (top, bottom, left, right) = len(dout), edges
    dx = np.empty(xp_shape[:2] + (xp_shape[2] - top - bottom, xp_shape[3] - left - right), dout.dtype)

    def chunk(s, lo, hi):  # a share of the batch per thread
        dxp = np.zeros((hi - lo,) + xp_shape[1:], dtype=dout.dtype)
        won = np.empty(idx[lo:hi].shape, dtype=bool)
        share = np.empty(won.shape, dout.dtype)
        finite = np.isfinite(dout[lo:hi]).all()  # one pass over the share; see _gate
        for k in range(kh * kw):
            np.equal(idx[lo:hi], k, out=won)
            _gate(dout[lo:hi], won, finite, share)
            # within one offset the outputs touch distinct pixels, so a plain addition needs no np.add.at
            view = dxp[_slice(k // kw, k % kw, stride, dilation, idx.shape[2:])]
            np.add(view, share, out=view)
        dx[lo:hi] = unpad2d(dxp, edges)

    threads.run(chunk, n, threads.split(n, dx.nbytes, tuning.pool_split_bytes))
    return dx


def offsets_to_indices(idx: np.ndarray, x_w: int, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair) -> np.ndarray:
    """Kernel offsets k = a*kw + b of the winners (N, C, H_out, W_out) -> their flat indices r*W + s in x's plane:
    r = i*sh - ph + a*dh, s = j*sw - pw + b*dw (int64, torch's return_indices)."""
    (kh, kw), (ho, wo) = kernel, idx.shape[2:]
    a, b = np.divmod(idx.astype(np.int64), kw)
    r = (np.arange(ho) * stride[0] - pad[0])[:, None] + a * dilation[0]
    s = np.arange(wo) * stride[1] - pad[1] + b * dilation[1]
    return r * x_w + s


def max_pool2d_indices(cache: tuple) -> np.ndarray:
    """The flat index r*W + s of each window's maximum in its (H, W) plane, int64 (N, C, H_out, W_out)."""
    if cache[0] == "tiles":  # window (i, j)'s winner: row i*kh + ri, column j*kw + ci at that row
        _, x_shape, ci, ri, (kh, kw) = cache
        ho, wo = ri.shape[2:]
        row = np.arange(ho)[:, None] * kh + ri.astype(np.int64)
        col = np.arange(wo) * kw + np.take_along_axis(ci, row, axis=2)
        return row * x_shape[3] + col
    _, xp_shape, (top, bottom, left, right), idx, kernel, stride, dilation = cache
    return offsets_to_indices(idx, xp_shape[3] - left - right, kernel, stride, (top, left), dilation)


def _divisor_1d(size, k, stride, pad, out, count_include_pad):
    """Along one axis, the window lengths PyTorch divides by (functional/pool.py's avg_window, for all windows)."""
    lo = np.arange(out) * stride - pad
    hi = np.minimum(lo + k, size + pad)
    if count_include_pad:
        return hi - lo
    return np.minimum(hi, size) - np.maximum(lo, 0)


def avg_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), y = (sum of the window's taps inside x) / divisor."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    out_hw = (pool_out_size(h, kh, sh, ph, 1, ceil_mode), pool_out_size(w, kw, sw, pw, 1, ceil_mode))
    edges = _edges((h, w), kernel, stride, pad, (1, 1), out_hw)
    xp = pad2d(x, edges)
    v = windows(xp, kernel, stride, (1, 1), out_hw)
    if divisor_override is not None:
        divisor = np.full(out_hw, divisor_override, dtype=x.dtype)
    else:
        divisor = np.outer(_divisor_1d(h, kh, sh, ph, out_hw[0], count_include_pad),
                           _divisor_1d(w, kw, sw, pw, out_hw[1], count_include_pad)).astype(x.dtype)
    y = np.zeros((n, c) + out_hw, dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            y += v[..., a, b]
    y /= divisor
    return y, (xp.shape, edges, divisor, kernel, stride)


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W): every tap of a window gets dout / divisor."""
    xp_shape, edges, divisor, (kh, kw), stride = cache
    share = dout / divisor
    dxp = np.zeros(xp_shape, dtype=dout.dtype)
    for a in range(kh):
        for b in range(kw):
            dxp[_slice(a, b, stride, (1, 1), share.shape[2:])] += share
    return unpad2d(dxp, edges)
