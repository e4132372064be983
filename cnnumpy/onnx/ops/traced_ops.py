"""The few operations ONNX graphs use that cnnumpy.nn has no layer or traced operation for, as traced
operations (cnnumpy.nn.traced.Op): forward beside backward, each a line or two of NumPy.

On plain arrays (constants, shapes) `apply` computes the plain result, so the same code folds constants.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...functional.tensor import unbroadcast
from ...nn.traced import Op


class MatMul(Op):
    """y = a @ b (np.matmul's broadcasting); da = dout @ bᵀ, db = aᵀ @ dout, each summed back to its shape."""
    name = "matmul"

    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        if np.ndim(a) < 2 or np.ndim(b) < 2:
            raise ValueError(f"matmul: expected operands of at least 2 dimensions, got shapes {np.shape(a)} and "
                             f"{np.shape(b)}")
        return np.matmul(a, b), (a, b)

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> tuple:
        a, b = saved
        da = unbroadcast(dout @ np.swapaxes(b, -1, -2), a.shape) if needs[0] else None
        db = unbroadcast(np.swapaxes(a, -1, -2) @ dout, b.shape) if needs[1] else None
        return da, db

    def shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
        batch = np.broadcast_shapes(a[:-2], b[:-2])
        if a[-1] != b[-2]:
            raise ValueError(f"matmul: shapes {a} and {b} do not chain ({a[-1]} != {b[-2]})")
        return tuple(batch) + (a[-2], b[-1])


class Pad(Op):
    """y = x padded by widths [(begin, end), ...] per axis (negative: cropped), mode "constant" (with value,
    -inf for max pooling's padding), "reflect" or "edge". Backward: the gradient of each output element goes
    back to the input element it copies (summed where reflect or edge copies one element several times)."""
    name = "pad"

    def __init__(self, widths: Sequence[tuple[int, int]], mode: str = "constant", value: float = 0.0) -> None:
        self.widths, self.mode, self.value = [(int(b), int(e)) for b, e in widths], mode, value

    def _sources(self, n: int, b: int, e: int) -> np.ndarray:
        """For one axis of length n: the input index each output index copies (-1 for a constant)."""
        i = np.arange(-b, n + e)
        if self.mode == "constant":
            return np.where((i >= 0) & (i < n), i, -1)
        if self.mode == "edge":
            return np.clip(i, 0, n - 1)
        period = 2 * (n - 1)  # reflect without repeating the edge: ... 2 1 | 0 1 2 ... n-1 | n-2 ...
        j = np.abs(i) % period if period else np.zeros_like(i)
        return np.where(j < n, j, period - j)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        y = x
        for axis, (b, e) in enumerate(self.widths):
            if b == 0 and e == 0:
                continue
            src = self._sources(y.shape[axis], b, e)
            taken = np.take(y, np.maximum(src, 0), axis=axis)
            if self.mode == "constant" and (src < 0).any():
                shape = [1] * y.ndim
                shape[axis] = len(src)
                taken = np.where((src < 0).reshape(shape), np.asarray(self.value, y.dtype), taken)
            y = taken
        return y.astype(x.dtype, copy=False), x.shape

    def backward(self, dout: np.ndarray, shape: Any, needs: Sequence[bool]) -> tuple:
        g = dout
        sizes = list(shape)
        for axis in reversed(range(len(self.widths))):
            b, e = self.widths[axis]
            if b == 0 and e == 0:
                continue
            src = self._sources(sizes[axis], b, e)
            keep = src >= 0
            moved = np.moveaxis(g, axis, 0)[keep]
            out = np.zeros((sizes[axis],) + moved.shape[1:], g.dtype)
            np.add.at(out, src[keep], moved)
            g = np.moveaxis(out, 0, axis)
        return (g,)

    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(n + b + e for n, (b, e) in zip(x, self.widths))


class Expand(Op):
    """y = x broadcast to np.broadcast_shapes(x.shape, shape) (ONNX Expand); dx sums over the copies."""
    name = "expand"

    def __init__(self, shape: Sequence[int]) -> None:
        self.target = tuple(int(n) for n in shape)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.broadcast_to(x, self.shape(np.shape(x))).copy(), np.shape(x)

    def backward(self, dout: np.ndarray, shape: Any, needs: Sequence[bool]) -> tuple:
        return (unbroadcast(dout, shape),)

    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(tuple(x), self.target))


