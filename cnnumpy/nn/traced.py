"""Traced tensors: what a graph module's forward receives, so that its backward can be derived.

While a graph module (see graph.py) runs its forward, each array in it is wrapped in a `Traced`: the value (or,
when only shapes are asked for, just a shape) and the tape it belongs to. Every layer called on it and every
operation below is written on the tape as a node, and the result is a new Traced. The backward pass reads the
tape from the end.

The operations: `+ - * /` with broadcasting (with a Traced, a Parameter, an array or a number on the other side),
unary `-` (and torch's spellings add, sub, mul, div), basic indexing `x[:, a:b]`, `split`, `chunk`, `reshape`/`view`,
`flatten`, `permute`, `transpose`, `sum`, `mean`, and
nn.cat. A raw NumPy function applied to a Traced (np.exp(x), np.concatenate([x, y]), np.asarray(x)) raises a
TypeError: its gradient would be unknown, and a silently wrong gradient is worse than an error.
"""
import functools
import math
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..functional import tensor as F
from .parameter import Parameter

RAW_NUMPY = ("cnnumpy traces this forward to derive its backward, and cannot differentiate a raw NumPy call; use "
             "a layer (e.g. nn.ReLU()), an operator (+ - * /, x[...], .reshape, .flatten, .sum, .mean), nn.cat or "
             "nn.flatten, or write the module's backward(self, dout) yourself")


