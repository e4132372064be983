"""2-D convolution as a matrix product (im2col + GEMM): the same math as conv_naive, vectorized.

Unfold every window into a column, cols: (N, G, Cg*kh*kw, L) with L the number of windows;
then for each group g (channels g*Cg .. (g+1)*Cg, filters g*Fg .. (g+1)*Fg)

    y[n, g] = W_g @ cols[n, g]         W_g: (Fg, Cg*kh*kw), cols[n, g]: (Cg*kh*kw, L)

Backward, with D = dout as (N, G, Fg, L):

    dW_g  = sum_n D[n, g] @ cols[n, g].T      (or its transpose sum_n cols[n, g] @ D[n, g].T, see add_weight_grad)
    dcols = W_g.T @ D[n, g]                   then col2im folds dcols back onto the input
    db    = sum of dout over n, i, j

and for stride 1, dx = conv2d(dout, rot180(W) transposed, padding dilation*(k-1) - pad) instead of dcols.

Shapes as in conv_naive: x (N, C, H, W), w (F, C/G, kh, kw), b (F,) or None.

What makes it fast (the figures are in the report of issue 5):
- Chunks. The batch is processed a chunk of samples at a time, the chunk's columns at most
  CHUNK_BYTES, so they are still in the cache when the GEMM reads them (and dcols when col2im
  reads it), the scratch buffers are allocated once per thread and call, and the chunks are spread
  over threads (cnnumpy.functional.parallel). The whole batch's columns are kept for backward only
  when they fit CACHE_BYTES; beyond that backward unfolds each chunk again, which is also faster
  there: a fresh buffer of tens of MB costs a page fault per 4 kB at its first write.
- Rows (layers of height stride 1). The columns of the full windows repeat every pixel kh*kw times;
  unfolding along the width only, colsr[n, g, (c, b), (r, j)] = xp[n, g*Cg + c, r, j*sw + b*dw] for
  every padded row r, repeats it kw times, and kernel row a of window row i reads padded row i + a*dh,
  so the rows that kernel row a needs are ONE slice of colsr, L = H_out*W_out long at offset a*dh*W_out:

      y[n, g]  = sum_a W_g[:, :, a, :] @ colsr[n, g][:, a*dh*W_out : a*dh*W_out + L]

  kh GEMMs of depth Cg*kw over a kh-times smaller unfolding (BLAS reads the slices in place), and
  dW's row a likewise from the same slice (all kh in one batched product over kernel_rows' view).
  LeNet-5's 5x5 conv2 forward: 0.61 ms against 0.86 for the full windows (batch 64, 2 threads); the VGG
  net's 3x3 32->32 at 32x32, forward+backward: 34 against 41 ms.
  ROWS = False keeps the full windows there (for the tests).
- dx of a stride-1 layer is itself a stride-1 convolution (docs/conv.md derives it): dout padded by
  dilation*(k-1) - pad on each side, correlated with the kernel turned by 180 degrees and transposed to
  (C, F/G, kh, kw), see full_pad and flipped. That is an unfold (one copy) and kh GEMMs per chunk,
  where col2im needs kh*kw strided additions; with two threads the number of NumPy calls counts, since
  each one hands the GIL over. Other strides (and paddings beyond dilation*(k-1)) fold W_g.T @ D back
  through a strided view, kh*kw additions.
- dW, see add_weight_grad: D @ cols.T when the filters or the columns' rows are few (LeNet's conv1,
  a first layer on RGB), else cols @ D.T, whichever BLAS ran faster (it reads either transpose in place).
"""
from collections import namedtuple
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from . import parallel
from .padding import Pad, out_size
from .pool_naive import Pair

CHUNK_BYTES = 2 << 20    # columns of one chunk: 1 and 4 MB were slower (LeNet-5, VGG net; 1 and 2 threads)
CACHE_BYTES = 16 << 20   # keep the whole batch's columns for backward up to this size
ROWS = True              # height-stride-1 layers unfold along the width only (see the docstring)
DW_ROWS, DW_FILTERS = 64, 8   # dW as D @ cols.T up to this many rows of cols or filters per group

Geometry = namedtuple("Geometry", "c h w f cg kh kw hp wp ho wo k rows kc lc")
# what backward needs: x only when the columns were not kept (backward unfolds it again), else None
Cache = namedtuple("Cache", "x x_shape w cols has_bias stride pad dilation groups")


