"""Activation functions as forward/backward pairs: elementwise (relu, leaky_relu, sigmoid, tanh)
and along one axis (softmax, log_softmax).

Every forward takes x of any shape and returns (y, cache) with y of x's shape and dtype; every
backward takes dout of y's shape and returns dx = dL/dx. An elementwise y = f(x) has the diagonal
Jacobian f'(x), so dx = dout * f'(x); softmax couples the entries along `dim`, see its docstring.
"""
import numpy as np


def relu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = max(x, 0). The cache is y itself: y > 0 exactly where x > 0 (for NaN both are false), as torch keeps."""
    # np.maximum, not x * (x > 0): NaN stays NaN, as in torch
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout * [y != 0], torch's rule: 0 where x <= 0 (the slope at x == 0 exactly is 0), dout where
    x > 0, and dout where x is NaN. y = max(x, 0) is 0 exactly where x <= 0 and NaN where x is NaN (NaN != 0),
    so one comparison gives the mask.

    A selection, not a product: where the mask is 0, dx is 0 even if dout is infinite (inf * 0 would be NaN;
    torch gives 0).
    """
    y = cache
    return np.where(y != 0, dout, 0)


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
