"""2-D convolution for inference: forward only, nothing kept for backward, and the layer's bias and activation
applied to each chunk of the output while it is still in the cache.

The same products as conv_im2col, conv_numba and conv_winograd (see there), with what inference allows:

    y[n] = act(W @ cols[n] + b)         act: None, "relu" max(z, 0), "relu6" min(max(z, 0), 6),
                                        "leaky_relu" z if z > 0 else slope * z

- no columns kept (training's forward keeps them for dW), so every chunk's columns live in one scratch buffer;
- the bias and the activation run on the chunk just written, instead of one more pass over a whole output of
  tens of MB (a BatchNorm folded into the conv, nn/fusion.py, is in w and b already);
- a 1x1 layer of stride 1 without padding multiplies x itself: its columns are x;
- depthwise layers run loops/depthwise_infer.py plane by plane, the bias and activation as each plane is written;
- pool=True adds a 2x2 max pool of stride 2 to the output pass (it commutes with the bias and the activation),
  so the layer writes a quarter of its conv output;
- the weights in the layout each method multiplies (Winograd's transformed U, the kernel rows' slices) are
  made by `prepare` once, and a layer keeps them between calls;
- `auto` picks the method per layer for a forward pass alone (docs/performance.md#inference), where training's
  choice (functional/methods.auto_conv) also weighs the backward.

x: (N, C, H, W), w: (F, C/G, kh, kw), b: (F,) or None, pad = (top, bottom, left, right) -> y: (N, F, H_out, W_out).
"""
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..shapes import Pad, Pair
from . import compiled, conv_depthwise, conv_numba, conv_winograd, threads
from .config import DEFAULT, Tuning
from .engine import geometry, multiply, scratch, unfold

ACTIVATIONS = ("relu", "relu6", "leaky_relu")
# the compiled loops' activation: (kind, low, high), kind 0 none, 1 clamp to [low, high], 2 leaky
CLAMP = {None: (0, 0, 0), "relu": (1, 0, np.inf), "relu6": (1, 0, 6), "leaky_relu": (2, 0, 0)}
LAST_WIDTH = 8  # depthwise outputs narrower than this run channels last (docs/performance.md#inference)
METHODS = ("im2col", "numba", "winograd")


def activate(y: np.ndarray, act: str | None, slope: float = 0.01) -> np.ndarray:
    """act applied to y in place (NaN stays NaN, as torch's); returns y."""
    if act == "relu":
        np.maximum(y, 0, out=y)
    elif act == "relu6":
        np.maximum(y, 0, out=y)
        np.minimum(y, 6, out=y)
    elif act == "leaky_relu":
        np.copyto(y, y * y.dtype.type(slope), where=y < 0)
    elif act is not None:
        raise ValueError(f"act: expected None or one of {ACTIVATIONS}, got {act!r}")
    return y