def geometry(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Pair, pad: Pad, dilation: Pair) -> Geometry:
    """Sizes shared by forward and backward (see the docstring): k = Cg*kh*kw the rows of a window; rows
    whether the columns are the width-only unfolding (height stride 1); kc x lc the columns of one sample and
    group (k x H_out*W_out for windows, Cg*kw x Hp*W_out for rows)."""
    _, c, h, w = x_shape
    f, cg, kh, kw = w_shape
    hp, wp = h + pad[0] + pad[1], w + pad[2] + pad[3]
    ho = out_size(h, kh, stride[0], pad[0], pad[1], dilation[0])
    wo = out_size(w, kw, stride[1], pad[2], pad[3], dilation[1])
    rows = ROWS and stride[0] == 1
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


def _interior(xp, g, pad):
    """The view of the flattened padded images xp: (m, C, Hp*Wp) where the unpadded images sit."""
    grid = xp.reshape(len(xp), g.c, g.hp, g.wp)
    return grid[:, :, pad[0]:pad[0] + g.h, pad[2]:pad[2] + g.w]


def _unfold(x, lo, hi, g, pad, stride, dilation, groups, s, out):
    """The columns of samples lo..hi-1 into out: (m, G, kc, lc), padding through s's buffer."""
    m = hi - lo
    if pad == (0, 0, 0, 0):
        xp = x[lo:hi].reshape(m, g.c, g.h * g.w)
    else:
        # zeroed once: later chunks only overwrite the interior, the border stays 0
        xp = scratch(s, "xp", (m, g.c, g.hp * g.wp), x.dtype, zero=True)[:m]
        _interior(xp, g, pad)[...] = x[lo:hi]
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


def scratch(s: dict[str, Any], key: str, shape: tuple[int, ...], dtype: npt.DTypeLike,
            zero: bool = False) -> np.ndarray:
    """s[key]: a buffer of the thread's scratch s, made (zeroed if asked) at its first chunk and kept for the
    others (the first chunk of a thread is its largest, see parallel.chunks)."""
    a = s.get(key)
    if a is None:
        a = s[key] = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    return a


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), groups: int = 1,
           keep: bool = True) -> tuple[np.ndarray, Cache]:
    """Forward. pad = (top, bottom, left, right). Returns (y, cache).

    keep=False never keeps the columns for backward (which then unfolds x again): for inference, where
    allocating them costs more than the copy into them.
    """
    return _conv(x, w, b, stride, pad, dilation, groups, keep)


def _conv(x, w, b, stride, pad, dilation, groups, keep=True):
    """conv2d; keep=False never keeps the columns for a backward pass."""
    n = len(x)
    g = geometry(x.shape, w.shape, stride, pad, dilation)
    fg, ell = g.f // groups, g.ho * g.wo
    if g.rows:  # W_g[:, :, a, :] for each kernel row a, contiguous: (kh, G, Fg, Cg*kw)
        wm = np.ascontiguousarray(w.reshape(groups, fg, g.cg, g.kh, g.kw).transpose(3, 0, 1, 2, 4))
        wm = wm.reshape(g.kh, groups, fg, g.kc)
    else:
        wm = w.reshape(groups, fg, g.k)
    per_sample = groups * g.kc * g.lc * x.itemsize
    cols_all = np.empty((n, groups, g.kc, g.lc), x.dtype) if keep and n * per_sample <= CACHE_BYTES else None
    y = np.empty((n, g.f, g.ho, g.wo), x.dtype)
    bias = None if b is None else b.reshape(1, g.f, 1, 1)

    def chunk(s, lo, hi):
        m = hi - lo
        if cols_all is not None:
            cols = cols_all[lo:hi]
        else:
            cols = scratch(s, "cols", (m, groups, g.kc, g.lc), x.dtype)[:m]
        _unfold(x, lo, hi, g, pad, stride, dilation, groups, s, cols)
        yg = y[lo:hi].reshape(m, groups, fg, ell)
        if g.rows:
            rows = kernel_rows(cols, g, dilation)
            np.matmul(wm[0], rows[:, :, 0], out=yg)
            part = scratch(s, "part", (m, groups, fg, ell), x.dtype)[:m]
            for a in range(1, g.kh):
                np.add(yg, np.matmul(wm[a], rows[:, :, a], out=part), out=yg)
        else:
            np.matmul(wm, cols, out=yg)
        if bias is not None:
            y[lo:hi] += bias

    parallel.run(chunk, n, parallel.chunk_size(n, per_sample, CHUNK_BYTES))
    # without the columns, backward needs x to unfold it again
    return y, Cache(x if cols_all is None else None, x.shape, w, cols_all, b is not None, stride, pad, dilation, groups)


