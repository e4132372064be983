"""The affine map of a fully connected layer, y = x W^T + b, and its gradients.

    x: (..., in), w: (out, in), b: (out,) or None -> y: (..., out)

Any number of leading dimensions (none included: x of shape (in,)), as torch.nn.functional.linear.
Every leading index (batch, time, pixels, ...) is one more row: one more sample of the same map.
"""
import math

import numpy as np


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """y[..., o] = sum_i x[..., i] w[o, i] + b[o]. Returns (y, cache).

    y: (..., out) of dtype result_type(x, w); the cache is (x, w, whether there is a bias).
    """
    out, in_ = w.shape
    # the count is explicit because reshape(-1, 0) is ambiguous when in or out is 0
    rows = math.prod(x.shape[:-1])
    y = x.reshape(rows, in_) @ w.T
    if b is not None:
        y += b
    return y.reshape(x.shape[:-1] + (out,)), (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (..., out) -> dx: (..., in), dw: (out, in), db: (out,) or None.

    With every leading index flattened into rows r, y[r, o] = sum_i x[r, i] w[o, i] + b[o], so
        dx[r, i] = sum_o dout[r, o] w[o, i]     ->  dx = dout @ w
        dw[o, i] = sum_r dout[r, o] x[r, i]     ->  dw = dout_rows.T @ x_rows
        db[o]    = sum_r dout[r, o]
    A gradient not asked for (input_grad, weight_grad or bias_grad False: an input that is data, a frozen
    parameter) is not computed and comes back as None.
    """
    x, w, has_bias = cache
    out, in_ = w.shape
    rows = math.prod(x.shape[:-1])
    x_rows, dout_rows = x.reshape(rows, in_), dout.reshape(rows, out)
    dx = (dout_rows @ w).reshape(x.shape) if input_grad else None
    dw = dout_rows.T @ x_rows if weight_grad else None
    db = dout_rows.sum(axis=0) if has_bias and bias_grad else None
    return dx, dw, db
