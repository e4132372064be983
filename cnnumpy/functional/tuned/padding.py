"""Padding made fast: functional.padding's constant_pad2d and reflection_pad2d with their backwards, as copies
of slices into a preallocated output, the planes split over cnnumpy's threads.

The readable reflection gathers every output pixel through an index array (y = x[..., rows, cols]) and its
backward multiplies by two one-hot matrices; np.pad makes a few temporaries of the output's size. Here the
output is allocated once, the interior copied in one slice, and each padded row or column copied (reflection:
from the mirrored one already in place; backward: added onto it). Same signatures, results (the backward's sums to
rounding) and dtypes as the readable functions, plus `tuning`.
"""
import math
from typing import Any

import numpy as np

from . import threads
from .config import DEFAULT, Tuning

Padding = tuple[int, int, int, int]  # (left, right, top, bottom)


def _planes(a):
    """a: (..., H, W) as (P, H, W), P the product of the leading axes (a view when contiguous)."""
    return a.reshape((math.prod(a.shape[:-2]),) + a.shape[-2:])


def _over_planes(fn, x, tuning):
    """fn(s, lo, hi) over x's planes (x as (P, H, W)): one share per thread when x has at least
    tuning.act_split_bytes, else all in one call (a copy gains nothing from chunks that fit the cache, and each
    chunk costs its slice assignments)."""
    p = x.shape[0]
    threads.run(fn, p, threads.split(p, x.nbytes, tuning.act_split_bytes))


def constant_pad2d(x: np.ndarray, padding: Padding, value: float = 0.0, *,
                   tuning: Tuning = DEFAULT) -> tuple[np.ndarray, Any]:
    """functional.padding.constant_pad2d: x: (..., H, W) -> (y: (..., H_out, W_out), cache)."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    kept = x[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    kh, kw = kept.shape[-2:]
    t, b, l, r = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    y = np.empty(x.shape[:-2] + (kh + t + b, kw + l + r), x.dtype.newbyteorder("="))
    x3, y3 = _planes(kept), _planes(y)

    def chunk(s, lo, hi):
        yc = y3[lo:hi]
        if t or b or l or r:
            yc[:, :t] = value
            yc[:, t + kh:] = value
            yc[:, t:t + kh, :l] = value
            yc[:, t:t + kh, l + kw:] = value
        yc[:, t:t + kh, l:l + kw] = x3[lo:hi]

    _over_planes(chunk, y3, tuning)
    return y, (x.shape, padding)


def constant_pad2d_backward(dout: np.ndarray, cache: Any, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.padding.constant_pad2d_backward: dout: (..., H_out, W_out) -> dx: (..., H, W)."""
    x_shape, (left, right, top, bottom) = cache
    h_out, w_out = dout.shape[-2:]
    h, w = x_shape[-2:]
    inner = _planes(dout)[:, max(top, 0):h_out - max(bottom, 0), max(left, 0):w_out - max(right, 0)]
    cropped = min(left, right, top, bottom) < 0
    dx = (np.zeros if cropped else np.empty)(x_shape, dout.dtype.newbyteorder("="))
    dx3 = _planes(dx)
    rows, cols = slice(max(-top, 0), h - max(-bottom, 0)), slice(max(-left, 0), w - max(-right, 0))

    def chunk(s, lo, hi):
        dx3[lo:hi, rows, cols] = inner[lo:hi]

    _over_planes(chunk, dx3, tuning)
    return dx


def reflection_pad2d(x: np.ndarray, padding: Padding, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, Any]:
    """functional.padding.reflection_pad2d: x: (..., H, W), padding (left, right, top, bottom), each < its axis'
    size -> (y, cache). Padded column q < left is the interior's column 2 left - q (the mirror about column
    `left`), q >= left + W the column 2 (left + W - 1) - q; rows likewise, once the columns are in place."""
    left, right, top, bottom = padding
    if min(padding) < 0:  # a crop on some side: index arrays as the readable way (rare, small)
        return _reflect_by_index(x, padding)
    h, w = x.shape[-2:]
    y = np.empty(x.shape[:-2] + (h + top + bottom, w + left + right), x.dtype.newbyteorder("="))
    x3, y3 = _planes(x), _planes(y)

    def chunk(s, lo, hi):
        yc = y3[lo:hi]
        yc[:, top:top + h, left:left + w] = x3[lo:hi]
        inner = yc[:, top:top + h]
        for q in range(left):
            inner[:, :, q] = inner[:, :, 2 * left - q]
        for q in range(left + w, left + w + right):
            inner[:, :, q] = inner[:, :, 2 * (left + w - 1) - q]
        for p in range(top):
            yc[:, p] = yc[:, 2 * top - p]
        for p in range(top + h, top + h + bottom):
            yc[:, p] = yc[:, 2 * (top + h - 1) - p]

    _over_planes(chunk, y3, tuning)
    return y, (x.shape, padding)


def _reflect_index(n, before, after):
    """functional.padding.reflect_index: the index into an axis of length n of each padded position."""
    p = np.abs(np.arange(n + before + after) - before)
    return np.where(p >= n, 2 * (n - 1) - p, p)


def _reflect_by_index(x, padding):
    """functional.padding.reflection_pad2d's way, for paddings that crop."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    rows, cols = _reflect_index(h, top, bottom), _reflect_index(w, left, right)
    return x[..., rows[:, None], cols], (x.shape, padding)


def reflection_pad2d_backward(dout: np.ndarray, cache: Any, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.padding.reflection_pad2d_backward: each input pixel sums dout over its copies. The padded
    rows are added onto the rows they mirror, then the padded columns onto theirs."""
    x_shape, padding = cache
    left, right, top, bottom = padding
    h, w = x_shape[-2:]
    d3 = _planes(dout)
    dx = np.empty(x_shape, dout.dtype.newbyteorder("="))
    dx3 = _planes(dx)
    if min(padding) < 0:
        rows, cols = _reflect_index(h, top, bottom), _reflect_index(w, left, right)
        dx3[...] = 0
        np.add.at(dx3, (slice(None), rows[:, None], cols), d3)
        return dx
    w_out = w + left + right

    def chunk(s, lo, hi):
        dc = d3[lo:hi]
        r = s.get("rows")
        if r is None or r.shape[0] < hi - lo:
            r = s["rows"] = np.empty((hi - lo, h, w_out), dx.dtype)
        r = r[:hi - lo]
        r[...] = dc[:, top:top + h]
        for p in range(top):
            r[:, 2 * top - p - top] += dc[:, p]
        for p in range(top + h, top + h + bottom):
            r[:, 2 * (top + h - 1) - p - top] += dc[:, p]
        out = dx3[lo:hi]
        out[...] = r[:, :, left:left + w]
        for q in range(left):
            out[:, :, 2 * left - q - left] += r[:, :, q]
        for q in range(left + w, left + w + right):
            out[:, :, 2 * (left + w - 1) - q - left] += r[:, :, q]

    _over_planes(chunk, dx3, tuning)
    return dx
