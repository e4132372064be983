"""Pixel shuffle: trade channels for resolution (sub-pixel convolution, Shi et al. 2016), and back.

    pixel_shuffle:   x: (..., C r², H, W) -> y: (..., C, H r, W r)
    y[..., c, h r + i, w r + j] = x[..., c r² + i r + j, h, w]

pixel_unshuffle is its inverse, (..., C, H r, W r) -> (..., C r², H, W). Both only move numbers, so each one's
backward is the other applied to dout (a permutation's transpose is its inverse).
"""
import numpy as np


def pixel_shuffle(x: np.ndarray, r: int) -> tuple[np.ndarray, int]:
    """x: (..., C r², H, W) -> (y: (..., C, H r, W r), cache)."""
    *lead, cr2, h, w = x.shape
    c = cr2 // (r * r)
    k = len(lead)
    blocks = x.reshape(*lead, c, r, r, h, w)  # axes (..., c, i, j, h, w)
    y = blocks.transpose(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (..., c, h, i, w, j)
    return y.reshape(*lead, c, h * r, w * r), r


def pixel_shuffle_backward(dout: np.ndarray, cache: int) -> np.ndarray:
    """dout: (..., C, H r, W r) -> dx: (..., C r², H, W), the inverse permutation."""
    return pixel_unshuffle(dout, cache)[0]


def pixel_unshuffle(x: np.ndarray, r: int) -> tuple[np.ndarray, int]:
    """x: (..., C, H r, W r) -> (y: (..., C r², H, W), cache)."""
    *lead, c, hr, wr = x.shape
    h, w = hr // r, wr // r
    k = len(lead)
    blocks = x.reshape(*lead, c, h, r, w, r)  # axes (..., c, h, i, w, j)
    y = blocks.transpose(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (..., c, i, j, h, w)
    return y.reshape(*lead, c * r * r, h, w), r


def pixel_unshuffle_backward(dout: np.ndarray, cache: int) -> np.ndarray:
    """dout: (..., C r², H, W) -> dx: (..., C, H r, W r)."""
    return pixel_shuffle(dout, cache)[0]
