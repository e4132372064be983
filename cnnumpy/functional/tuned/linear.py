"""Linear made fast: functional.linear's products split over cnnumpy's threads.

cnnumpy's threads hold NumPy's BLAS to one thread (see threads.py), so big products are split over them
instead: forward by output features, backward by input features; small ones run as one product in the calling
thread, where a hand-off would cost more than it saves. With few rows the forward multiplies w @ x.T, which
OpenBLAS does faster than x @ w.T there. Same signatures, results and dtypes as the readable pair, plus `tuning`
(linear_split_work, linear_transposed_rows); the figures:
docs/performance.md#tuned-relu-linear-and-batchnorm-2026-12-07.
"""
import math

import numpy as np

from . import threads
from .config import DEFAULT, Tuning


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
           tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.linear.linear: y[..., o] = sum_i x[..., i] w[o, i] + b[o]. Returns (y, cache)."""
    out, in_ = w.shape
    # the count is explicit because reshape(-1, 0) is ambiguous when in or out is 0
    rows = math.prod(x.shape[:-1])
    x_rows = x.reshape(rows, in_)
    y = np.empty((rows, out), np.result_type(x, w))
    # up to linear_transposed_rows rows, fewer than the output features: y.T = w @ x.T, and the bias pass
    # transposes the product back
    yt = np.empty((out, rows), y.dtype) if rows <= min(out - 1, tuning.linear_transposed_rows) else None

    def chunk(s, lo, hi):  # output features lo..hi-1: a split by rows multiplied slower
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
        threads.run(chunk, out, threads.split(out, rows * in_ * out, tuning.linear_split_work))
    return y.reshape(x.shape[:-1] + (out,)), (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True, *,
                    tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """functional.linear.linear_backward: dx = dout @ w, dw = dout_rows.T @ x_rows, db = sum of dout's rows.

    Both products are split over the input features i (columns of dx, dw, x and w), which needs no sum of
    partial results, where a split over rows would (dw sums over them).
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
        threads.run(chunk, in_, threads.split(in_, rows * in_ * out, tuning.linear_split_work))
    db = dout_rows.sum(axis=0) if has_bias and bias_grad else None
    return (dx.reshape(x.shape) if input_grad else None), dw, db