def activate_all(y: np.ndarray, act: str | None, slope: float = 0.01, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """activate on a whole array, in place, split over the threads when it is large: for the methods whose
    output pass is not ours (depthwise loops, naive)."""
    if act is None:
        return y
    flat = y.reshape(-1)

    def chunk(s, lo, hi):
        activate(flat[lo:hi], act, slope)

    threads.run(chunk, flat.size, threads.split(flat.size, y.nbytes, tuning.act_split_bytes))
    return y


def auto(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], groups: int, channels: int,
         filters: int, out_hw: Sequence[int], dtype: npt.DTypeLike = np.float32, tuning: Tuning = DEFAULT) -> str:
    """The method of a forward pass alone, from forward-only timings (docs/performance.md#inference):

    - "winograd" for 3x3 stride-1 layers where tuning.winograd_infer_rules say it pays (32 input channels and
      filters from outputs of 8 on each side, fewer on larger outputs: 8 filters at 32x32 when channels x filters
      reaches 512; training's auto needs more, its backward pays less);
    - "numba" for depthwise layers (its loops over the taps) and for a height stride above 1 (compiled unfolding
      of the full windows);
    - "im2col" otherwise, and always without numba or for a dtype its loops do not take.
    """
    if not compiled.has_numba() or not compiled.compiled_dtype(dtype):
        return "im2col"
    if conv_depthwise.applies((filters, channels // groups) + tuple(kernel), groups, channels):
        return "numba"
    if conv_winograd.pays(kernel, stride, dilation, groups, channels, filters, out_hw,
                          replace(tuning, winograd_rules=tuning.winograd_infer_rules)):
        return "winograd"
    return "numba" if stride[0] != 1 and groups == 1 and tuple(dilation) == (1, 1) else "im2col"


def pointwise(w_shape: tuple[int, ...], stride: Pair, pad: Pad, groups: int) -> bool:
    """A 1x1 layer of stride 1 without padding, one group: y[n] = W @ x[n], nothing to unfold."""
    return w_shape[2:] == (1, 1) and tuple(stride) == (1, 1) and tuple(pad) == (0, 0, 0, 0) and groups == 1


def prepare(w: np.ndarray, method: str, x_shape: tuple[int, ...], stride: Pair = (1, 1), pad: Pad = (0, 0, 0, 0),
            dilation: Pair = (1, 1), groups: int = 1, *, tuning: Tuning = DEFAULT) -> Any:
    """The weights as `method` multiplies them, for conv2d's `prepared`: Winograd's U (16, F, C); im2col's
    kernel-row slices (kh, G, Fg, Cg*kw) when it unfolds rows, else (G, Fg, Cg*kh*kw); None for the others."""
    if method == "winograd":
        return conv_winograd.transformed_weights(w)
    if method != "im2col":
        return None
    f, cg, kh, kw = w.shape
    if geometry(x_shape, w.shape, stride, pad, dilation, tuning.rows).rows and not pointwise(w.shape, stride, pad,
                                                                                              groups):
        wm = w.reshape(groups, f // groups, cg, kh, kw).transpose(3, 0, 1, 2, 4)
        return np.ascontiguousarray(wm).reshape(kh, groups, f // groups, cg * kw)
    return np.ascontiguousarray(w.reshape(groups, f // groups, cg * kh * kw))


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), groups: int = 1, act: str | None = None,
           slope: float = 0.01, method: str = "im2col", prepared: Any = None, pool: bool = False, *,
           tuning: Tuning = DEFAULT) -> np.ndarray:
    """y = act(conv(x, w) + b), for inference (no cache). method: one of METHODS ("winograd" where
    conv_winograd.applies); prepared: prepare(w, method, x.shape, ...) of these weights, or None to make it here;
    pool: then a 2x2 max pool of stride 2 (floor mode), in the same output pass: y (N, F, H_out // 2, W_out // 2)."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if act is not None and act not in ACTIVATIONS:
        raise ValueError(f"act: expected None or one of {ACTIVATIONS}, got {act!r}")
    if method == "numba" and (not tuning.depthwise or not conv_depthwise.applies(w.shape, groups, x.shape[1])):
        return _numba(x, w, b, stride, pad, dilation, groups, act, slope, pool, tuning)
    if method == "numba":
        y = _depthwise(x, w, b, stride, pad, dilation, groups, act, slope, tuning)
        return max_pool2(y) if pool else y
    if prepared is None:
        prepared = prepare(w, method, x.shape, stride, pad, dilation, groups, tuning=tuning)
    if method == "winograd":
        return _winograd(x, w, b, pad, act, slope, prepared, pool, tuning)
    return _im2col(x, w, b, stride, pad, dilation, groups, act, slope, prepared, pool, tuning)


def max_pool2(y: np.ndarray) -> np.ndarray:
    """The 2x2 max pool of stride 2 (floor mode) of y: (N, F, H, W) -> (N, F, H // 2, W // 2); NaN wins."""
    n, f, h, w = y.shape
    return y[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, f, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _output(n, f, ho, wo, dtype, pool):
    """The layer's output array: (n, f, ho, wo), or (n, f, ho // 2, wo // 2) after the 2x2 pool."""
    return np.empty((n, f, ho // 2, wo // 2) if pool else (n, f, ho, wo), dtype)


def _target(s, y, lo, hi, f, ho, wo, pool):
    """Where a chunk's conv output goes: y's rows, or with a pool a scratch buffer the output pass pools from."""
    if not pool:
        return y[lo:hi]
    return scratch(s, "full", (hi - lo, f, ho, wo), y.dtype)[:hi - lo]


def _finish(z, bias, act, slope, out=None):
    """The output pass of one chunk z: (m, F, H_out, W_out): + b, then the activation, in place; with `out`
    (m, F, H_out // 2, W_out // 2) also the 2x2 max pool, written there (the bias and a non-decreasing activation
    commute with the max). Compiled passes where numba is installed (loops/epilogue.py, then pool_numba's loop for
    2x2 windows), else NumPy's; the chunk is still in the cache for the pool."""
    if compiled.has_numba() and compiled.compiled_dtype(z.dtype) and z.flags.c_contiguous:
        b = np.zeros(z.shape[1], z.dtype) if bias is None else bias.reshape(-1)
        kind, low, high = CLAMP[act]
        scalars = [z.dtype.type(v) for v in (low, high, slope)]
        compiled.kernels("epilogue", "Conv2d", "im2col").bias_act(z.reshape(len(z), z.shape[1], -1), b, kind,
                                                                    *scalars)
        if out is not None:  # pool_numba's loop for 2x2 windows; the winners' taps are not needed
            compiled.kernels("pool", "MaxPool2d", "im2col").max_pool_2x2(z, out, np.empty(out.shape, np.uint8))
        return
    if bias is not None:
        z += bias
    activate(z, act, slope)
    if out is not None:
        out[...] = max_pool2(z)


def _im2col(x, w, b, stride, pad, dilation, groups, act, slope, wm, pool, tuning):
    n = len(x)
    direct = pointwise(w.shape, stride, pad, groups)
    g = geometry(x.shape, w.shape, stride, pad, dilation, tuning.rows and not direct)
    fg, ell = g.f // groups, g.ho * g.wo
    y = _output(n, g.f, g.ho, g.wo, x.dtype, pool)
    bias = None if b is None else b.reshape(1, g.f, 1, 1)
    # the chunk's columns and its output both stay in the cache for the output pass
    per_sample = ((g.c * g.h * g.w if direct else groups * g.kc * g.lc) + g.f * ell) * x.itemsize

    def chunk(s, lo, hi):
        m = hi - lo
        z = _target(s, y, lo, hi, g.f, g.ho, g.wo, pool)
        yg = z.reshape(m, groups, fg, ell)
        if direct:
            np.matmul(wm, x[lo:hi].reshape(m, 1, g.c, ell), out=yg)
        else:
            cols = scratch(s, "cols", (m, groups, g.kc, g.lc), x.dtype)[:m]
            unfold(x, lo, hi, g, pad, stride, dilation, groups, s, cols)
            multiply(wm, cols, g, dilation, s, yg)
        _finish(z, bias, act, slope, y[lo:hi] if pool else None)

    threads.run(chunk, n, threads.chunk_size(n, per_sample, tuning.chunk_bytes))
    return y


def _numba(x, w, b, stride, pad, dilation, groups, act, slope, pool, tuning):
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    sizes = conv_numba._sizes(x.shape, w.shape, stride, pad, dilation)
    ho, wo = sizes[-2:]
    unfold_loop, _ = conv_numba.kernels()
    k, ell = cg * kh * kw, ho * wo
    x = np.ascontiguousarray(x)
    wm = w.reshape(groups, f // groups, k)
    y = _output(n, f, ho, wo, x.dtype, pool)
    bias = None if b is None else b.reshape(1, f, 1, 1)

    def chunk(s, lo, hi):
        m = hi - lo
        cols = scratch(s, "cols", (m, c * kh * kw, ell), x.dtype)[:m]
        unfold_loop(x[lo:hi], cols, *sizes)
        z = _target(s, y, lo, hi, f, ho, wo, pool)
        np.matmul(wm, cols.reshape(m, groups, k, ell), out=z.reshape(m, groups, -1, ell))
        _finish(z, bias, act, slope, y[lo:hi] if pool else None)

    threads.run(chunk, n, threads.chunk_size(n, (c * kh * kw + f) * ell * x.itemsize, tuning.chunk_bytes))
    return y


def _depthwise(x, w, b, stride, pad, dilation, groups, act, slope, tuning):
    """A depthwise layer, plane by plane in loops/depthwise_infer.py (forward3: 3x3 of stride 1, the taps written
    out), with the bias and activation as each plane is written; channels last (conv_depthwise's loops, then one
    pass of the activation) where a plane's rows are too short: outputs narrower than LAST_WIDTH for forward3, than
    twice that (and tuning.depthwise_last_width) for the general loop, whose rows cost more."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    (ho, wo), ints = conv_depthwise._args(x.shape, w.shape, stride, pad, dilation)
    three = (kh, kw) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and f == c
    if wo < (LAST_WIDTH if three else 2 * LAST_WIDTH) and conv_depthwise.channels_last(w.shape, c, wo, tuning):
        y = conv_depthwise.conv2d(x, w, b, stride, pad, dilation, groups, False, tuning=tuning)[0]
        return activate_all(y, act, slope, tuning=tuning)
    loops = compiled.kernels("depthwise_infer", "Conv2d", "im2col")
    three = three and act != "leaky_relu"
    x = np.ascontiguousarray(x)
    w3 = np.ascontiguousarray(w.reshape(f, kh, kw))
    bias = np.ascontiguousarray(b) if b is not None else np.zeros(f, x.dtype)
    y = np.empty((n, f, ho, wo), x.dtype)
    hp, wp = (ho - 1) * stride[0] + (kh - 1) * dilation[0] + 1, (wo - 1) * stride[1] + (kw - 1) * dilation[1] + 1
    kind, low, high = CLAMP[act]
    scalars = [x.dtype.type(v) for v in (low, high, slope)]

    def chunk(s, lo, hi):
        xp = scratch(s, "xp", (hp, wp), x.dtype, zero=True)  # the border stays 0: planes overwrite the interior
        if three:
            loops.forward3(x, w3, bias, y, lo, hi, pad[0], pad[2], kind, *scalars[:2], xp)
        else:
            loops.forward(x, w3, bias, y, lo, hi, *ints, kind, *scalars, xp, scratch(s, "acc", (ho * wp,), x.dtype))

    planes = n * c
    per_plane = (f // c) * ho * wo * kh * kw * x.itemsize
    threads.run(chunk, planes, max(1, min(tuning.chunk_bytes // max(per_plane, 1), -(-planes // threads.num_threads()))))
    return y


def _winograd(x, w, b, pad, act, slope, u, pool, tuning):
    loops = conv_winograd.kernels()
    n, c, h, wd = x.shape
    f = w.shape[0]
    ho, wo = h + pad[0] + pad[1] - 2, wd + pad[2] + pad[3] - 2
    th, tw = -(-ho // 2), -(-wo // 2)
    tiles = th * tw
    bias = np.zeros(f, x.dtype) if b is None else np.ascontiguousarray(b, x.dtype)
    y = _output(n, f, ho, wo, x.dtype, pool)
    size = threads.chunk_size(n, 16 * max(c, f) * tiles * x.itemsize, tuning.winograd_chunk_bytes)

    def chunk(s, lo, hi):
        m = hi - lo
        # zeroed once: later chunks overwrite the interior only, the border stays 0
        xp = scratch(s, "xp", (size, c, 2 * th + 2, 2 * tw + 2), x.dtype, zero=True)[:m]
        xp[:, :, pad[0]:pad[0] + h, pad[2]:pad[2] + wd] = x[lo:hi]
        vbuf, v = conv_winograd.planes(s, "v", size * tiles, c, m * tiles, x.dtype)
        loops.input_tiles(xp, vbuf, th, tw)
        mbuf, mt = conv_winograd.planes(s, "m", size * tiles, f, m * tiles, x.dtype)
        np.matmul(u, v, out=mt)
        z = _target(s, y, lo, hi, f, ho, wo, pool)
        loops.output_tiles(mbuf, bias, z, th, tw)  # adds the bias
        if pool:
            _finish(z, None, act, slope, y[lo:hi])
        else:
            activate(z, act, slope)

    threads.run(chunk, n, size)
    return y
