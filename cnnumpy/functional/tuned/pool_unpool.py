"""Max unpooling, vectorized (method "im2col"): functional/pool.py's loops as one scatter and one gather.

Each (N, C) plane is flattened, so that torch's flat indices r*W_out + s address it directly, and the planes are
laid end to end: plane p's index k is entry p*H_out*W_out + k of the whole flat output (one 1-D fancy index,
several times faster than np.put_along_axis's broadcast index arrays):

    forward:   y.flat[flat] = x           flat = indices + p*H_out*W_out, kept for backward
    backward:  dx = dout.flat[flat]       the transpose of the scatter, a gather

Shapes as in functional/pool.py.
"""
import numpy as np

from ..shapes import Pair


def max_unpool2d(x: np.ndarray, indices: np.ndarray, output_hw: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W), indices: int (N, C, H, W) in [0, H_out*W_out) -> y: (N, C, H_out, W_out)."""
    n, c = x.shape[:2]
    plane = output_hw[0] * output_hw[1]
    flat = (indices + (np.arange(n * c) * plane).reshape(n, c, 1, 1)).reshape(-1)
    y = np.zeros((n, c) + tuple(output_hw), dtype=x.dtype)
    y.reshape(-1)[flat] = x.reshape(-1)
    return y, (flat, indices.shape)


def max_unpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W), dout gathered at the indices."""
    flat, x_shape = cache
    return np.take(dout.reshape(-1), flat).reshape(x_shape)
