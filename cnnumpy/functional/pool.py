"""2-D pooling by its definition: loops over every output and every tap, written to be read next to the math.

With x: (N, C, H, W), a kh x kw window, stride (sh, sw), symmetric padding (ph, pw)
and dilation (dh, dw), output (i, j) looks at the taps

    x[n, c, i*sh - ph + a*dh, j*sw - pw + b*dw]      a < kh, b < kw,

and the taps that fall outside x are padding. The output size is PyTorch's:

    H_out = (H + 2*ph - dh*(kh-1) - 1) // sh + 1                             (floor mode)
    H_out = (H + 2*ph - dh*(kh-1) - 1 + sh - 1) // sh + 1                    (ceil mode)
            minus one if the last window would start at or past H + ph

(so in ceil mode every window starts inside the input or its left/top padding; it
may hang past the bottom/right padding).

    max pool:  y = the largest tap; padding is -inf, so it never wins.
    avg pool:  y = (sum of the taps inside x) / divisor, the divisor as PyTorch picks it
               (see avg_window).
    adaptive:  output (i, j) averages (or takes the largest of) rows floor(i*H/H_out) ..
               ceil((i+1)*H/H_out) - 1 and the matching columns, so windows may differ in size and
               overlap, and H_out may exceed H (windows then repeat rows).
    unpool:    max pooling's partial inverse: each value goes back to the flat position r*W + s in its
               plane that max_pool2d_indices named, the rest is 0.

This is the "naive" method of the pooling layers; the tuned methods (functional/tuned/, listed in
functional/methods.py) compute the same numbers faster, and the tests hold each of them to these loops.
"""
import numpy as np

from .shapes import Pair, adaptive_bounds, pool_out_size


def max_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair = (1, 1),
               ceil_mode: bool = False) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), the largest tap of each window. Returns (y, cache).

    The scan is PyTorch's: start from the first tap inside x with best = -inf, go through the
    window in row-major order and take a tap when it is larger than the best so far, or NaN.
    Ties therefore keep the first maximum, a NaN wins (the last NaN if there are several), and
    the cache remembers the winner of each window for backward.
    """
    n_, c_, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, pad, dilation
    ho = pool_out_size(h, kh, sh, ph, dh, ceil_mode)
    wo = pool_out_size(w, kw, sw, pw, dw, ceil_mode)
    y = np.empty((n_, c_, ho, wo), dtype=x.dtype)
    winner = np.empty((n_, c_, ho, wo, 2), dtype=np.intp)  # (row, column) in x of each window's maximum
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    best, where = -np.inf, None
                    for a in range(kh):
                        r = i * sh - ph + a * dh
                        for b in range(kw):
                            s = j * sw - pw + b * dw
                            if not (0 <= r < h and 0 <= s < w):
                                continue  # padding is -inf: it never wins
                            v = x[n, c, r, s]
                            if where is None or v > best or np.isnan(v):
                                best, where = v, (r, s)
                    y[n, c, i, j] = best
                    winner[n, c, i, j] = where
    return y, (x.shape, winner)


def max_pool2d_indices(cache: tuple) -> np.ndarray:
    """The flat index r*W + s of each window's maximum in its (H, W) plane, int64 (N, C, H_out, W_out), from
    max_pool2d's cache: torch's MaxPool2d(return_indices=True), what max_unpool2d takes."""
    x_shape, winner = cache
    return (winner[..., 0] * x_shape[3] + winner[..., 1]).astype(np.int64)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W).

    y[n, c, i, j] = x[n, c, r, s] for the one winner (r, s) of the window, so
    dy/dx is 1 there and 0 elsewhere: dx[n, c, r, s] += dout[n, c, i, j]. Only the
    winner gets it even when several taps tie, as in PyTorch; windows that overlap
    may send several outputs' gradients to the same input.
    """
    x_shape, winner = cache
    n_, c_, ho, wo = dout.shape
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    r, s = winner[n, c, i, j]
                    dx[n, c, r, s] += dout[n, c, i, j]
    return dx


def avg_window(i: int, size: int, k: int, stride: int, pad: int, count_include_pad: bool) -> tuple[int, int, int]:
    """Output i's window [lo, hi) inside x and the size PyTorch divides by along one axis.

    The window starts at i*stride - pad; it is first clipped to the padded input, which is
    the size counted with count_include_pad (so in ceil mode the part hanging past the
    padding is not counted), then to x itself, the size counted without.
    """
    lo = i * stride - pad
    hi = min(lo + k, size + pad)
    padded = hi - lo
    lo, hi = max(lo, 0), min(hi, size)
    return lo, hi, (padded if count_include_pad else hi - lo)


