"""3x3 convolution of stride 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, 2016).

Two outputs of a 1-D correlation with a 3-tap kernel g, from four inputs d, take 4 multiplications instead
of 6 once g is transformed:

    [y0, y1] = A^T [(G g) * (B^T d)]        G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
                                            B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
                                            A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

(expand it: y0 = d0 g0 + d1 g1 + d2 g2 and y1 = d1 g0 + d2 g1 + d3 g2). Nested in both directions, a 2x2
block of outputs of a 3x3 kernel comes from a 4x4 tile d of the padded input with 16 multiplications
instead of 36:

    Y = A^T [U * V] A        U = G g G^T (4x4, per filter f and channel c),  V = B^T d B (4x4, per tile)

and the sum over input channels happens inside the brackets, since everything else is linear:

    M[a, b] = U[a, b] @ V[a, b]         U[a, b]: (F, C),  V[a, b]: (C, tiles)       for each of the 16 (a, b)

16 GEMMs of depth C where im2col has one of depth 9C, on 2.25x fewer multiplications. Tiles start every
2 pixels, so th x tw = ceil(H_out/2) x ceil(W_out/2) tiles cover the output; the padded input gets zeros up
to 2*th + 2 rows and 2*tw + 2 columns. The transforms are compiled loops (loops/winograd.py), the GEMMs BLAS.
The transformed weights and tiles are sums of products with factors 1/2 and +-1, so the rounding stays
close to the direct sum's (float32 ~3e-7 relative in tests); but a tile mixes its 16 pixels, so an inf or
NaN in the input spreads to the whole 2x2 block of outputs of every tile that holds it, where a direct
sum (and PyTorch) makes NaN only of the outputs whose windows hold it.

Backward (see conv_im2col for the derivations): dx is a stride-1 3x3 convolution of dout padded by
2 - pad with the kernel turned by 180 degrees and transposed, so it goes through the same transforms
(paddings above 2 fold through im2col); dW and db come from conv_im2col, which unfolds x again, or for
inputs of at least tuning.winograd_dw_batched rows of a window (C*9) from conv_batched, whose dW has a depth of
a whole chunk's pixels (in chunks of tuning.winograd_dw_chunk_bytes).

Where it pays (pays, used by methods.auto_conv): with few channels the 16 GEMMs are too shallow, and on small
images the padding of the tiles is a large share of the work (docs/performance.md#winograd).

x: (N, C, H, W), w: (F, C, 3, 3), b: (F,) or None, pad = (top, bottom, left, right); stride 1, dilation 1,
one group (see applies).
"""
import functools
import types
from collections import namedtuple
from dataclasses import replace
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..shapes import Pad, Pair
from . import compiled, conv_batched, conv_im2col, threads
from .config import DEFAULT, Tuning
from .engine import flipped, full_pad, scratch

# elements between the 16 planes of V and of M: planes a multiple of 4 kB apart share the L1 cache's sets
PLANE_GAP = 16
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])

Cache = namedtuple("Cache", "x w has_bias pad")


@functools.cache
def kernels() -> types.ModuleType:
    """loops/winograd.py, imported (and numba with it) on first use."""
    return compiled.kernels("winograd", "Conv2d", "im2col")


def applies(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], groups: int) -> bool:
    """Whether F(2x2, 3x3) computes this layer: 3x3 kernels, stride 1, no dilation, one group."""
    return tuple(kernel) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1


def pays(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], groups: int, channels: int,
         filters: int, out_hw: Sequence[int], tuning: Tuning = DEFAULT) -> bool:
    """Whether this method beats the unfolding for a layer (Conv2d's "auto" asks): where it applies and one of
    tuning.winograd_rules holds. The larger the output, the fewer channels it needs: each tile's transforms cost
    per channel, the products it saves per channel and filter (docs/performance.md#winograd)."""
    return applies(kernel, stride, dilation, groups) and any(
        min(out_hw) >= side and min(channels, filters) >= least and channels * filters >= product
        for side, least, product in tuning.winograd_rules)


