"""The modern activations, as torch.nn's: ReLU6, Hardsigmoid, Hardswish, SiLU, GELU, ELU, SELU, Softplus, Mish,
PReLU (the one with a parameter) and Softmax2d.

Each validates x, calls the tuned twin (functional.tuned.activation_modern) of its pair in functional.activation
and caches what the backward needs. x: any floating
array of any shape -> y: same shape and dtype (Softmax2d: (C, H, W) or (N, C, H, W); PReLU with several slopes:
the channels on axis 1).

inplace=: accepted where torch has it, for torch's signature. cnnumpy returns a new array either way, so an array
the caller holds is never overwritten behind its back (torch's in-place version overwrites x).
"""
import numpy as np
import numpy.typing as npt

from ..functional import activation as F
from ..functional.tuned import activation_modern as tuned
from . import check
from .activation import _axis_of, _backward, _forward, _inplace, _same_shape
from .module import Module, Parameter


def _inplace_repr(module: Module) -> str:
    return "inplace=True" if module.inplace else ""


class ReLU6(Module):
    """y = min(max(x, 0), 6); dx = dout where 0 < x < 6, else 0 (torch's slope at 0 and 6 is 0)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.relu6, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.relu6_backward, dout, input_grad)

    compute_output_shape = _same_shape
    extra_repr = _inplace_repr


class Hardsigmoid(Module):
    """y = relu6(x + 3) / 6; dx = dout / 6 where -3 < x < 3, else 0. torch's repr never shows inplace."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.hardsigmoid, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.hardsigmoid_backward, dout, input_grad)

    compute_output_shape = _same_shape


class Hardswish(Module):
    """y = x relu6(x + 3) / 6; dx = dout * (0 for x <= -3, x/3 + 1/2 between, 1 for x >= 3). MobileNetV3's
    cheap swish. torch's repr never shows inplace."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.hardswish, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.hardswish_backward, dout, input_grad)

    compute_output_shape = _same_shape


class SiLU(Module):
    """y = x sigmoid(x) (swish); dx = dout * s (1 + x (1 - s)), s = sigmoid(x)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.silu, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.silu_backward, dout, input_grad)

    compute_output_shape = _same_shape
    extra_repr = _inplace_repr


class GELU(Module):
    """y = x Phi(x) (Phi: the standard normal's distribution function); approximate="tanh":
    y = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2. dx = dout * (Phi(x) + x phi(x)), or the tanh form's
    derivative (functional.activation.gelu_backward)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.gelu, x, self.approximate)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.gelu_backward, dout, input_grad)

    compute_output_shape = _same_shape

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def _number(name: str, value: float) -> float:
    """A real number, kept as given (an int stays an int, so that the repr reads as torch's: beta=2)."""
    check.real(name, value)
    return value


class ELU(Module):
    """y = x for x > 0, alpha (exp(x) - 1) for x <= 0; dx = dout for x > 0, dout * alpha exp(x) for x <= 0
    (torch's slope at 0 is alpha)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _number("alpha", alpha)
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.elu, x, float(self.alpha))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.elu_backward, dout, input_grad)

    compute_output_shape = _same_shape

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(Module):
    """y = scale (x for x > 0, alpha (exp(x) - 1) for x <= 0) with alpha = 1.6732..., scale = 1.0507...
    (functional.activation.SELU_ALPHA, SELU_SCALE); dx = dout * scale (1, or alpha exp(x) for x <= 0)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.selu, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.selu_backward, dout, input_grad)

    compute_output_shape = _same_shape
    extra_repr = _inplace_repr


class Softplus(Module):
    """y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold; dx = dout * sigmoid(beta x), and
    dout where beta x > threshold. Finite for every finite x (torch's overflows to inf for a threshold beyond
    exp's range).

    beta: any nonzero number (0 would divide by 0); threshold: any number.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _number("beta", beta)
        if self.beta == 0:
            raise ValueError(f"beta: expected a nonzero float (y = log(1 + exp(beta x)) / beta), got {beta!r}")
        self.threshold = _number("threshold", threshold)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.softplus, x, float(self.beta), float(self.threshold))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.softplus_backward, dout, input_grad)

    compute_output_shape = _same_shape

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Mish(Module):
    """y = x tanh(softplus(x)); dx = dout * (t + x (1 - t^2) sigmoid(x)), t = tanh(softplus(x))."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return _forward(self, tuned.mish, x)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, tuned.mish_backward, dout, input_grad)

    compute_output_shape = _same_shape
    extra_repr = _inplace_repr


class PReLU(Module):
    """y = x where x > 0, else w x, with a learned slope w: one for every entry (num_parameters=1) or one per
    channel, the channels on axis 1 (x: (N, C, ...) with C == num_parameters; a 1-d x has one channel).

    weight: (num_parameters,), filled with `init` (state_dict key "weight", as torch).
    dx = dout where x > 0, else w dout (torch's slope at 0 is w); dw_c = sum over channel c where x <= 0 of
    x dout. device: None or "cpu" (accepted for torch's signature); dtype: the weight's (None: float32).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: str | None = None,
                 dtype: npt.DTypeLike = None) -> None:
        super().__init__()
        self.num_parameters = check.positive_int("num_parameters", num_parameters, minimum=0)
        init = check.real("init", init)
        if device not in (None, "cpu"):
            raise ValueError(f"device: expected None or 'cpu' (cnnumpy runs on NumPy), got {device!r}")
        self.weight = Parameter(np.full(self.num_parameters, init, check.float_dtype("dtype", dtype)))

    def _check_shape(self, name: str, shape: tuple[int, ...]) -> None:
        n = self.num_parameters
        if n == 1:
            return
        if len(shape) == 0:
            raise ValueError(f"{name}: expected at least 1 dimension with num_parameters={n} (torch refuses a "
                             f"zero-dim input), got shape ()")
        channels = shape[1] if len(shape) >= 2 else 1
        if channels != n:
            raise ValueError(f"{name}: expected {n} channels on axis 1 (num_parameters={n}), got shape {shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x, dtype=self.weight.dtype)
        self._check_shape("x", x.shape)
        y, cache = tuned.prelu(x, self.weight.data)
        self.cache = (cache, x.shape)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: x's shape -> dx (None if input_grad=False); adds into weight.grad unless it is frozen."""
        cache, shape = self.saved()
        dout = check.dout_like(shape, dout, self.weight.dtype)
        if not input_grad and not self.weight.requires_grad:
            return None
        dx, dw = tuned.prelu_backward(dout, cache)
        if self.weight.requires_grad:
            self.weight.grad += dw
        return dx if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        shape = check.shape("input_shape", input_shape)
        self._check_shape("x", shape)
        return shape

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softmax2d(Module):
    """Softmax over the channels at every pixel: x: (N, C, H, W) or (C, H, W) -> y of the same shape, where
    y[..., c, i, j] = exp(x[..., c, i, j]) / sum_k exp(x[..., k, i, j]), i.e. Softmax(dim=-3);
    dx = y * (dout - sum(dout * y, channels))."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x, ndim=(3, 4))
        return _forward(self, F.softmax, x, _axis_of(-3, x.shape))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, F.softmax_backward, dout, input_grad)

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        shape = check.shape("input_shape", input_shape)
        check.dims("x", shape, (3, 4))
        _axis_of(-3, shape)
        return shape