class Traced:
    """An array flowing through a traced forward: shape, dtype, and the value unless only shapes are traced.

    shape: tuple of ints; dtype: numpy dtype; size(d), dim(), ndim, numel() as torch's.
    """

    __slots__ = ("_tape", "_value", "shape", "dtype")
    __array_priority__ = 1000  # ndarray + Traced goes to Traced.__radd__

    def __init__(self, tape: Any, value: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> None:
        # A real trace's tape holds its tensors (and their values) through its nodes; a tensor holding its tape
        # back would make a cycle, freed only by the garbage collector, and a training loop would pile up the
        # activations of many steps before it runs. So a tensor refers to a real tape weakly.
        self._tape = tape if tape.symbolic else weakref.ref(tape)
        self._value = value
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        tape.created(self)

    @property
    def tape(self) -> Any:
        if not isinstance(self._tape, weakref.ref):
            return self._tape
        tape = self._tape()
        if tape is None:
            raise ValueError("a traced tensor kept after its forward call ended cannot be used: compute it inside "
                             "forward")
        return tape

    @tape.setter
    def tape(self, tape: Any) -> None:
        self._tape = tape if tape.symbolic else weakref.ref(tape)

    @property
    def key(self) -> int:
        """This tensor's name on the tape (the tape holds every tensor of a trace, so no two alive share it)."""
        return id(self)

    # --- torch's shape queries --------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self.shape if dim is None else self.shape[_axis(dim, self.ndim, "dim")]

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        kind = "" if self._value is not None else ", shapes only"
        return f"Traced(shape={self.shape}, dtype={self.dtype}{kind})"

    # --- arithmetic --------------------------------------------------------------------
    def __add__(self, other: Any) -> "Traced": return apply(Add(), self, other)
    def __radd__(self, other: Any) -> "Traced": return apply(Add(), other, self)
    def __sub__(self, other: Any) -> "Traced": return apply(Subtract(), self, other)
    def __rsub__(self, other: Any) -> "Traced": return apply(Subtract(), other, self)
    def __mul__(self, other: Any) -> "Traced": return apply(Multiply(), self, other)
    def __rmul__(self, other: Any) -> "Traced": return apply(Multiply(), other, self)
    def __truediv__(self, other: Any) -> "Traced": return apply(Divide(), self, other)
    def __rtruediv__(self, other: Any) -> "Traced": return apply(Divide(), other, self)
    def __neg__(self) -> "Traced": return apply(Multiply(), self, -1.0)
    def __pos__(self) -> "Traced": return self
    add, sub, mul, div = __add__, __sub__, __mul__, __truediv__  # torch's x.add(y), ...

    def split(self, split_size: int | Sequence[int], dim: int = 0) -> tuple["Traced", ...]:
        """Pieces along dim, as torch.split: of split_size each (the last may be smaller), or of the given sizes."""
        d = _axis(dim, self.ndim, "dim")
        n = self.shape[d]
        if isinstance(split_size, (list, tuple)):
            sizes = [int(k) for k in split_size]
            if sum(sizes) != n or min(sizes, default=0) < 0:
                raise ValueError(f"split_size: expected sizes >= 0 adding up to {n} (dim {dim}), got {split_size}")
        elif isinstance(split_size, (int, np.integer)) and not isinstance(split_size, bool) and split_size > 0:
            sizes = [min(split_size, n - i) for i in range(0, n, split_size)]
        else:
            raise ValueError(f"split_size: expected an int > 0 or a list of sizes, got {split_size!r}")
        starts = np.cumsum([0] + sizes[:-1])
        return tuple(self[(slice(None),) * d + (slice(int(a), int(a) + k),)] for a, k in zip(starts, sizes))

    def chunk(self, chunks: int, dim: int = 0) -> tuple["Traced", ...]:
        """chunks pieces along dim (as torch.chunk: each of ceil(size / chunks), the last smaller)."""
        if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
            raise ValueError(f"chunks: expected an int >= 1, got {chunks!r}")
        return self.split(-(-self.shape[_axis(dim, self.ndim, "dim")] // chunks) or 1, dim)

    # --- reshaping and reducing ------------------------------------------------------
    def __getitem__(self, index: Any) -> "Traced":
        return apply(Index(index), self)

    def reshape(self, *shape: int | tuple[int, ...]) -> "Traced":
        """As torch's x.reshape(2, -1) or x.reshape((2, -1)): one -1 at most, the number of elements kept."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return apply(Reshape(_new_shape(self.shape, shape)), self)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Traced":
        """The axes start_dim..end_dim merged into one, as torch.flatten."""
        s, e = _axis(start_dim, self.ndim, "start_dim"), _axis(end_dim, self.ndim, "end_dim")
        if s > e:
            raise ValueError(f"flatten: expected start_dim <= end_dim, got start_dim={start_dim}, end_dim={end_dim} "
                             f"on a tensor of {self.ndim} dims")
        return apply(Flatten(s, e), self)

    def permute(self, *dims: int | tuple[int, ...]) -> "Traced":
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        axes = tuple(_axis(d, self.ndim, "dims") for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute: expected a reordering of the {self.ndim} dims, got {dims}")
        return apply(Permute(axes), self)

    def transpose(self, dim0: int, dim1: int) -> "Traced":
        axes = list(range(self.ndim))
        a, b = _axis(dim0, self.ndim, "dim0"), _axis(dim1, self.ndim, "dim1")
        axes[a], axes[b] = axes[b], axes[a]
        return apply(Permute(tuple(axes)), self)

    def contiguous(self) -> "Traced":
        return self

    def sum(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> "Traced":
        return apply(Reduce("sum", _axes(dim, self.ndim), keepdim), self)

    def mean(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> "Traced":
        return apply(Reduce("mean", _axes(dim, self.ndim), keepdim), self)

    # --- what must not happen: NumPy reaching into the value -------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(f"np.asarray (or another conversion to an array) on a traced tensor: {RAW_NUMPY}")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        ours = {np.add: Add, np.subtract: Subtract, np.multiply: Multiply, np.true_divide: Divide}
        if method == "__call__" and ufunc in ours and len(inputs) == 2 and not kwargs:
            return apply(ours[ufunc](), *inputs)  # an array on the left of + - * /
        raise TypeError(f"np.{ufunc.__name__} on a traced tensor: {RAW_NUMPY}")

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.shape, np.ndim, np.size) and len(args) == 1 and not kwargs:
            return {np.shape: self.shape, np.ndim: self.ndim, np.size: self.numel()}[func]
        raise TypeError(f"np.{func.__name__} on a traced tensor: {RAW_NUMPY}")

    def _compare(self, other):
        raise TypeError("comparing a traced tensor (x > 0, x < y, ...): the result would not be differentiable, and "
                        "a forward whose path depends on its values cannot be traced; use a layer (nn.ReLU, "
                        "nn.Hardtanh) or branch on shapes (x.shape) or on self.training")

    __lt__ = __le__ = __gt__ = __ge__ = _compare

    def __bool__(self):
        raise TypeError("the truth value of a traced tensor: a forward whose path depends on the values of its "
                        "tensors cannot be traced; branch on shapes (x.shape) or on self.training instead")

    def __float__(self):
        raise TypeError(f"float() of a traced tensor: {RAW_NUMPY}")

    __int__ = __index__ = __float__

    def __iter__(self):
        raise TypeError("iterating over a traced tensor: slice it (x[:, i]) or use nn.cat instead")


def _axis(d: int, ndim: int, name: str) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not -max(ndim, 1) <= d < max(ndim, 1):
        raise ValueError(f"{name}: expected an int in [-{ndim}, {ndim}), got {d!r}")
    return int(d) % max(ndim, 1)


def _axes(dim, ndim):
    dims = tuple(range(ndim)) if dim is None else dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(sorted({_axis(d, ndim, "dim") for d in dims}))
    if len(axes) != len(dims):
        raise ValueError(f"dim: expected distinct dims, got {dim}")
    return axes


def _new_shape(shape, new):
    """torch's reshape rule: one -1 at most, inferred from the number of elements."""
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= -1 for n in new) \
            or list(new).count(-1) > 1:
        raise ValueError(f"reshape: expected ints >= 0 with at most one -1, got {tuple(new)}")
    total, known = math.prod(shape), math.prod(n for n in new if n != -1)
    if -1 in new:
        if known == 0 or total % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {shape} ({total} elements) to {tuple(new)}")
        new = tuple(total // known if n == -1 else n for n in new)
    if math.prod(new) != total:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {shape} ({total} elements) to {tuple(new)}")
    return tuple(int(n) for n in new)


# --- the operations: forward (value, saved), backward, and the output's shape --------------------------------

class Op:
    """One operation of a graph. forward(*values) -> (y, saved); backward(dout, saved, needs) -> the gradient
    of each operand (None where needs, one bool per operand, is False); shape(*shapes) -> y's shape, for
    tracing shapes only."""
    name = "op"

    def __repr__(self) -> str:
        return self.name


class Add(Op):
    name = "add"
    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]: return _checked(self, a, b) + b, (np.shape(a), np.shape(b))
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return F.add_backward(dout, *saved, needs)
    def shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]: return _broadcast(self.name, a, b)


class Subtract(Op):
    name = "sub"
    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]: return _checked(self, a, b) - b, (np.shape(a), np.shape(b))
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return F.subtract_backward(dout, *saved, needs)
    def shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]: return _broadcast(self.name, a, b)


