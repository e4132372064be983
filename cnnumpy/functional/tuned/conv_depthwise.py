"""Depthwise convolution (groups == in_channels: one input channel per group, MobileNet's bulk) by compiled
loops over the taps: the path conv_numba takes for such layers.

With C/G = 1 the im2col products are (m, kh*kw) @ (kh*kw, L) per channel: too thin for BLAS to pay for the
unfolding. The definition itself is cheap instead, tap by tap (loops/depthwise.py), m = F / C filters per channel:

    y[n, f, i, j]     = b[f] + sum_{a, b} w[f, 0, a, b] x[n, f // m, i*sh + a*dh - pt, j*sw + b*dw - pl]
    dx[n, c, i', j'] = sum over f of channel c and the (i, j, a, b) that read (i', j') of w[f, 0, a, b] dout[n, f, i, j]
    dw[f, 0, a, b]   = sum_{n, i, j} dout[n, f, i, j] x[n, f // m, i*sh + a*dh - pt, j*sw + b*dw - pl]
    db[f]            = sum_{n, i, j} dout[n, f, i, j]

Stride-1 layers at least tuning.depthwise_flat_width wide take the flat loops instead (loops/depthwise_flat.py):
the padded planes of one channel laid end to end, each tap one shifted multiply-add over the whole run, with the
channels over the threads. Otherwise (strided layers) the planes (n, c) of x go in chunks over cnnumpy's threads
(samples and channels both: a batch of one still splits); on outputs narrower than tuning.depthwise_last_width
with one filter per channel the rows are too short for the loops to pay, and a chunk of samples is transposed to
channels last (N, H, W, C) instead, so that the loops run along the channels (loops/depthwise.py's *_last). Same
signatures and results (to rounding) as functional/conv.py's pair, for layers with w.shape[1] == 1.
"""
import functools
import types

import numpy as np

from ..shapes import Pad, Pair, out_size
from . import compiled, threads
from .config import DEFAULT, Tuning


@functools.cache
def kernels() -> types.ModuleType:
    """loops/depthwise.py, imported (and numba with it) on first use."""
    return compiled.kernels("depthwise", "Conv2d", "im2col")


@functools.cache
def flat_kernels() -> types.ModuleType:
    """loops/depthwise_flat.py, imported (and numba with it) on first use."""
    return compiled.kernels("depthwise_flat", "Conv2d", "im2col")


# positions per pass of the flat forward's taps: a few KB of its output, which stays in the L1 cache
BLOCK = 1024


def applies(w_shape: tuple[int, ...], groups: int, channels: int) -> bool:
    """Whether the layer is depthwise: one input channel per group, more than one group."""
    return w_shape[1] == 1 and groups == channels and groups > 1


def _args(x_shape, w_shape, stride, pad, dilation):
    """(ho, wo) and the loops' trailing integers (sh, sw, dh, dw, pt, pl)."""
    h, w = x_shape[2:]
    kh, kw = w_shape[2:]
    ho = out_size(h, kh, stride[0], pad[0], pad[1], dilation[0])
    wo = out_size(w, kw, stride[1], pad[2], pad[3], dilation[1])
    return (ho, wo), (stride[0], stride[1], dilation[0], dilation[1], pad[0], pad[2])


