"""The small operations a free-form forward combines layers with, each forward beside its backward.

A graph (cnnumpy.nn.graph) calls these when a forward adds two branches, gates a map by a vector, concatenates
along channels or slices them. Each backward receives dout, shaped as the forward's output, and returns the
gradient of each operand, shaped as that operand. Two rules do most of the work:

- Broadcasting copies an operand along the axes where it has size 1 (or that it lacks), so its gradient is the
  sum of dout over those axes (`unbroadcast`): an SE gate g of shape (N, C, 1, 1) scaling x of shape
  (N, C, H, W) gets dg = sum over H and W of dout * x.
- Concatenation places the operands side by side, so its backward cuts dout back into the same pieces.
"""
from typing import Any

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of an operand of `shape` that broadcasting stretched to grad.shape: grad summed over the
    leading axes the operand lacks and over the axes where it has size 1."""
    grad = np.asarray(grad)
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def add_backward(dout: np.ndarray, a_shape: tuple, b_shape: tuple, needs: tuple[bool, bool] = (True, True)) -> tuple:
    """y = a + b  ->  da = dout, db = dout (each summed back to its operand's shape).

    needs: which of (da, db) to compute; the other is None (a constant operand needs no gradient)."""
    return (unbroadcast(dout, a_shape) if needs[0] else None,
            unbroadcast(dout, b_shape) if needs[1] else None)


def subtract_backward(dout: np.ndarray, a_shape: tuple, b_shape: tuple, needs: tuple[bool, bool] = (True, True)) -> tuple:
    """y = a - b  ->  da = dout, db = -dout."""
    return (unbroadcast(dout, a_shape) if needs[0] else None,
            unbroadcast(-dout, b_shape) if needs[1] else None)


def multiply_backward(dout: np.ndarray, a: np.ndarray, b: np.ndarray, needs: tuple[bool, bool] = (True, True)) -> tuple:
    """y = a * b (elementwise)  ->  da = dout * b, db = dout * a."""
    return (unbroadcast(dout * b, np.shape(a)) if needs[0] else None,
            unbroadcast(dout * a, np.shape(b)) if needs[1] else None)


def divide_backward(dout: np.ndarray, a: np.ndarray, b: np.ndarray, needs: tuple[bool, bool] = (True, True)) -> tuple:
    """y = a / b  ->  da = dout / b, db = -dout * a / b**2."""
    da = dout / b
    return (unbroadcast(da, np.shape(a)) if needs[0] else None,
            unbroadcast(-da * a / b, np.shape(b)) if needs[1] else None)


def cat_backward(dout: np.ndarray, sizes: list[int], dim: int) -> list[np.ndarray]:
    """y = cat([x_1, ..., x_k], dim), x_i of size sizes[i] along dim  ->  dx_i = the i-th piece of dout."""
    return np.split(dout, np.cumsum(sizes)[:-1], axis=dim)


def index_backward(dout: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """y = x[index] with basic indexing (ints, slices, ..., None): each element of y is one element of x, and
    no element is taken twice, so dx is zero except where y came from, where it is dout."""
    dx = np.zeros(shape, dtype=dout.dtype)
    dx[index] = dout
    return dx


def sum_backward(dout: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
    """y = x.sum(axes)  ->  dx = dout copied along the summed axes (a view, read-only)."""
    if not keepdim:
        dout = np.expand_dims(dout, axes)
    return np.broadcast_to(dout, shape)


def mean_backward(dout: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
    """y = x.mean(axes) = x.sum(axes) / n, n the number of elements averaged  ->  dx = dout / n along them."""
    n = int(np.prod([shape[a] for a in axes]))
    return sum_backward(dout / n, shape, axes, keepdim)
