"""The im2col engine: unfolding windows into columns, and the GEMM bookkeeping around them.

The tuned conv methods (conv_im2col, conv_numba, conv_winograd) and im2col pooling share it. The math is that
of functional/conv.py, rearranged so that the multiply-adds become matrix products (docs/conv.md):

    cols[n, g, (c, a, b), (i, j)] = xp[n, g*Cg + c, i*sh + a*dh, j*sw + b*dw]       (xp: x zero-padded)
    y[n, g] = W_g @ cols[n, g]           dW_g = sum_n D[n, g] @ cols[n, g].T         dcols = W_g.T @ D[n, g]

with W_g: (Fg, Cg*kh*kw) the filters of group g and D = dout as (N, G, Fg, H_out*W_out).

Two shapes of columns:
- windows: the rows above, (Cg*kh*kw, H_out*W_out) per sample and group;
- rows (layers of height stride 1): unfolded along the width only, colsr[n, g, (c, b), (r, j)] =
  xp[n, g*Cg + c, r, j*sw + b*dw] for every padded row r. Kernel row a of output row i reads padded row
  i + a*dh, so the rows kernel row a needs are one slice of colsr, L = H_out*W_out long at offset a*dh*W_out
  (kernel_rows): kh GEMMs of depth Cg*kw over a kh-times smaller unfolding, which BLAS reads in place.

Each thread works on chunks of the batch (threads.run) and keeps its buffers in a scratch dict `s`.
"""
from collections import namedtuple
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from ..shapes import Pad, Pair, out_size
from .config import DEFAULT, Tuning

Geometry = namedtuple("Geometry", "c h w f cg kh kw hp wp ho wo k rows kc lc")


def geometry(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Pair, pad: Pad, dilation: Pair,
             rows: bool = True) -> Geometry:
    """Sizes shared by forward and backward: k = Cg*kh*kw the rows of a window; rows whether the columns are the
    width-only unfolding (asked for, and height stride 1); kc x lc the columns of one sample and group
    (k x H_out*W_out for windows, Cg*kw x Hp*W_out for rows)."""
    _, c, h, w = x_shape
    f, cg, kh, kw = w_shape
    hp, wp = h + pad[0] + pad[1], w + pad[2] + pad[3]
    ho = out_size(h, kh, stride[0], pad[0], pad[1], dilation[0])
    wo = out_size(w, kw, stride[1], pad[2], pad[3], dilation[1])
    rows = rows and stride[0] == 1
    kc, lc = (cg * kw, hp * wo) if rows else (cg * kh * kw, ho * wo)
    return Geometry(c, h, w, f, cg, kh, kw, hp, wp, ho, wo, cg * kh * kw, rows, kc, lc)


def taps(xp: np.ndarray, g: Geometry, groups: int, stride: Pair, dilation: Pair,
         writeable: bool = False) -> np.ndarray:
    """xp: (m, C, Hp*Wp), flattened padded images -> view (m, G, Cg, kh, kw, H_out, W_out).

    Entry [n, g, c, a, b, i, j] is the pixel that tap (a, b) of window (i, j) reads:
    xp[n, g*Cg + c, (i*sh + a*dh)*Wp + j*sw + b*dw]. No copy.
    """
    s_n, s_c, s = xp.strides
    shape = (xp.shape[0], groups, g.cg, g.kh, g.kw, g.ho, g.wo)
    strides = (s_n, g.cg * s_c, s_c, dilation[0] * g.wp * s, dilation[1] * s, stride[0] * g.wp * s, stride[1] * s)
    return as_strided(xp, shape, strides, writeable=writeable)


def row_taps(xp: np.ndarray, g: Geometry, groups: int, stride: Pair, dilation: Pair) -> np.ndarray:
    """xp: (m, C, Hp*Wp) -> view (m, G, Cg, kw, Hp, W_out), entry [n, g, c, b, r, j] =
    xp[n, g*Cg + c, r*Wp + j*sw + b*dw]: every padded row, unfolded along the width only. No copy."""
    s_n, s_c, s = xp.strides
    shape = (xp.shape[0], groups, g.cg, g.kw, g.hp, g.wo)
    strides = (s_n, g.cg * s_c, s_c, dilation[1] * s, g.wp * s, stride[1] * s)
    return as_strided(xp, shape, strides, writeable=False)


