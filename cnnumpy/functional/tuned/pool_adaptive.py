"""Adaptive pooling, vectorized (method "im2col"): the math of functional/pool.py, average as matrix products,
max as two sweeps of NumPy's maximum.

Adaptive average pooling is linear and separable: y[n, c] = R @ x[n, c] @ S.T, where row i of
R: (H_out, H) holds 1 / (length of row window i) on that window and 0 elsewhere (S likewise for
columns), so its backward is the transpose, dx[n, c] = R.T @ dout[n, c] @ S. Output size 1 is a
plain global mean. The zeros of R and S multiply every pixel, and 0 * inf = NaN: one inf or NaN
turns its whole channel into NaN, where the definition keeps it in its windows. So the channels
whose result is not finite are summed again window by window (_window_sums), without the zeros.

Adaptive max pooling is separable too, as max pooling's tiles (pool_im2col.py): sweep 1 takes, for every input
row, the max over each column window (the winner's column), sweep 2 the max of those over each row window (the
winning row). A window of up to K taps along an axis is scanned as K gathers of all windows at once; a
shorter window repeats its last tap, which never wins a strict comparison again (a repeated NaN wins with the
same index). Row-major first maximum (last NaN), as torch: the earliest row holding the maximum, its first column.
Backward adds each dout at its winner's flat index with one np.add.at.

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
    """Max of x: (N, C, A, B) over each window of `taps` along `axis` (3: columns, 2: rows) -> (y, k), k the
    number of the winning tap in its window: one gather and one comparison per tap, all windows at once.

    A tap wins when larger than the max so far (strict: a tie keeps the first), or NaN. Since k grows, the
    winner's number is the largest k that won: k_won = max(k_won, k * won), two cheap passes (a masked copy
    of the winners' positions is several times slower)."""
    y = np.take(x, taps[:, 0], axis=axis)
    best = np.zeros(y.shape, dtype=np.min_scalar_type(taps.shape[1] - 1))
    won, k_won = np.empty(y.shape, dtype=bool), np.empty(y.shape, dtype=best.dtype)
    for k in range(1, taps.shape[1]):
        tap = np.take(x, taps[:, k], axis=axis)
        np.greater(tap, y, out=won)
        if nan:
            won |= np.isnan(tap)
        np.maximum(y, tap, out=y)
        np.multiply(won, best.dtype.type(k), out=k_won)
        np.maximum(best, k_won, out=best)
    return y, best


def adaptive_max_pool2d(x: np.ndarray, output_size: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), the largest value of each adaptive window. Returns (y, cache).

    Sweep 1 over columns, then sweep 2 over rows (see the top); the cache holds the winners' flat indices.
    """
    return _adaptive_max(x, output_size, nan=False)


def _adaptive_max(x, output_size, nan):
    """adaptive_max_pool2d with (nan=True) or without the NaN test, which costs a pass per tap: it is made only
    when a NaN reached y (np.maximum keeps it there)."""
    (h, w), (ho, wo) = x.shape[2:], output_size
    if (ho, wo) == (1, 1) and not nan:  # global max pooling: NumPy's argmax, the first maximum of each plane
        index = np.argmax(x.reshape(x.shape[0], x.shape[1], 1, h * w), axis=3)[..., None]
        y = np.take_along_axis(x.reshape(index.shape[:3] + (h * w,)), index, axis=3)
        if not np.isnan(y).any():  # argmax takes the first NaN, torch the last
            return y, (x.shape, index.astype(np.int64, copy=False))
        return _adaptive_max(x, output_size, nan=True)
    rows, cols = _taps(h, ho), _taps(w, wo)
    r, b = _sweep(x, cols, 3, nan)  # (N, C, H, W_out): each row's max in each column window, its tap b
    y, a = _sweep(r, rows, 2, nan)  # (N, C, H_out, W_out): the best of those rows, its tap a
    if not nan and np.isnan(y).any():
        return _adaptive_max(x, output_size, nan=True)
    row = rows[np.arange(ho)[:, None], a]  # window (i, j)'s winning row, then that row's winning column
    col = cols[np.arange(wo), np.take_along_axis(b, row, axis=2)]
    return y, (x.shape, (row * w + col).astype(np.int64, copy=False))


def adaptive_max_pool2d_indices(cache: tuple) -> np.ndarray:
    """The flat index r*W + s of each window's maximum, int64 (N, C, H_out, W_out)."""
    return cache[1]


def adaptive_max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W): dx[n, c].flat[index] += dout, one np.add.at over the flat
    planes (overlapping windows add up, in the loops' order)."""
    x_shape, index = cache
    n, c, h, w = x_shape
    flat = index + (np.arange(n * c) * (h * w)).reshape(n, c, 1, 1)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    np.add.at(dx.reshape(-1), flat.reshape(-1), dout.reshape(-1))
    return dx
