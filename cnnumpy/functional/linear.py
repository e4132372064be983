"""The affine map of a fully connected layer, y = x W^T + b, and its gradients.

    x: (..., in), w: (out, in), b: (out,) or None -> y: (..., out)

Any number of leading dimensions (none included: x of shape (in,)), as torch.nn.functional.linear.
Every leading index (batch, time, pixels, ...) is one more row: one more sample of the same map.
Big products are split over cnnumpy's threads (cnnumpy.functional.parallel), which hold NumPy's BLAS
to one thread: forward by output features, backward by input features; small ones run as one product in
the calling thread.
"""
import math

import numpy as np

from .tuned import threads as parallel

SPLIT_WORK = 1 << 24   # multiply-adds below which one thread does the whole product (a hand-off costs ~0.1 ms)
TRANSPOSED_ROWS = 64   # up to this many rows, and fewer than the output features, y.T = w @ x.T (see linear)


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """y[..., o] = sum_i x[..., i] w[o, i] + b[o]. Returns (y, cache)."""
    out, in_ = w.shape
    # the count is explicit because reshape(-1, 0) is ambiguous when in or out is 0
    rows = math.prod(x.shape[:-1])
    x_rows = x.reshape(rows, in_)
    y = np.empty((rows, out), np.result_type(x, w))
    # With few rows, fewer than the output features, OpenBLAS multiplied x @ w.T up to 3x slower than w @ x.T
    # (one thread, 32 rows: 784 -> 120 127 vs 100 us, 4096 -> 256 1.32 vs 0.82 ms; 64 rows: 1.1-1.26x; 100-128
    # rows: 0.93-1.1x); the bias pass transposes the product back.
    yt = np.empty((out, rows), y.dtype) if rows <= min(out - 1, TRANSPOSED_ROWS) else None

    def chunk(s, lo, hi):  # output features lo..hi-1: a split by rows multiplied 30 % slower
        if yt is None:
            np.matmul(x_rows, w[lo:hi].T, out=y[:, lo:hi])
            if b is not None:
                y[:, lo:hi] += b[lo:hi]
        else:
            t = np.matmul(w[lo:hi], x_rows.T, out=yt[lo:hi]).T
            if b is not None:
                np.add(t, b[lo:hi], out=y[:, lo:hi])
            else:
                np.copyto(y[:, lo:hi], t)

    if rows:
        parallel.run(chunk, out, parallel.split(out, rows * in_ * out, SPLIT_WORK))
    return y.reshape(x.shape[:-1] + (out,)), (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (..., out) -> dx: (..., in), dw: (out, in), db: (out,) or None.

    With every leading index flattened into rows r, y[r, o] = sum_i x[r, i] w[o, i] + b[o], so
        dx[r, i] = sum_o dout[r, o] w[o, i]     ->  dx = dout @ w
        dw[o, i] = sum_r dout[r, o] x[r, i]     ->  dw = dout_rows.T @ x_rows
        db[o]    = sum_r dout[r, o]
    Both products are split over the input features i (columns of dx, dw, x and w), which needs no sum of
    partial results, where a split over rows would (dw sums over them).
    A gradient not asked for (input_grad, weight_grad or bias_grad False: an input that is data, a frozen
    parameter) is not computed and comes back as None.
    """
    x, w, has_bias = cache
    out, in_ = w.shape
    rows = math.prod(x.shape[:-1])
    x_rows, dout_rows = x.reshape(rows, in_), dout.reshape(rows, out)
    dx = np.empty((rows, in_), np.result_type(dout, w)) if input_grad else None
    dw = np.empty((out, in_), np.result_type(dout, x)) if weight_grad else None

    def chunk(s, lo, hi):
        if input_grad:
            np.matmul(dout_rows, w[:, lo:hi], out=dx[:, lo:hi])
        if weight_grad:
            np.matmul(dout_rows.T, x_rows[:, lo:hi], out=dw[:, lo:hi])

    if in_ and (input_grad or weight_grad):
        parallel.run(chunk, in_, parallel.split(in_, rows * in_ * out, SPLIT_WORK))
    db = dout_rows.sum(axis=0) if has_bias and bias_grad else None
    return (dx.reshape(x.shape) if input_grad else None), dw, db
