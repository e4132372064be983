"""Linear: the fully connected layer around functional.linear (through its tuned twin), as torch.nn.Linear."""
import math

import numpy as np
import numpy.typing as npt

from ..functional.tuned.linear import linear, linear_backward
from . import check
from .init import Rng, default_bound, uniform
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b, applied to the last axis, as torch.nn.Linear.

    x: (..., in_features) -> y: (..., out_features), any number of leading dimensions
    weight: (out_features, in_features), bias: (out_features,)
    Both start as U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's default (see init.py).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng: Rng = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        # 0 is allowed, as in torch: a layer with no inputs outputs its bias
        self.in_features = check.positive_int("in_features", in_features, minimum=0)
        self.out_features = check.positive_int("out_features", out_features, minimum=0)
        dtype = check.float_dtype("dtype", dtype)
        bound = default_bound(in_features)
        self.weight = Parameter(uniform((out_features, in_features), bound, rng, dtype))
        self.bias = Parameter(uniform((out_features,), bound, rng, dtype)) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x, dtype=self.weight.dtype)
        self._output_shape(x.shape)
        b = self.bias.data if self.bias is not None else None
        y, fcache = linear(x, self.weight.data, b)
        self.cache = (fcache, y.shape)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: (..., out_features) -> dx (None if input_grad=False); adds into weight.grad and bias.grad,
        except for a frozen one (requires_grad False), whose gradient is not computed."""
        fcache, y_shape = self.saved()
        dout = check.dout_like(y_shape, dout, self.weight.dtype)
        bias_grad = self.bias is not None and self.bias.requires_grad
        dx, dw, db = linear_backward(dout, fcache, input_grad, self.weight.requires_grad, bias_grad)
        if dw is not None:
            self.weight.grad += dw
        if db is not None:
            self.bias.grad += db
        return dx

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(..., in_features) -> (..., out_features); forward's error for another last dimension."""
        return self._output_shape(check.shape("input_shape", input_shape))

    def _output_shape(self, shape):
        """compute_output_shape of a checked shape: the one place of the rule on the last dimension."""
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ValueError(f"x: expected shape (..., {self.in_features}) (last dimension = in_features = "
                             f"{self.in_features}), got shape {shape}")
        return shape[:-1] + (self.out_features,)

    def macs(self, input_shape: check.Shape) -> int:
        """in_features*out_features per row (every leading index is a row); the bias is not counted."""
        return math.prod(self.compute_output_shape(input_shape)[:-1]) * self.in_features * self.out_features

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