class Extreme(Op):
    """y = max(a, b) or min(a, b), elementwise with broadcasting; the gradient goes to the operand that won,
    half to each on a tie (torch.maximum's rule)."""

    def __init__(self, kind: str) -> None:
        self.name, self.fn = kind, np.maximum if kind == "max" else np.minimum

    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        y = self.fn(a, b)
        return y, (np.asarray(a), np.asarray(b), y)

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> tuple:
        a, b, y = saved
        wa = (a == y).astype(dout.dtype)
        wb = (b == y).astype(dout.dtype)
        total = wa + wb
        da = unbroadcast(dout * wa / total, a.shape) if needs[0] else None
        db = unbroadcast(dout * wb / total, b.shape) if needs[1] else None
        return da, db

    def shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(a, b))


class Clip(Op):
    """y = min(max(x, low), high); dx = dout where low <= x <= high (torch.clamp's rule at the bounds)."""
    name = "clip"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.clip(x, self.low, self.high).astype(np.asarray(x).dtype, copy=False), np.asarray(x)

    def backward(self, dout: np.ndarray, x: Any, needs: Sequence[bool]) -> tuple:
        return (dout * ((x >= self.low) & (x <= self.high)),)

    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(x)


class Take(Op):
    """y = np.take(x, indices, axis) with constant indices (ONNX Gather); dx scatters dout back, adding where
    an index repeats."""
    name = "gather"

    def __init__(self, indices: np.ndarray, axis: int) -> None:
        self.indices, self.axis = np.asarray(indices, np.int64), axis

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        idx = np.where(self.indices < 0, self.indices + np.shape(x)[self.axis], self.indices)
        return np.take(x, idx, axis=self.axis), (np.shape(x), idx)

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> tuple:
        shape, idx = saved
        dx = np.zeros(shape, dout.dtype)
        moved = np.moveaxis(dx, self.axis, 0)
        d = np.moveaxis(dout, list(range(self.axis, self.axis + idx.ndim)), list(range(idx.ndim)))
        np.add.at(moved, idx, d)
        return (dx,)

    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(x[:self.axis]) + self.indices.shape + tuple(x[self.axis + 1:])


class Where(Op):
    """y = where(cond, a, b) with a constant condition; da = dout where cond, db = dout elsewhere."""
    name = "where"

    def __init__(self, cond: np.ndarray) -> None:
        self.cond = np.asarray(cond, bool)

    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.where(self.cond, a, b), (np.shape(a), np.shape(b))

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> tuple:
        sa, sb = saved
        da = unbroadcast(np.where(self.cond, dout, 0), sa) if needs[0] else None
        db = unbroadcast(np.where(self.cond, 0, dout), sb) if needs[1] else None
        return da, db

    def shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(self.cond.shape, a, b))


class Unary(Op):
    """y = f(x) elementwise for the few functions ONNX graphs spell out (Sqrt, Exp, Neg, Erf, ...):
    fn(x) -> y and grad(x, y) -> dy/dx."""

    def __init__(self, name: str, fn: Any, grad: Any) -> None:
        self.name, self.fn, self.grad = name, fn, grad

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        y = np.asarray(self.fn(x)).astype(x.dtype, copy=False)
        return y, (x, y)

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> tuple:
        x, y = saved
        return ((dout * self.grad(x, y)).astype(dout.dtype, copy=False),)

    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(x)
