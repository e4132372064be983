"""Padding an image batch on its last two axes: with a constant (zeros by default) or by reflection.

padding = (left, right, top, bottom), torch's order (the last axis first). A negative amount crops, as in torch.

    x: (..., H, W) -> y: (..., H + top + bottom, W + left + right)

Constant: y[..., i, j] = x[..., i - top, j - left] where that index is inside x, else `value`.
Reflection: y[..., i, j] = x[..., r_H(i - top), r_W(j - left)] with the mirror r_n(p) = |p| for p < 0,
2(n - 1) - p for p >= n (the edge pixel is not repeated: [a b c] padded by 2 is [c b a b c b a]).

Backward. Padding is a linear map, so dx is its transpose applied to dout: for constant padding the border of
dout (where y held `value`, which does not depend on x) is dropped and the cropped parts get zero; for
reflection every pixel of x collects dout from each place it was copied to. Written as matrices, the
reflection is y = S_H x S_Wᵀ with one-hot rows S_n[i] = e_{r_n(i - pad)}, so dx = S_Hᵀ dout S_W.
"""
from typing import Any

import numpy as np

Padding = tuple[int, int, int, int]  # (left, right, top, bottom)


def constant_pad2d(x: np.ndarray, padding: Padding, value: float = 0.0) -> tuple[np.ndarray, Any]:
    """x: (..., H, W), padding (left, right, top, bottom) -> (y: (..., H_out, W_out), cache)."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    # a negative amount removes rows or columns first, then the positive amounts add them
    kept = x[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    widths = [(0, 0)] * (x.ndim - 2) + [(max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))]
    y = np.pad(kept, widths, mode="constant", constant_values=value)
    return y, (x.shape, padding)


def constant_pad2d_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dout: (..., H_out, W_out) -> dx: (..., H, W): the inner part of dout, zeros where forward cropped."""
    x_shape, (left, right, top, bottom) = cache
    h_out, w_out = dout.shape[-2:]
    inner = dout[..., max(top, 0):h_out - max(bottom, 0), max(left, 0):w_out - max(right, 0)]
    widths = [(0, 0)] * (dout.ndim - 2) + [(max(-top, 0), max(-bottom, 0)), (max(-left, 0), max(-right, 0))]
    return np.pad(inner, widths)


def reflect_index(n: int, before: int, after: int) -> np.ndarray:
    """The index into an axis of length n of each of the n + before + after padded positions (the mirror r_n)."""
    p = np.arange(n + before + after) - before
    p = np.abs(p)  # p < 0: mirrored about 0
    return np.where(p >= n, 2 * (n - 1) - p, p)  # p >= n: mirrored about n - 1


def reflection_pad2d(x: np.ndarray, padding: Padding) -> tuple[np.ndarray, Any]:
    """x: (..., H, W), padding (left, right, top, bottom), each < its axis' size -> (y, cache)."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    rows, cols = reflect_index(h, top, bottom), reflect_index(w, left, right)
    y = x[..., rows[:, None], cols]
    return y, (x.shape, rows, cols)


def reflection_pad2d_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dout: (..., H_out, W_out) -> dx = S_Hᵀ dout S_W: each input pixel sums dout over its copies."""
    x_shape, rows, cols = cache
    h, w = x_shape[-2:]
    s_h = np.eye(h, dtype=dout.dtype)[rows]  # (H_out, H): row i is one-hot at rows[i]
    s_w = np.eye(w, dtype=dout.dtype)[cols]  # (W_out, W)
    return s_h.T @ dout @ s_w