class Multiply(Op):
    name = "mul"
    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]: return _checked(self, a, b) * b, (a, b)
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return F.multiply_backward(dout, *saved, needs)
    def shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]: return _broadcast(self.name, a, b)


class Divide(Op):
    name = "div"
    def forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]: return _checked(self, a, b) / b, (a, b)
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return F.divide_backward(dout, *saved, needs)
    def shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]: return _broadcast(self.name, a, b)


class Cat(Op):
    name = "cat"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def forward(self, *xs: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.concatenate(xs, axis=self.dim), [x.shape[self.dim] for x in xs]

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]:
        return F.cat_backward(dout, saved, self.dim)

    def shape(self, *shapes: tuple[int, ...]) -> tuple[int, ...]:
        first = shapes[0]
        for i, s in enumerate(shapes):
            if len(s) != len(first) or any(a != b for j, (a, b) in enumerate(zip(s, first)) if j != self.dim):
                raise ValueError(f"cat: expected tensors of the same shape except in dim {self.dim}, got shape "
                                 f"{first} (tensor 0) and {s} (tensor {i})")
        return first[:self.dim] + (sum(s[self.dim] for s in shapes),) + first[self.dim + 1:]


class Index(Op):
    name = "getitem"

    def __init__(self, index: Any) -> None:
        items = index if isinstance(index, tuple) else (index,)
        for item in items:
            if not (item is None or item is Ellipsis or isinstance(item, slice)
                    or isinstance(item, (int, np.integer)) and not isinstance(item, bool)):
                raise TypeError(f"x[...]: a traced tensor takes ints, slices, ... and None (basic indexing), got "
                                f"{type(item).__name__}; gather with an array index is not differentiable here")
        self.index = index

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]: return x[self.index], x.shape
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return (F.index_backward(dout, saved, self.index),)
    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]: return np.broadcast_to(np.zeros((), np.int8), x)[self.index].shape  # no memory: 0 strides