def transformed_weights(w: np.ndarray) -> np.ndarray:
    """w: (F, C, 3, 3) -> U: (16, F, C) of w's dtype, U[4*a + b] = (G w[f, c] G^T)[a, b], computed in float64."""
    u = np.einsum("ai,fcij,bj->abfc", G, w.astype(np.float64), G)
    return np.ascontiguousarray(u.reshape((16,) + w.shape[:2]), dtype=w.dtype)


def planes(s: dict[str, Any], key: str, size: int, rows: int, cols: int,
           dtype: npt.DTypeLike) -> tuple[np.ndarray, np.ndarray]:
    """(buffer, view): the thread's scratch buffer `key`, (16, rows*size + PLANE_GAP) made at its first chunk
    for `size` columns, and its (16, rows, cols) view, the layout of V and M for the GEMM."""
    buf = scratch(s, key, (16, rows * size + PLANE_GAP), dtype)
    return buf, buf[:, :rows * cols].reshape(16, rows, cols)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), groups: int = 1,
           keep: bool = True, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, Cache]:
    """Forward. Returns (y, cache); `keep` is accepted for the methods' common signature (the cache is x)."""
    if not applies(w.shape[2:], stride, dilation, groups):
        raise ValueError(f"conv_winograd: expected a 3x3 kernel, stride 1, dilation 1 and 1 group, got kernel "
                         f"{w.shape[2:]}, stride {stride}, dilation {dilation}, groups {groups}")
    loops = kernels()
    n, c, h, wd = x.shape
    f = w.shape[0]
    ho, wo = h + pad[0] + pad[1] - 2, wd + pad[2] + pad[3] - 2
    th, tw = -(-ho // 2), -(-wo // 2)
    tiles = th * tw
    u = transformed_weights(w)
    bias = np.zeros(f, x.dtype) if b is None else np.ascontiguousarray(b, x.dtype)
    y = np.empty((n, f, ho, wo), x.dtype)
    size = threads.chunk_size(n, 16 * max(c, f) * tiles * x.itemsize, tuning.winograd_chunk_bytes)

    def chunk(s, lo, hi):
        m = hi - lo
        # zeroed once: later chunks overwrite the interior only, the border stays 0
        xp = scratch(s, "xp", (size, c, 2 * th + 2, 2 * tw + 2), x.dtype, zero=True)[:m]
        xp[:, :, pad[0]:pad[0] + h, pad[2]:pad[2] + wd] = x[lo:hi]
        vbuf, v = planes(s, "v", size * tiles, c, m * tiles, x.dtype)
        loops.input_tiles(xp, vbuf, th, tw)
        mbuf, mt = planes(s, "m", size * tiles, f, m * tiles, x.dtype)
        np.matmul(u, v, out=mt)
        loops.output_tiles(mbuf, bias, y[lo:hi], th, tw)

    threads.run(chunk, n, size)
    return y, Cache(x, w, b is not None, pad)


def conv2d_backward(dout: np.ndarray, cache: Cache, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True, *,
                    tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C, 3, 3), db: (F,) or None; each None when not
    asked for (input_grad, weight_grad, bias_grad False: see conv_im2col.conv2d_backward)."""
    x, w, has_bias, pad = cache
    full = full_pad(w.shape, pad, (1, 1))
    by_tiles = input_grad and min(full) >= 0
    if weight_grad and w.shape[1] * 9 >= tuning.winograd_dw_batched:  # dW of depth m*L per chunk (conv_batched)
        batched = conv_batched.Cache(x, x.shape, w, None, has_bias, (1, 1), pad, (1, 1))
        dx, dw, db = conv_batched.conv2d_backward(dout, batched, input_grad and not by_tiles, weight_grad, bias_grad,
                                                  tuning=replace(tuning, chunk_bytes=tuning.winograd_dw_chunk_bytes))
    else:
        im2col_cache = conv_im2col.Cache(x, x.shape, w, None, has_bias, (1, 1), pad, (1, 1), 1, tuning.rows)
        dx, dw, db = conv_im2col.conv2d_backward(dout, im2col_cache, input_grad and not by_tiles, weight_grad,
                                                 bias_grad, tuning=tuning)
    if by_tiles:
        dx = conv2d(dout, flipped(w, 1), None, (1, 1), full, tuning=tuning)[0]
    return dx, dw, db