def _planes(fn, n, c, per_plane, tuning):
    """fn(s, lo, hi) over chunks of the n*c planes, tuning.chunk_bytes of work each, on the threads."""
    p = n * c
    share = -(-p // threads.num_threads())
    size = max(1, min(tuning.chunk_bytes // max(per_plane, 1), share))
    return threads.run(fn, p, size)


def channels_last(w_shape: tuple[int, ...], channels: int, wo: int, tuning: Tuning) -> bool:
    """Whether the layer runs channels last: one filter per channel, output narrower than
    tuning.depthwise_last_width."""
    return w_shape[0] == channels and wo < tuning.depthwise_last_width


def flat(w_shape: tuple[int, ...], stride: Pair, pad: Pad, dilation: Pair, wo: int, tuning: Tuning) -> bool:
    """Whether the layer runs the flat loops: stride 1, output at least tuning.depthwise_flat_width wide, and on
    each axis one side padded by no more than the kernel reaches (min(pt, pb) <= (kh - 1) dh, likewise across),
    so that the zeros between rows and between samples serve as the padding of both."""
    kh, kw = w_shape[2:]
    return (tuple(stride) == (1, 1) and wo >= tuning.depthwise_flat_width
            and min(pad[0], pad[1]) <= (kh - 1) * dilation[0] and min(pad[2], pad[3]) <= (kw - 1) * dilation[1])


def _flat_layout(x_shape, w_shape, pad, dilation, itemsize, tuning):
    """(hs, wq, nk, length): rows per sample and entries per row of the flat layout, samples per run (a run's
    layout about tuning.depthwise_flat_bytes), and the buffer's length (the run and the taps' reach past it)."""
    n, _, h, w = x_shape
    kh, kw = w_shape[2:]
    hs, wq = h + max(pad[0], pad[1]), w + max(pad[2], pad[3])
    nk = max(1, min(n, tuning.depthwise_flat_bytes // (hs * wq * itemsize)))
    return hs, wq, nk, (nk * hs + (kh - 1) * dilation[0]) * wq + (kw - 1) * dilation[1]


def _channels(fn, c):
    """fn(s, lo, hi) over an equal share of the c channels per thread."""
    return threads.run(fn, c, -(-c // threads.num_threads()))


def _samples(fn, x, tuning):
    """fn(s, lo, hi) over chunks of x's samples, tuning.chunk_bytes of x each, on the threads."""
    n = len(x)
    return threads.run(fn, n, threads.chunk_size(n, x[0].nbytes if n else 1, tuning.chunk_bytes))


def _last(s, key, a, lo, hi):
    """a[lo:hi] (N, C, H, W) copied channels last into the thread's scratch buffer `key`: (m, H, W, C)."""
    m = hi - lo
    buf = s.get(key)
    if buf is None or buf.shape[0] < m:
        buf = s[key] = np.empty((m,) + a.shape[2:] + a.shape[1:2], a.dtype)
    buf = buf[:m]
    np.copyto(buf, a[lo:hi].transpose(0, 2, 3, 1))
    return buf


def _empty_last(s, key, shape, dtype, m):
    """A scratch (m, H, W, C) buffer for an (N, C, H, W) result."""
    buf = s.get(key)
    if buf is None or buf.shape[0] < m:
        buf = s[key] = np.empty((m,) + shape[2:] + shape[1:2], dtype)
    return buf[:m]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), groups: int = 1,
           keep: bool = True, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """Forward of a depthwise layer (applies(w.shape, groups, C)). pad = (top, bottom, left, right).
    Returns (y, cache); keep is accepted for conv_numba's signature (nothing is unfolded to keep)."""
    n, c = x.shape[:2]
    f = w.shape[0]
    (ho, wo), ints = _args(x.shape, w.shape, stride, pad, dilation)
    loops = kernels()
    x = np.ascontiguousarray(x)
    w3 = np.ascontiguousarray(w.reshape(f, w.shape[2], w.shape[3]))
    bias = np.ascontiguousarray(b) if b is not None else np.empty(0, x.dtype)
    y = np.empty((n, f, ho, wo), x.dtype)
    if flat(w.shape, stride, pad, dilation, wo, tuning):
        hs, wq, nk, length = _flat_layout(x.shape, w.shape, pad, dilation, x.itemsize, tuning)

        def chunk(s, lo, hi):
            buf, out = np.zeros(length, x.dtype), np.empty(nk * hs * wq, x.dtype)
            flat_kernels().forward(x, w3, bias, y, lo, hi, buf, out, nk, *dilation, pad[0], pad[2], hs, wq, BLOCK)

        _channels(chunk, c)
    elif channels_last(w.shape, c, wo, tuning):
        wl = np.ascontiguousarray(w3.transpose(1, 2, 0))

        def chunk(s, lo, hi):
            yt = _empty_last(s, "y", y.shape, y.dtype, hi - lo)
            loops.forward_last(_last(s, "x", x, lo, hi), wl, bias, yt, *ints)
            np.copyto(y[lo:hi], yt.transpose(0, 3, 1, 2))

        _samples(chunk, x, tuning)
    else:
        def chunk(s, lo, hi):
            loops.forward(x, w3, bias, y, lo, hi, *ints)

        _planes(chunk, n, c, (f // c) * ho * wo * w3[0].size * x.itemsize, tuning)
    return y, (x, w, b is not None, stride, pad, dilation)


def conv2d_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True, *,
                    tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, 1, kh, kw), db: (F,) or None, each only when
    asked (else None)."""
    x, w, has_bias, stride, pad, dilation = cache
    n, c = x.shape[:2]
    f, _, kh, kw = w.shape
    (ho, wo), ints = _args(x.shape, w.shape, stride, pad, dilation)
    loops = kernels()
    dout = np.ascontiguousarray(dout)
    w3 = np.ascontiguousarray(w.reshape(f, kh, kw))
    dx = np.empty(x.shape, x.dtype) if input_grad else None
    if flat(w.shape, stride, pad, dilation, wo, tuning):
        return _backward_flat(x, w3, dout, dx, has_bias, stride, pad, dilation, weight_grad, bias_grad, tuning)
    if channels_last(w.shape, c, wo, tuning):
        return _backward_last(x, w3, dout, dx, has_bias, ints, input_grad, weight_grad, bias_grad, tuning)

    def chunk(s, lo, hi):
        if input_grad:
            loops.backward_input(dout, w3, dx, lo, hi, *ints)
        if weight_grad:
            if "dw" not in s:
                s["dw"] = np.zeros((f, kh, kw), x.dtype)
            loops.backward_weight(x, dout, s["dw"], lo, hi, *ints)

    parts = _planes(chunk, n, c, (f // c) * ho * wo * kh * kw * x.itemsize, tuning) \
        if input_grad or weight_grad else []
    dw = None
    if weight_grad:  # an empty batch has no chunk
        dw = sum((s["dw"] for s in parts), np.zeros((f, kh, kw), x.dtype)).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3)) if bias_grad and has_bias else None
    return dx, dw, db


def _backward_last(x, w3, dout, dx, has_bias, ints, input_grad, weight_grad, bias_grad, tuning):
    """conv2d_backward channels last: a chunk of samples of dout (and x) transposed, the loops along C."""
    f, kh, kw = w3.shape
    loops = kernels()
    wl = np.ascontiguousarray(w3.transpose(1, 2, 0))

    def chunk(s, lo, hi):
        dt = _last(s, "dout", dout, lo, hi)
        if input_grad:
            dxt = _empty_last(s, "dx", dx.shape, dx.dtype, hi - lo)
            loops.backward_input_last(dt, wl, dxt, *ints)
            np.copyto(dx[lo:hi], dxt.transpose(0, 3, 1, 2))
        if weight_grad:
            if "dw" not in s:
                s["dw"] = np.zeros((kh, kw, f), x.dtype)
            loops.backward_weight_last(_last(s, "x", x, lo, hi), dt, s["dw"], *ints)

    parts = _samples(chunk, x, tuning) if input_grad or weight_grad else []
    dw = None
    if weight_grad:
        dw = sum((s["dw"] for s in parts), np.zeros((kh, kw, f), x.dtype))
        dw = np.ascontiguousarray(dw.transpose(2, 0, 1)).reshape(f, 1, kh, kw)
    db = dout.sum(axis=(0, 2, 3)) if bias_grad and has_bias else None
    return dx, dw, db


def _backward_flat(x, w3, dout, dx, has_bias, stride, pad, dilation, weight_grad, bias_grad, tuning):
    """conv2d_backward by the flat loops: dx and dW of each channel's run (loops/depthwise_flat.py)."""
    f, kh, kw = w3.shape
    hs, wq, nk, length = _flat_layout(x.shape, w3.shape[:1] + (1, kh, kw), pad, dilation, x.itemsize, tuning)
    none = np.empty((0,) * 4, x.dtype)

    def chunk(s, lo, hi):
        if "dw" not in s:
            s["dw"] = np.zeros((f, kh, kw) if weight_grad else (0, 0, 0), x.dtype)
        flat_kernels().backward(x, w3, dout, none if dx is None else dx, s["dw"], lo, hi, np.zeros(length, x.dtype),
                                np.zeros(length if dx is not None else 0, x.dtype), np.zeros(nk * hs * wq, x.dtype),
                                nk, *dilation, pad[0], pad[2], hs, wq)

    parts = _channels(chunk, x.shape[1]) if dx is not None or weight_grad else []
    dw = None
    if weight_grad:
        dw = sum((s["dw"] for s in parts), np.zeros((f, kh, kw), x.dtype)).reshape(f, 1, kh, kw)
    db = dout.sum(axis=(0, 2, 3)) if bias_grad and has_bias else None
    return dx, dw, db