class Reshape(Op):
    name = "reshape"

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.target = shape

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]: return x.reshape(self.target), x.shape
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return (dout.reshape(saved),)
    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]: return self.target


class Flatten(Op):
    """Reshape's rule for flatten, kept as (start, end) so that a replayed graph flattens any batch size."""
    name = "flatten"

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]: return x[:self.start] + (math.prod(x[self.start:self.end + 1]),) + x[self.end + 1:]
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]: return x.reshape(self.shape(x.shape)), x.shape
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return (dout.reshape(saved),)


class Permute(Op):
    name = "permute"

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]: return x.transpose(self.axes), None
    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]: return (dout.transpose(np.argsort(self.axes)),)
    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]: return tuple(x[a] for a in self.axes)


class Reduce(Op):
    def __init__(self, kind: str, axes: tuple[int, ...], keepdim: bool) -> None:
        self.name, self.axes, self.keepdim = kind, axes, keepdim

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        y = (x.sum if self.name == "sum" else x.mean)(axis=self.axes, keepdims=self.keepdim)
        return np.asarray(y, dtype=x.dtype), x.shape

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> Sequence[np.ndarray | None]:
        grad = F.sum_backward if self.name == "sum" else F.mean_backward
        return (grad(dout, saved, self.axes, self.keepdim),)

    def shape(self, x: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(1 if i in self.axes else n for i, n in enumerate(x) if self.keepdim or i not in self.axes)


def _checked(op, a, b):
    """a, once a and b are known to broadcast (NumPy's own message names neither the operation nor the rule)."""
    _broadcast(op.name, np.shape(a), np.shape(b))
    return a


def _broadcast(name, a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise ValueError(f"{name}: shapes {a} and {b} do not broadcast (each axis must be equal or 1)") from None


# --- applying an operation to traced tensors ------------------------------------------------------------

def apply(op: Op, *operands: Any) -> "Traced | np.ndarray":
    """op on operands (Traced, Parameter, arrays, numbers): the result as a Traced, and a node on the tape.

    Without a Traced among the operands (a forward called on plain arrays outside a trace), the plain result.
    """
    traced = [x for x in operands if isinstance(x, Traced)]
    if not traced:
        return op.forward(*[x.data if isinstance(x, Parameter) else x for x in operands])[0]
    tape = traced[0].tape.joined(op.name, traced)
    operands = tuple(x if isinstance(x, (Traced, Parameter)) else _constant(op.name, x) for x in operands)
    if tape.symbolic:
        dtype = np.result_type(*[x.dtype if isinstance(x, (Traced, Parameter, np.ndarray)) else x for x in operands])
        y = Traced(tape, None, op.shape(*[np.shape(x) if not isinstance(x, Traced) else x.shape
                                          for x in operands]), dtype)
        saved = None
    else:
        value, saved = op.forward(*[x._value if isinstance(x, Traced) else x.data if isinstance(x, Parameter)
                                    else x for x in operands])
        y = Traced(tape, value, value.shape, value.dtype)
    tape.record(op, operands, (y,), saved)
    tape.note_call(functools.partial(apply, op), operands, {}, y)
    return y


def _constant(name, x):
    """A number or an array in an operation: kept as it is (its dtype must not widen the traced tensor's)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.number, np.ndarray)):
        raise TypeError(f"{name}: expected a traced tensor, a Parameter, an array or a number, got "
                        f"{type(x).__name__}")
    return x  # a Python number stays one, so that x * 2 keeps x's dtype