def avg_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), y = (sum of the window's taps inside x) / divisor.

    divisor = divisor_override if given, else the window's area, counted with or without
    the padding (count_include_pad) as avg_window explains. Returns (y, cache).
    """
    n_, c_, h, w = x.shape
    ho = pool_out_size(h, kernel[0], stride[0], pad[0], 1, ceil_mode)
    wo = pool_out_size(w, kernel[1], stride[1], pad[1], 1, ceil_mode)
    y = np.empty((n_, c_, ho, wo), dtype=x.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                r0, r1, rows = avg_window(i, h, kernel[0], stride[0], pad[0], count_include_pad)
                for j in range(wo):
                    s0, s1, cols = avg_window(j, w, kernel[1], stride[1], pad[1], count_include_pad)
                    divisor = divisor_override if divisor_override is not None else rows * cols
                    y[n, c, i, j] = x[n, c, r0:r1, s0:s1].sum() / divisor
    return y, (x.shape, kernel, stride, pad, count_include_pad, divisor_override)


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W).

    y[n, c, i, j] = sum(window) / divisor, so every tap inside x gets dout[n, c, i, j] / divisor.
    """
    x_shape, kernel, stride, pad, count_include_pad, divisor_override = cache
    n_, c_, ho, wo = dout.shape
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                r0, r1, rows = avg_window(i, x_shape[2], kernel[0], stride[0], pad[0], count_include_pad)
                for j in range(wo):
                    s0, s1, cols = avg_window(j, x_shape[3], kernel[1], stride[1], pad[1], count_include_pad)
                    divisor = divisor_override if divisor_override is not None else rows * cols
                    dx[n, c, r0:r1, s0:s1] += dout[n, c, i, j] / divisor
    return dx


def adaptive_avg_pool2d(x: np.ndarray, output_size: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out) with (H_out, W_out) = output_size. Returns (y, cache).

    y[n, c, i, j] = mean of x[n, c, r0(i):r1(i), s0(j):s1(j)], the bounds from adaptive_bounds.
    """
    n_, c_, h, w = x.shape
    ho, wo = output_size
    r0, r1 = adaptive_bounds(h, ho)
    s0, s1 = adaptive_bounds(w, wo)
    y = np.empty((n_, c_, ho, wo), dtype=x.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    y[n, c, i, j] = x[n, c, r0[i]:r1[i], s0[j]:s1[j]].mean()
    return y, x.shape


def adaptive_avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W): each window's taps get dout / (window area)."""
    x_shape = cache
    n_, c_, ho, wo = dout.shape
    r0, r1 = adaptive_bounds(x_shape[2], ho)
    s0, s1 = adaptive_bounds(x_shape[3], wo)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    area = (r1[i] - r0[i]) * (s1[j] - s0[j])
                    dx[n, c, r0[i]:r1[i], s0[j]:s1[j]] += dout[n, c, i, j] / area
    return dx


def adaptive_max_pool2d(x: np.ndarray, output_size: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), the largest value of each adaptive window. Returns (y, cache).

    y[n, c, i, j] = max of x[n, c, r0(i):r1(i), s0(j):s1(j)], the bounds from adaptive_bounds, found by
    max_pool2d's scan (row-major, a tap wins when larger than the best so far or NaN), so ties keep the first
    maximum and a NaN wins, as torch. The cache holds each winner's flat index r*W + s in its plane.
    """
    n_, c_, h, w = x.shape
    ho, wo = output_size
    r0, r1 = adaptive_bounds(h, ho)
    s0, s1 = adaptive_bounds(w, wo)
    y = np.empty((n_, c_, ho, wo), dtype=x.dtype)
    index = np.empty((n_, c_, ho, wo), dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    best, where = -np.inf, r0[i] * w + s0[j]
                    for r in range(r0[i], r1[i]):
                        for s in range(s0[j], s1[j]):
                            v = x[n, c, r, s]
                            if v > best or np.isnan(v):
                                best, where = v, r * w + s
                    y[n, c, i, j] = best
                    index[n, c, i, j] = where
    return y, (x.shape, index)


def adaptive_max_pool2d_indices(cache: tuple) -> np.ndarray:
    """The flat index r*W + s of each window's maximum, int64 (N, C, H_out, W_out): return_indices=True."""
    return cache[1]


def adaptive_max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W).

    As max pooling: y[n, c, i, j] = x[n, c, r, s] for its one winner, so dx[n, c, r, s] += dout[n, c, i, j];
    windows overlap (and repeat when H_out > H), so one input may collect several outputs' gradients.
    """
    x_shape, index = cache
    n_, c_, ho, wo = dout.shape
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    r, s = divmod(int(index[n, c, i, j]), x_shape[3])
                    dx[n, c, r, s] += dout[n, c, i, j]
    return dx


def max_unpool2d(x: np.ndarray, indices: np.ndarray, output_hw: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W), indices: int (N, C, H, W) -> y: (N, C, H_out, W_out) with (H_out, W_out) = output_hw.

    y[n, c, r, s] = x[n, c, i, j] where indices[n, c, i, j] = r*W_out + s, and 0 where no index points: the
    inverse of max pooling on its maxima, the rest lost. The indices must lie in [0, H_out*W_out) (the module
    checks); where two point to one place, the later in row-major order wins here (torch leaves it undefined).
    """
    n_, c_, h, w = x.shape
    y = np.zeros((n_, c_) + tuple(output_hw), dtype=x.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(h):
                for j in range(w):
                    r, s = divmod(int(indices[n, c, i, j]), output_hw[1])
                    y[n, c, r, s] = x[n, c, i, j]
    return y, (indices, output_hw)


def max_unpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W), dx[n, c, i, j] = dout[n, c, r, s] at the index
    r*W_out + s that x[n, c, i, j] was sent to: a gather, the transpose of forward's scatter (torch's rule,
    also where two indices coincide)."""
    indices, output_hw = cache
    n_, c_, h, w = indices.shape
    dx = np.empty(indices.shape, dtype=dout.dtype)
    for n in range(n_):
        for c in range(c_):
            for i in range(h):
                for j in range(w):
                    r, s = divmod(int(indices[n, c, i, j]), output_hw[1])
                    dx[n, c, i, j] = dout[n, c, r, s]
    return dx
