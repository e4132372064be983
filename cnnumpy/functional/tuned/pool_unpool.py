"""Max unpooling, vectorized (method "im2col"): functional/pool.py's loops as one scatter and one gather.

Each (N, C) plane is flattened, so that torch's flat indices r*W_out + s address it directly:

    forward:   y.flat[indices] = x        (np.put_along_axis on the (N, C, H_out*W_out) view)
    backward:  dx = dout.flat[indices]    (np.take_along_axis), the transpose of the scatter

Shapes as in functional/pool.py.
"""
import numpy as np

from ..shapes import Pair


def max_unpool2d(x: np.ndarray, indices: np.ndarray, output_hw: Pair) -> tuple[np.ndarray, tuple]:
    """x: (N, C, H, W), indices: int (N, C, H, W) in [0, H_out*W_out) -> y: (N, C, H_out, W_out)."""
    n, c = x.shape[:2]
    y = np.zeros((n, c, output_hw[0] * output_hw[1]), dtype=x.dtype)
    np.put_along_axis(y, indices.reshape(n, c, -1), x.reshape(n, c, -1), axis=2)
    return y.reshape((n, c) + tuple(output_hw)), (indices, output_hw)


def max_unpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W), dout gathered at the indices."""
    indices, _ = cache
    n, c = dout.shape[:2]
    flat = np.take_along_axis(dout.reshape(n, c, -1), indices.reshape(n, c, -1), axis=2)
    return flat.reshape(indices.shape)
