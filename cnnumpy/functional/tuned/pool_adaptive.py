"""Adaptive pooling, vectorized (method "im2col"): the math of functional/pool.py, average as matrix products,
max as two sweeps of NumPy's maximum.

Adaptive average pooling is linear and separable: y[n, c] = R @ x[n, c] @ S.T, where row i of
R: (H_out, H) holds 1 / (length of row window i) on that window and 0 elsewhere (S likewise for
columns), so its backward is the transpose, dx[n, c] = R.T @ dout[n, c] @ S. Output size 1 is a
plain global mean. The zeros of R and S multiply every pixel, and 0 * inf = NaN: one inf or NaN
turns its whole channel into NaN, where the definition keeps it in its windows. So the channels
whose result is not finite are summed again window by window (_window_sums), without the zeros.

Adaptive max pooling is separable too, as max pooling's tiles (pool_im2col.py): sweep 1 takes, for every input
row, the max over each column window (ci: the winner's column), sweep 2 the max of those over each row window
(ri: the winning row). A window of up to K taps along an axis is scanned as K gathers of all windows at once; a
shorter window repeats its last tap, which never wins a strict comparison again (a repeated NaN wins with the
same index). Row-major first maximum (last NaN), as torch: the earliest row holding the maximum, its first column.
Backward adds each dout at its winner's flat index with one np.bincount.

Shapes and output sizes as in functional/pool.py.
"""
import numpy as np

from ..shapes import Pair, adaptive_bounds


def _average_matrix(size, out, dtype):
    """P: (out, size), P[i, k] = 1 / (length of window i) for k in window i, else 0."""
    lo, hi = adaptive_bounds(size, out)
    k = np.arange(size)
    inside = (lo[:, None] <= k) & (k < hi[:, None])
    return (inside / (hi - lo)[:, None]).astype(dtype)


def _window_sums(x, out_hw):
    """x: (K, H, W) -> (K, H_out, W_out), the sum of each adaptive window, one slice sum per window row
    and per window column: no product with the zeros of R and S, so an inf or NaN stays in its windows."""
    (h, w), (ho, wo) = x.shape[1:], out_hw
    rows = np.stack([x[:, lo:hi].sum(axis=1) for lo, hi in zip(*adaptive_bounds(h, ho))], axis=1)
    return np.stack([rows[:, :, lo:hi].sum(axis=2) for lo, hi in zip(*adaptive_bounds(w, wo))], axis=2)


def _window_spread(g, x_hw):
    """The transpose of _window_sums: g: (K, H_out, W_out) -> (K, H, W), each window's g added to its pixels."""
    (k, ho, wo), (h, w) = g.shape, x_hw
    rows = np.zeros((k, ho, w), g.dtype)
    for j, (lo, hi) in enumerate(zip(*adaptive_bounds(w, wo))):
        rows[:, :, lo:hi] += g[:, :, j, None]
    dx = np.zeros((k, h, w), g.dtype)
    for i, (lo, hi) in enumerate(zip(*adaptive_bounds(h, ho))):
        dx[:, lo:hi] += rows[:, i, None]
    return dx


def _window_areas(x_hw, out_hw, dtype):
    """(H_out, W_out): the number of pixels of each adaptive window."""
    (h, w), (ho, wo) = x_hw, out_hw
    (r0, r1), (s0, s1) = adaptive_bounds(h, ho), adaptive_bounds(w, wo)
    return np.outer(r1 - r0, s1 - s0).astype(dtype)


def _not_finite(a):
    """Boolean (N, C): the channels of a that hold an inf or NaN (None if none does, after one cheap pass)."""
    if np.isfinite(a).all():
        return None
    return ~np.isfinite(a).all(axis=(2, 3))