def add_weight_grad(cols: np.ndarray, d: np.ndarray, s: dict[str, Any]) -> None:
    """Adds sum_n D[n, g] @ cols[n, g, r].T of a chunk into s["dw"][g, r], as (Fg, K) or, when s["dw_t"] is
    True, as its transpose (K, Fg). cols: (m, G, R, K, L), d = D: (m, G, Fg, L); R = kh for rows columns (r the
    kernel row, see kernel_rows), else 1. One batched product for all R: a product per kernel row, then its sum
    and its addition, were 3*kh NumPy calls per chunk, each a hand-over of the GIL between threads.

    BLAS reads either transposed operand in place. D @ cols.T was as fast or faster while K (the rows of
    cols, C/G*kh*kw) or Fg is small, cols @ D.T otherwise; a contiguous copy of D.T first (as before) cost more
    than it saved. One thread, one chunk, ms for D @ cols.T / cols @ D.T / copy and cols @ D.T: K 32, Fg 64,
    L 64, 32 samples 0.13 / 0.15 / 0.14; K 288, Fg 32, L 1024, 8 samples 3.6 / 2.3 / 3.0; rows of the VGG
    net's 32x32 layer (K 96 a kernel row, 5 samples, all 3 rows) 1.67 / 1.33 / 1.46.
    """
    k, fg = cols.shape[3], d.shape[2]
    s.setdefault("dw_t", not (k <= DW_ROWS or fg <= DW_FILTERS))
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


def conv2d_backward(dout: np.ndarray, cache: Cache, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C/G, kh, kw), db: (F,) or None.

    Each is computed only when asked, else returned as None: input_grad=False for a first layer, whose input is
    data nobody differentiates; weight_grad=False or bias_grad=False for a frozen parameter (requires_grad
    False). Without dw there is no unfolding of x and no dW GEMM, the larger half of a layer's backward.
    """
    x, x_shape, w, cols_all, has_bias, stride, pad, dilation, groups = cache
    n = len(dout)
    g = geometry(x_shape, w.shape, stride, pad, dilation)
    fg, ell = g.f // groups, g.ho * g.wo
    dtype = dout.dtype
    full = full_pad(w.shape, pad, dilation)
    # dx of a stride-1 layer is a convolution of dout (after the threads below); others fold dcols
    by_conv = input_grad and stride == (1, 1) and min(full) >= 0
    fold = input_grad and not by_conv
    bias_grad = bias_grad and has_bias
    dx = np.empty(x_shape, dtype) if fold else None
    direct = pad == (0, 0, 0, 0)  # then dx itself is the folding buffer
    wt = w.reshape(groups, fg, g.k).transpose(0, 2, 1)  # W_g.T, rows ordered (c, a, b) as a window's

    def chunk(s, lo, hi):
        m, size = hi - lo, size_
        d = dout[lo:hi].reshape(m, groups, fg, ell)
        if weight_grad:
            if cols_all is not None:
                cols = cols_all[lo:hi]
            else:
                cols = scratch(s, "cols", (size, groups, g.kc, g.lc), dtype)[:m]
                _unfold(x, lo, hi, g, pad, stride, dilation, groups, s, cols)
            # kernel row a of dW from the slice of the columns that row a read
            add_weight_grad(kernel_rows(cols, g, dilation) if g.rows else cols[:, :, None], d, s)
        if bias_grad:  # here rather than one pass over dout after the threads: d is in the cache now
            parallel.add(s, "db", d.sum(axis=(0, 3)))
        if not fold:
            return
        if direct:
            dxp = dx[lo:hi].reshape(m, g.c, g.h * g.w)
        else:
            dxp = scratch(s, "dxp", (size, g.c, g.hp * g.wp), dtype)[:m]
        dxp[...] = 0
        dcols = np.matmul(wt, d, out=scratch(s, "dcols", (size, groups, g.k, ell), dtype)[:m])
        dcols = dcols.reshape(m, groups, g.cg, g.kh, g.kw, g.ho, g.wo)
        # col2im: within one kernel offset (a, b) the windows touch distinct pixels, so a plain
        # addition through the strided view is exact; kh*kw NumPy calls, none per pixel
        view = taps(dxp, g, groups, stride, dilation, writeable=True)
        for a in range(g.kh):
            for b in range(g.kw):
                v = view[:, :, :, a, b]
                np.add(v, dcols[:, :, :, a, b], out=v)
        if not direct:
            dx[lo:hi] = _interior(dxp, g, pad)

    size_ = parallel.chunk_size(n, groups * g.kc * g.lc * dtype.itemsize, CHUNK_BYTES)
    parts = parallel.run(chunk, n, size_) if weight_grad or bias_grad or fold else []
    dw = summed_weight_grad(parts, w.shape) if weight_grad else None
    db = sum(s["db"] for s in parts).reshape(g.f) if bias_grad else None
    if by_conv:
        dx = _conv(dout, flipped(w, groups), None, (1, 1), full, dilation, groups, keep=False)[0]
    return dx, dw, db
