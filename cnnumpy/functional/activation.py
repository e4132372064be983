"""Activation functions as forward/backward pairs: elementwise (relu, leaky_relu, sigmoid, tanh)
and along one axis (softmax, log_softmax).

Every forward takes x of any shape and returns (y, cache) with y of x's shape and dtype; every
backward takes dout of y's shape and returns dx = dL/dx. An elementwise y = f(x) has the diagonal
Jacobian f'(x), so dx = dout * f'(x); softmax couples the entries along `dim`, see its docstring.
"""
import functools
import importlib

import numpy as np

from .tuned import compiled as jit, threads as parallel

SPLIT_BYTES = 1 << 20   # relu on arrays of at least this size is split over cnnumpy's threads
COMPILED = True         # relu_backward runs numba's loop where numba is installed (False: NumPy's passes)


def relu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = max(x, 0). The cache is y itself: y > 0 exactly where x > 0 (for NaN both are false), as torch keeps."""
    y = np.empty(x.shape, np.result_type(x, 0))
    xf, yf = x.reshape(-1), y.reshape(-1)

    def chunk(s, lo, hi):
        # np.maximum, not x * (x > 0): NaN stays NaN, as in torch
        np.maximum(xf[lo:hi], 0, out=yf[lo:hi])

    parallel.run(chunk, xf.size, parallel.split(xf.size, x.nbytes, SPLIT_BYTES))
    return y, y


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout * [y != 0], torch's rule: 0 where x <= 0 (the slope at x == 0 exactly is 0), dout where
    x > 0, and dout where x is NaN. y = max(x, 0) is 0 exactly where x <= 0 and NaN where x is NaN (NaN != 0),
    so one comparison gives the mask (not y <= 0 took two passes).

    With numba installed (and float32 or float64 arrays) one compiled loop selects dout or 0 in a single pass
    (activation_numba_kernels): on the VGG net's 8 MB maps 0.37-0.51 ms against 1.24-1.27 at 2 threads.
    NumPy's way is a mask, a product (~5x faster than np.where) and a check: only where the product made NaN
    from an infinite dout times 0 (torch gives 0 there) is np.where needed, and finding out costs a pass.
    """
    y = cache
    dx = np.empty(dout.shape, dout.dtype.newbyteorder("="))  # native order, as every ufunc's output (and y)
    df, yf, dxf = dout.reshape(-1), y.reshape(-1), dx.reshape(-1)
    loops = _loops() if COMPILED and jit.has_numba() and all(jit.compiled_dtype(a.dtype) for a in (dout, y)) else None

    def chunk(s, lo, hi):
        if loops is not None:
            loops.relu_backward(df[lo:hi], yf[lo:hi], dxf[lo:hi])
            return
        mask = np.not_equal(yf[lo:hi], 0)
        with np.errstate(invalid="ignore"):  # inf * 0: repaired just below
            out = np.multiply(df[lo:hi], mask, out=dxf[lo:hi], dtype=dx.dtype)
        if not np.isfinite(out).all():
            np.copyto(out, np.where(mask, df[lo:hi], 0))

    parallel.run(chunk, df.size, parallel.split(df.size, dout.nbytes, SPLIT_BYTES))
    return dx


@functools.cache
def _loops():
    """activation_numba_kernels, imported (and numba with it) at the first relu_backward that uses it."""
    return importlib.import_module(f"{__package__}.tuned.loops.activation")


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, tuple]:
    """y = x if x > 0 else negative_slope * x."""
    mask = x > 0
    return np.where(mask, x, x * negative_slope), (mask, negative_slope)


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dx = dout if x > 0 else negative_slope * dout (the slope at x == 0 is negative_slope, as in torch)."""
    mask, negative_slope = cache
    return np.where(mask, dout, dout * negative_slope)


def sigmoid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = 1 / (1 + exp(-x)), computed without overflow for any x.

    exp(-x) overflows for x << 0, so with z = exp(-|x|) <= 1:
        x >= 0:  y = 1 / (1 + z)
        x <  0:  y = z / (1 + z)      (the same value: multiply 1 / (1 + exp(-x)) by exp(x) / exp(x))
    """
    z = np.exp(-np.abs(x))
    y = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return y, y


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dy/dx = exp(-x) / (1 + exp(-x))^2 = y * (1 - y), so dx = dout * (1 - y) * y."""
    y = cache
    return dout * (1 - y) * y


def tanh(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = tanh(x) (np.tanh saturates to +-1 without overflow)."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dy/dx = 1 - tanh(x)^2 = 1 - y^2, so dx = dout * (1 - y * y)."""
    y = cache
    return dout * (1 - y * y)


def _shift(x, dim):
    """x - max(x, dim): softmax is unchanged by a shift, and after it every exp is <= 1, so logits
    of 1e4 do not overflow. The axis must not be empty (it has no max). A shift past the dtype's range
    (float32 logits of -3e38 and 3e38) gives -inf, whose exp 0 and log -inf are the right limits."""
    with np.errstate(over="ignore"):
        return x - x.max(axis=dim, keepdims=True)


def softmax(x: np.ndarray, dim: int) -> tuple[np.ndarray, tuple]:
    """y_i = exp(x_i) / sum_j exp(x_j) along axis `dim` (any axis, negative counts from the end)."""
    e = np.exp(_shift(x, dim))
    y = e / e.sum(axis=dim, keepdims=True)
    return y, (y, dim)


def softmax_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy_i/dx_k = y_i (delta_ik - y_k), so

        dx_k = sum_i dout_i y_i (delta_ik - y_k) = y_k (dout_k - sum_i dout_i y_i)

    i.e. dx = y * (dout - sum(dout * y, dim)).
    """
    y, dim = cache
    return y * (dout - (dout * y).sum(axis=dim, keepdims=True))


def log_softmax(x: np.ndarray, dim: int) -> tuple[np.ndarray, tuple]:
    """y_i = x_i - log sum_j exp(x_j) along `dim`, as (x_i - m) - log sum_j exp(x_j - m) with m = max_j x_j."""
    s = _shift(x, dim)
    y = s - np.log(np.exp(s).sum(axis=dim, keepdims=True))
    return y, (y, dim)


def log_softmax_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy_i/dx_k = delta_ik - softmax_k, so dx_k = dout_k - softmax_k * sum_i dout_i,

    i.e. dx = dout - exp(y) * sum(dout, dim), with softmax = exp(y) recovered from the output.
    """
    y, dim = cache
    return dout - np.exp(y) * dout.sum(axis=dim, keepdims=True)
