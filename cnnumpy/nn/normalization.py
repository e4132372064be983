"""GroupNorm, LayerNorm and LocalResponseNorm: the modules around functional.norm (run by its tuned twin,
functional.tuned.norm_family) and functional.lrn, as torch.nn's of the same names (torch keeps them in
torch/nn/modules/normalization.py too).

GroupNorm and LayerNorm normalise each sample by its own statistics, so they hold no running estimates and
compute the same thing in training and evaluation; LocalResponseNorm has no parameters at all.
"""
import math
import numbers

import numpy as np
import numpy.typing as npt

from ..functional import lrn
from ..functional.tuned import norm_family as tuned
from . import check
from .module import Module, Parameter


def _eps(eps):
    """eps: a float >= 0 -> float."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps: expected a float, got {eps!r} ({type(eps).__name__})")
    if not eps >= 0:
        raise ValueError(f"eps: expected a float >= 0, got {eps!r}")
    return float(eps)


def _flag(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {value!r} ({type(value).__name__})")
    return value


def _nonempty(shape):
    if 0 in shape:
        raise ValueError(f"x: expected a non-empty input, got shape {shape}")
    return shape


class _Affine(Module):
    """What GroupNorm, LayerNorm and InstanceNorm share: gamma (weight) ones, beta (bias) zeros, or None; their
    backward adds dgamma and dbeta into the trainable ones."""

    def _parameters(self, shape, affine, bias, dtype):
        dtype = check.float_dtype("dtype", dtype)
        self.weight = Parameter(np.ones(shape, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(shape, dtype=dtype)) if affine and bias else None
        return dtype

    def _dtype(self):
        return self.weight.dtype if self.weight is not None else None

    def _data(self):
        return (None if self.weight is None else self.weight.data), (None if self.bias is None else self.bias.data)

    def _grads(self):
        return (self.weight is not None and self.weight.requires_grad,
                self.bias is not None and self.bias.requires_grad)

    def _accumulate(self, dw, db):
        if dw is not None:
            self.weight.grad += dw
        if db is not None:
            self.bias.grad += db


class GroupNorm(_Affine):
    """Group normalisation, as torch.nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True).

    x: (N, C, ...) -> y: the same shape. The C channels form num_groups groups of C / num_groups consecutive
    channels; each sample's group is normalised over its channels and positions, then y = gamma_c xhat + beta_c.
    weight (gamma): (C,) ones, bias (beta): (C,) zeros (bias=False: no beta; affine=False: neither).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: npt.DTypeLike = np.float32, *, bias: bool = True) -> None:
        super().__init__()
        self.num_groups = check.positive_int("num_groups", num_groups)
        self.num_channels = check.positive_int("num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(f"num_channels: expected a multiple of num_groups ({num_groups}), got {num_channels}")
        self.eps = _eps(eps)
        self.affine = _flag("affine", affine)
        self._parameters(num_channels, affine, _flag("bias", bias), dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x, dtype=self._dtype())
        self.compute_output_shape(x.shape)
        y, fcache = tuned.group_norm(x, self.num_groups, *self._data(), self.eps)
        self.cache = (fcache, y.shape, y.dtype)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as x -> dx (None if input_grad=False); adds into weight.grad and bias.grad unless frozen."""
        fcache, shape, dtype = self.saved()
        dx, dw, db = tuned.group_norm_backward(check.dout_like(shape, dout, dtype), fcache, input_grad,
                                              *self._grads())
        self._accumulate(dw, db)
        return dx

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        shape = check.shape("input_shape", input_shape)
        c = self.num_channels
        if len(shape) < 2:
            raise ValueError(f"x: expected at least 2 dimensions (N, C, ...), got {len(shape)} (shape {shape})")
        if shape[1] != c:
            raise ValueError(f"x: expected {c} channels (shape (N, {c}, ...)), got shape {shape}")
        return _nonempty(shape)

    def macs(self, input_shape: check.Shape) -> int:
        return math.prod(self.compute_output_shape(input_shape))

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LayerNorm(_Affine):
    """Layer normalisation, as torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True).

    x: (..., *normalized_shape) -> y: the same shape. Each index of the leading axes is normalised over the
    trailing normalized_shape, then y = gamma * xhat + beta elementwise.
    weight (gamma): normalized_shape ones, bias (beta): normalized_shape zeros.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...] | list[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        if (not isinstance(shape, (tuple, list)) or not shape
                or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in shape)):
            raise TypeError(f"normalized_shape: expected an int or a non-empty tuple of ints >= 1, "
                            f"got {normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = _eps(eps)
        self.elementwise_affine = _flag("elementwise_affine", elementwise_affine)
        self._parameters(self.normalized_shape, elementwise_affine, _flag("bias", bias), dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x, dtype=self._dtype())
        self.compute_output_shape(x.shape)
        y, fcache = tuned.layer_norm(x, len(self.normalized_shape), *self._data(), self.eps)
        self.cache = (fcache, y.shape, y.dtype)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as x -> dx (None if input_grad=False); adds into weight.grad and bias.grad unless frozen."""
        fcache, shape, dtype = self.saved()
        dx, dw, db = tuned.layer_norm_backward(check.dout_like(shape, dout, dtype), fcache, input_grad,
                                              *self._grads())
        self._accumulate(dw, db)
        return dx

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        shape = check.shape("input_shape", input_shape)
        s = self.normalized_shape
        if len(shape) < len(s) or shape[len(shape) - len(s):] != s:
            raise ValueError(f"x: expected a shape ending in normalized_shape {s}, i.e. (*, {', '.join(map(str, s))}),"
                             f" got shape {shape}")
        return _nonempty(shape)

    def macs(self, input_shape: check.Shape) -> int:
        return math.prod(self.compute_output_shape(input_shape))

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class LocalResponseNorm(Module):
    """Local response normalisation, as torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1.0).

    x: (N, C, ...) with at least 3 dimensions -> y: the same shape,
    y_c = x_c / (k + alpha / size * sum of x_{c'}^2 over the size channels around c)^beta. No parameters.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = check.positive_int("size", size)
        self.alpha = check.real("alpha", alpha)
        self.beta = check.real("beta", beta)
        self.k = check.real("k", k)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        self.compute_output_shape(x.shape)
        y, fcache = lrn.local_response_norm(x, self.size, self.alpha, self.beta, self.k)
        self.cache = (fcache, y.shape, y.dtype)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as x -> dx, or None if input_grad=False (there are no parameters to update)."""
        fcache, shape, dtype = self.saved()
        dout = check.dout_like(shape, dout, dtype)
        return lrn.local_response_norm_backward(dout, fcache) if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        shape = check.shape("input_shape", input_shape)
        if len(shape) < 3:
            raise ValueError(f"x: expected at least 3 dimensions (N, C, ...), got {len(shape)} (shape {shape})")
        return _nonempty(shape)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
