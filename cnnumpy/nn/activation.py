"""Activation modules, as torch.nn.ReLU, LeakyReLU, Sigmoid, Tanh, Softmax and LogSoftmax.

They hold no parameters: each validates x, calls its pair in functional.activation (ReLU its tuned twin in
functional.tuned.activation) and caches what the backward needs. x: any floating array of any shape -> y: same
shape and dtype.
"""
import warnings

import numpy as np

from ..functional import activation as F
from ..functional.tuned import activation as tuned
from . import check
from .module import Module


def _forward(module, f, x, *args):
    """Validate x, run f, and cache for _backward. A 0-d x runs as shape (1,): softmax needs an axis,
    and torch treats a scalar as 1-d; the elementwise functions give the same either way."""
    check.array("x", x)
    y, cache = f(x.reshape(x.shape or (1,)), *args)
    module.cache = (cache, x.shape, x.dtype)
    return y.reshape(x.shape)


def _backward(module, f_backward, dout, input_grad=True):
    """dL/dx from the cache of _forward; None when input_grad=False (nothing else to compute: no parameters)."""
    cache, shape, dtype = module.saved()
    dout = check.dout_like(shape, dout, dtype)
    if not input_grad:
        return None
    return f_backward(dout.reshape(shape or (1,)), cache).reshape(shape)


def _axis(dim, x):
    """Softmax's axis of x, wrapped to >= 0; it must exist and be non-empty (an empty axis has no max)."""
    return _axis_of(dim, check.array("x", x).shape)


def _axis_of(dim, shape):
    """_axis for an input of this shape. dim None: torch's legacy choice, with its warning: 0 for inputs of 0, 1 or
    3 dimensions (one vector, or one unbatched (C, H, W) image), else 1 (the classes or channels of a batch)."""
    if dim is None:
        dim = 0 if len(shape) in (0, 1, 3) else 1
        warnings.warn(f"Softmax: an implicit dim is deprecated (as in torch); dim={dim} is used for an input of "
                      f"{len(shape)} dimensions: pass dim= explicitly", UserWarning, stacklevel=4)
    d = check.dim("dim", dim, shape)
    if shape and shape[d] == 0:
        raise ValueError(f"x: expected a non-empty axis dim={dim}, got shape {shape}")
    return d


def _same_shape(module: Module, input_shape: check.Shape) -> tuple[int, ...]:
    """compute_output_shape of an elementwise activation: the input's shape, any shape."""
    return check.shape("input_shape", input_shape)


def _softmax_shape(module: "Softmax | LogSoftmax", input_shape: check.Shape) -> tuple[int, ...]:
    """compute_output_shape of Softmax and LogSoftmax: the input's shape, whose axis `dim` exists and is non-empty."""
    shape = check.shape("input_shape", input_shape)
    _axis_of(module.dim, shape)
    return shape


def _inplace(value: bool) -> bool:
    """torch's inplace flag, True or False. Accepted for torch's signature; cnnumpy returns a new array either way,
    so an array the caller holds is never overwritten behind its back (and backward still has its input)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"inplace: expected True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


class ReLU(Module):
    """y = max(x, 0); dx = dout * [x > 0], and dout where x is NaN (as torch).

    inplace: accepted as torch's; the output is a new array either way (x is left unchanged).
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.relu, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.relu_backward, dout, input_grad)

    compute_output_shape = _same_shape

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x; dx = dout if x > 0 else negative_slope * dout.

    inplace: accepted as torch's; the output is a new array either way (x is left unchanged).
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = check.real("negative_slope", negative_slope)
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, F.leaky_relu, x, self.negative_slope)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, F.leaky_relu_backward, dout, input_grad)

    compute_output_shape = _same_shape

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x)), stable for any x; dx = dout * y * (1 - y)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, F.sigmoid, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, F.sigmoid_backward, dout, input_grad)

    compute_output_shape = _same_shape


class Tanh(Module):
    """y = tanh(x); dx = dout * (1 - y^2)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, F.tanh, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, F.tanh_backward, dout, input_grad)

    compute_output_shape = _same_shape


class Softmax(Module):
    """y = exp(x) / sum(exp(x), dim), the entries along `dim` sum to 1; dx = y * (dout - sum(dout * y, dim)).

    dim: the axis to normalise (negative counts from the end); it must exist in the input. None (torch's default):
    torch's implicit choice, with its deprecation warning: 0 for inputs of 0, 1 or 3 dimensions, else 1.
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = None if dim is None else check.dim("dim", dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, F.softmax, x, _axis(self.dim, x))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, F.softmax_backward, dout, input_grad)

    compute_output_shape = _softmax_shape

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = x - log(sum(exp(x), dim)), stable for large logits; dx = dout - softmax(x) * sum(dout, dim)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = None if dim is None else check.dim("dim", dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, F.log_softmax, x, _axis(self.dim, x))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, F.log_softmax_backward, dout, input_grad)

    compute_output_shape = _softmax_shape

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