def adaptive_avg_pool2d(x: np.ndarray, output_size: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out) with (H_out, W_out) = output_size. Returns (y, cache).

    y = R @ x @ S.T; the channels where that is not finite are summed again by _window_sums (see the top).
    """
    h, w = x.shape[2:]
    if tuple(output_size) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True), (x.shape, None, None)  # global average pooling
    rows = _average_matrix(h, output_size[0], x.dtype)
    cols = _average_matrix(w, output_size[1], x.dtype)
    with np.errstate(invalid="ignore"):  # 0 * inf: that channel is redone below
        y = rows @ x @ cols.T
    # every pixel is in some window (a nonzero of R and S), so a channel of y that came out finite had a finite x
    bad = _not_finite(y)
    if bad is not None:
        y[bad] = _window_sums(x[bad], output_size) / _window_areas((h, w), output_size, x.dtype)
    return y, (x.shape, rows, cols)


def adaptive_avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W), the transpose of the forward map.

    dx = R.T @ dout @ S; the channels of a non-finite dout are spread again by _window_spread.
    """
    x_shape, rows, cols = cache
    if rows is None:
        dx = np.empty(x_shape, dtype=dout.dtype)
        dx[...] = dout / (x_shape[2] * x_shape[3])
        return dx
    with np.errstate(invalid="ignore"):  # 0 * inf: that channel is redone below
        dx = rows.T @ dout @ cols
    bad = _not_finite(dout)
    if bad is not None:
        dx[bad] = _window_spread(dout[bad] / _window_areas(x_shape[2:], dout.shape[2:], dout.dtype), x_shape[2:])
    return dx


def _taps(size, out):
    """(out, K) int: the positions of window i's taps along one axis, the last repeated up to K, the longest."""
    lo, hi = adaptive_bounds(size, out)
    k = int((hi - lo).max())
    return np.minimum(lo[:, None] + np.arange(k), hi[:, None] - 1)



def _sweep(x, taps, axis, nan):
    """Max of x: (N, C, A, B) over each window of `taps` along `axis` (3: columns, 2: rows) -> (y, pos), pos the
    winning tap's position along that axis: one gather and one comparison per tap, all windows at once."""
    def position(k):  # tap k's position, broadcast against y: along the last axis (columns) or the one before
        return taps[:, k] if axis == 3 else taps[:, k, None]
    y = np.take(x, taps[:, 0], axis=axis)
    pos = np.broadcast_to(position(0), y.shape).copy()
    won = np.empty(y.shape, dtype=bool)
    for k in range(1, taps.shape[1]):
        tap = np.take(x, taps[:, k], axis=axis)
        np.greater(tap, y, out=won)  # strict: a tie keeps the first maximum
        if nan:
            won |= np.isnan(tap)
        np.maximum(y, tap, out=y)
        np.copyto(pos, position(k), where=won)
    return y, pos


def adaptive_max_pool2d(x: np.ndarray, output_size: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), the largest value of each adaptive window. Returns (y, cache).

    Sweep 1 over columns, then sweep 2 over rows (see the top); the cache holds the winners' flat indices.
    """
    h, w = x.shape[2:]
    nan = np.isnan(x).any()  # the NaN test costs a pass per tap: only when there is one
    r, col = _sweep(x, _taps(w, output_size[1]), 3, nan)  # (N, C, H, W_out)
    y, row = _sweep(r, _taps(h, output_size[0]), 2, nan)  # (N, C, H_out, W_out)
    index = row * w + np.take_along_axis(col, row, axis=2)  # the winning row's winning column
    return y, (x.shape, index.astype(np.int64, copy=False))


def adaptive_max_pool2d_indices(cache: tuple) -> np.ndarray:
    """The flat index r*W + s of each window's maximum, int64 (N, C, H_out, W_out)."""
    return cache[1]


def adaptive_max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W): dx[n, c].flat[index] += dout, one np.bincount over all
    planes (overlapping windows add up; bincount sums in float64, then dout's dtype is restored)."""
    x_shape, index = cache
    n, c, h, w = x_shape
    bins = index + (np.arange(n * c) * (h * w)).reshape(n, c, 1, 1)
    dx = np.bincount(bins.ravel(), weights=dout.ravel(), minlength=n * c * h * w)
    return dx.reshape(x_shape).astype(dout.dtype, copy=False)
