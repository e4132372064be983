"""The affine map of a fully connected layer, y = x W^T + b, and its gradients.

    x: (..., in), w: (out, in), b: (out,) or None -> y: (..., out)

Any number of leading dimensions (none included: x of shape (in,)), as torch.nn.functional.linear.
"""
import math


def linear(x, w, b=None):
    """y[..., o] = sum_i x[..., i] w[o, i] + b[o]. Returns (y, cache)."""
    y = x @ w.T
    if b is not None:
        y += b
    return y, (x, w, b is not None)


def linear_backward(dout, cache):
    """dout: (..., out) -> dx: (..., in), dw: (out, in), db: (out,) or None.

    With every leading index flattened into rows r, y[r, o] = sum_i x[r, i] w[o, i] + b[o], so
        dx[r, i] = sum_o dout[r, o] w[o, i]     ->  dx = dout @ w
        dw[o, i] = sum_r dout[r, o] x[r, i]     ->  dw = dout_rows.T @ x_rows
        db[o]    = sum_r dout[r, o]
    """
    x, w, has_bias = cache
    out, in_ = w.shape
    # every leading index of x (batch, time, pixels, ...) is one more row: one more sample of the same map;
    # the count is explicit because reshape(-1, 0) is ambiguous when in or out is 0
    rows = math.prod(x.shape[:-1])
    x_rows, dout_rows = x.reshape(rows, in_), dout.reshape(rows, out)
    dx = dout @ w
    dw = dout_rows.T @ x_rows
    db = dout_rows.sum(axis=0) if has_bias else None
    return dx, dw, db
