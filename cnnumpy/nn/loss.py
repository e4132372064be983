"""CrossEntropyLoss and MSELoss: the modules around functional.loss.

A loss module's forward(input, target) returns the loss (a 0-d NumPy value of the
input's dtype, or the per-sample/elementwise array for reduction="none"), and
backward() with no argument returns dL/dinput, the start of the backward pass.
For "none", backward(dout) takes the upstream gradient of the unreduced loss and
defaults to ones (the gradient of its sum).
"""
import numbers

import numpy as np

from ..functional import loss
from . import check
from .module import Module


def _upstream(dout, shape):
    """The upstream gradient given to backward: a real number or an array(-like) of them, of forward's output
    shape -> ndarray. Strings, bools, complex numbers and other objects are refused here, by name, rather than
    by NumPy's conversion deep inside."""
    expected = f"a real number or an array of real numbers of shape {shape} (forward's output)"
    if isinstance(dout, (bool, np.bool_)) or not isinstance(dout, (numbers.Real, np.ndarray, list, tuple)):
        raise TypeError(f"dout: expected {expected}, got {dout!r} ({type(dout).__name__})")
    try:
        a = np.asarray(dout)
    except (TypeError, ValueError):  # ragged nested lists
        raise TypeError(f"dout: expected {expected}, got {dout!r}") from None
    if a.dtype.kind not in "fiu":
        raise TypeError(f"dout: expected {expected}, got {type(dout).__name__} of dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"dout: expected shape {shape} (forward's output), got {a.shape}")
    return a


def _reduction(value):
    if not isinstance(value, str) or value not in loss.REDUCTIONS:
        raise ValueError(f"reduction: expected one of {', '.join(map(repr, loss.REDUCTIONS))}, got {value!r}")
    return value


class _Loss(Module):
    """The shared backward: check the upstream gradient against forward's output, call `functional_backward`."""

    def backward(self, dout: float | np.ndarray | None = None, input_grad: bool = True) -> np.ndarray | None:
        """dL/dinput from the upstream gradient dout (None: ones); None when input_grad=False (a loss has no
        parameters, so there is nothing else to compute)."""
        fcache, out_shape, dtype = self.saved()
        dout = np.ones(out_shape, dtype=dtype) if dout is None else _upstream(dout, out_shape)
        return self.functional_backward(dout, fcache) if input_grad else None

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class indices, as torch.nn.CrossEntropyLoss.

    forward(logits: (N, K) float, target: (N,) ints in [0, K)) -> loss: scalar, or (N,) for "none".
    backward() -> dlogits: (N, K) = (softmax(logits) - q) / N for "mean", with q the (smoothed) target.
    label_smoothing eps in [0, 1]: q = (1 - eps) * onehot(target) + eps / K.
    """

    functional_backward = staticmethod(loss.cross_entropy_backward)

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.reduction = _reduction(reduction)
        self.label_smoothing = check.probability("label_smoothing", label_smoothing)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        check.array("logits", logits, ndim=2)
        n, k = logits.shape
        if n == 0 or k == 0:
            raise ValueError(f"logits: expected a non-empty (N, K) array, got shape {logits.shape}")
        if not isinstance(target, np.ndarray):
            raise TypeError(f"target: expected a numpy.ndarray of class indices, got {type(target).__name__}")
        # np.issubdtype(target.dtype, np.integer), for a fraction of its time (docs/performance.md#dtype-checks-by-kind)
        if target.dtype.kind not in "iu":
            raise TypeError(f"target: expected an integer dtype (class indices), got {target.dtype}")
        if target.shape != (n,):
            raise ValueError(f"target: expected shape ({n},) (one class index per row of logits), got {target.shape}")
        bad = np.flatnonzero((target < 0) | (target >= k))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"target: expected class indices in [0, {k}), got {target[i]} at position {i}")
        out, fcache = loss.cross_entropy(logits, target, self.reduction, self.label_smoothing)
        self.cache = (fcache, np.shape(out), logits.dtype)
        return out

    def extra_repr(self) -> str:
        return super().extra_repr() + f", label_smoothing={self.label_smoothing}"


class MSELoss(_Loss):
    """Mean squared error, as torch.nn.MSELoss.

    forward(input, target: the same shape) -> loss = mean((input - target)^2) ("sum": the sum; "none": elementwise).
    backward() -> dinput = 2 * (input - target) / input.size for "mean".
    The target is cast to the input's dtype, so a float32 target can train a float64 model.
    """

    functional_backward = staticmethod(loss.mse_loss_backward)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(reduction)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        check.array("input", input)
        check.array("target", target)
        if target.shape != input.shape:
            raise ValueError(f"target: expected the input's shape {input.shape}, got {target.shape}")
        out, fcache = loss.mse_loss(input, target.astype(input.dtype, copy=False), self.reduction)
        self.cache = (fcache, np.shape(out), input.dtype)
        return out