def windows(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """xp: (N, C, Hp, Wp), padded images -> read-only view (N, C, H_out, W_out, kh, kw) of every window. No copy."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(n, c, ho, wo, kh, kw),
                      strides=(s_n, s_c, s_h * sh, s_w * sw, s_h * dh, s_w * dw), writeable=False)


def interior(xp: np.ndarray, g: Geometry, pad: Pad) -> np.ndarray:
    """The view of the flattened padded images xp: (m, C, Hp*Wp) where the unpadded images sit."""
    grid = xp.reshape(len(xp), g.c, g.hp, g.wp)
    return grid[:, :, pad[0]:pad[0] + g.h, pad[2]:pad[2] + g.w]


def unfold(x: np.ndarray, lo: int, hi: int, g: Geometry, pad: Pad, stride: Pair, dilation: Pair, groups: int,
           s: dict[str, Any], out: np.ndarray) -> None:
    """The columns of samples lo..hi-1 of x into out: (m, G, kc, lc), padding through s's buffer "xp"."""
    m = hi - lo
    if pad == (0, 0, 0, 0):
        xp = x[lo:hi].reshape(m, g.c, g.h * g.w)
    else:
        # zeroed once: later chunks only overwrite the interior, the border stays 0
        xp = scratch(s, "xp", (m, g.c, g.hp * g.wp), x.dtype, zero=True)[:m]
        interior(xp, g, pad)[...] = x[lo:hi]
    if g.rows:
        np.copyto(out.reshape(m, groups, g.cg, g.kw, g.hp, g.wo), row_taps(xp, g, groups, stride, dilation))
    else:
        np.copyto(out.reshape(m, groups, g.cg, g.kh, g.kw, g.ho, g.wo), taps(xp, g, groups, stride, dilation))


def kernel_rows(cols: np.ndarray, g: Geometry, dilation: Pair) -> np.ndarray:
    """Of rows columns (m, G, Cg*kw, Hp*W_out), the slices the kernel rows read: view (m, G, kh, Cg*kw, L),
    entry [.., a, :, :] = cols[..., a*dh*W_out : a*dh*W_out + L], L = H_out*W_out. No copy."""
    s_n, s_g, s_k, s = cols.strides
    shape = cols.shape[:2] + (g.kh, g.kc, g.ho * g.wo)
    return as_strided(cols, shape, (s_n, s_g, dilation[0] * g.wo * s, s_k, s), writeable=False)


def multiply(wm: np.ndarray, cols: np.ndarray, g: Geometry, dilation: Pair, s: dict[str, Any],
             out: np.ndarray) -> None:
    """out = W_g @ cols[n, g] for a chunk, out: (m, G, Fg, H_out*W_out). wm: (G, Fg, k) for window columns, or
    (kh, G, Fg, Cg*kw) for rows columns, whose kernel row a multiplies its slice of the rows (kernel_rows) and
    the kh products are added up (through s's buffer "part")."""
    if not g.rows:
        np.matmul(wm, cols, out=out)
        return
    rows = kernel_rows(cols, g, dilation)
    np.matmul(wm[0], rows[:, :, 0], out=out)
    part = scratch(s, "part", out.shape, out.dtype)[:len(out)]
    for a in range(1, g.kh):
        np.add(out, np.matmul(wm[a], rows[:, :, a], out=part), out=out)


def scratch(s: dict[str, Any], key: str, shape: tuple[int, ...], dtype: npt.DTypeLike,
            zero: bool = False) -> np.ndarray:
    """s[key]: a buffer of the thread's scratch s, made (zeroed if asked) at its first chunk and kept for the
    others (the first chunk of a thread is its largest, see threads.chunks)."""
    a = s.get(key)
    if a is None:
        a = s[key] = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    return a


def add_weight_grad(cols: np.ndarray, d: np.ndarray, s: dict[str, Any], tuning: Tuning = DEFAULT) -> None:
    """Adds sum_n D[n, g] @ cols[n, g, r].T of a chunk into s["dw"][g, r], as (Fg, K) or, when s["dw_t"] is
    True, as its transpose (K, Fg). cols: (m, G, R, K, L), d = D: (m, G, Fg, L); R = kh for rows columns (r the
    kernel row, see kernel_rows), else 1. One batched product for all R, since each NumPy call hands the GIL
    over between threads.

    BLAS reads either transposed operand in place; D @ cols.T is the faster one while K (the rows of cols,
    C/G*kh*kw) or Fg is small (tuning.dw_rows, tuning.dw_filters), cols @ D.T otherwise
    (docs/performance.md#tuning-knobs).
    """
    k, fg = cols.shape[3], d.shape[2]
    s.setdefault("dw_t", not (k <= tuning.dw_rows or fg <= tuning.dw_filters))
    d = d[:, :, None]
    if s["dw_t"]:
        dwn = np.matmul(cols, d.swapaxes(-1, -2))
    else:
        dwn = np.matmul(d, cols.swapaxes(-1, -2))
    if "dw" not in s:
        s["dw"] = np.zeros(dwn.shape[1:], dwn.dtype)
    np.add(s["dw"], dwn.sum(axis=0), out=s["dw"])


def summed_weight_grad(parts: list[dict[str, Any]], w_shape: tuple[int, ...]) -> np.ndarray:
    """dw: (F, C/G, kh, kw) from the threads' scratches that add_weight_grad added into."""
    dw = sum(s["dw"] for s in parts)
    if parts[0]["dw_t"]:
        dw = dw.swapaxes(-1, -2)
    groups, rows, fg = dw.shape[:3]
    if rows == 1:
        return dw.reshape(w_shape)
    # one sum per kernel row r, of (Fg, Cg*kw) with columns (c, b) -> (G, Fg, Cg, kh, kw)
    return dw.reshape(groups, rows, fg, w_shape[1], w_shape[3]).transpose(0, 2, 3, 1, 4).reshape(w_shape)


def full_pad(w_shape: tuple[int, ...], pad: Pad, dilation: Pair) -> Pad:
    """(top, bottom, left, right): the padding of dout that makes dx a stride-1 convolution of it,
    dilation*(k - 1) - pad on each side (negative when the forward pad was larger: then there is none)."""
    kh, kw = w_shape[2:]
    eh, ew = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    return eh - pad[0], eh - pad[1], ew - pad[2], ew - pad[3]


def flipped(w: np.ndarray, groups: int) -> np.ndarray:
    """w: (F, Cg, kh, kw) -> (C, Fg, kh, kw), w'[g*Cg + c, j, a, b] = w[g*Fg + j, c, kh-1-a, kw-1-b]: each
    group's filters turned into its input channels, every kernel rotated by 180 degrees."""
    f, cg, kh, kw = w.shape
    wg = w.reshape(groups, f // groups, cg, kh, kw)[:, :, :, ::-1, ::-1]
    return np.ascontiguousarray(wg.transpose(0, 2, 1, 3, 4)).reshape(groups * cg, f // groups, kh, kw)
