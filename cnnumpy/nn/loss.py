"""CrossEntropyLoss, NLLLoss and MSELoss, and what every loss module shares: the modules around functional.loss.

A loss module's forward(input, target) returns the loss (a 0-d NumPy value of the input's dtype, or the
per-element array for reduction="none"), and backward() with no argument returns dL/dinput, the start of the
backward pass. For "none", backward(dout) takes the upstream gradient of the unreduced loss and defaults to ones
(the gradient of its sum). The other losses: regression_loss.py (L1Loss, SmoothL1Loss, HuberLoss) and
binary_loss.py (BCELoss, BCEWithLogitsLoss).

As in torch, `weight` (and BCEWithLogitsLoss's `pos_weight`) is a buffer: in state_dict when given, cast to the
input's dtype by forward. The deprecated size_average and reduce still set the reduction, with torch's warning.
"""
import numbers
import warnings

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


def _reduction(value, size_average=None, reduce=None):
    """reduction, or what torch's deprecated size_average and reduce make of it (with torch's warning)."""
    for name, flag in (("size_average", size_average), ("reduce", reduce)):
        if flag is not None and not isinstance(flag, (bool, np.bool_)):
            hint = f"; the reduction is a keyword argument: reduction={flag!r}" if isinstance(flag, str) else ""
            raise TypeError(f"{name}: expected a bool or None (deprecated: use reduction), got {flag!r}{hint}")
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        value = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{value}' instead.",
                      stacklevel=3)
    if not isinstance(value, str) or value not in loss.REDUCTIONS:
        raise ValueError(f"reduction: expected one of {', '.join(map(repr, loss.REDUCTIONS))}, got {value!r}")
    return value


def _weight(name, value, ndim=None):
    """An optional floating ndarray (a copy, kept as a buffer); a str says the reduction was given by position."""
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"{name}: expected a numpy.ndarray or None, got {value!r} (str); the reduction is a "
                        f"keyword argument, as in torch: reduction={value!r}")
    return np.array(check.array(name, value, ndim=ndim))


def _index(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__})")
    return int(value)


class _Loss(Module):
    """The shared backward: check the upstream gradient against forward's output, call `functional_backward`.

    forward sets self.cache = (functional cache, output shape, input dtype, unbatched): unbatched input (C,) ran
    as a batch of one, so dout gets that axis back before the functional backward, and dx loses it after."""

    def backward(self, dout: float | np.ndarray | None = None, input_grad: bool = True) -> np.ndarray | None:
        """dL/dinput from the upstream gradient dout (None: ones); None when input_grad=False (a loss has no
        parameters, so there is nothing else to compute)."""
        fcache, out_shape, dtype, unbatched = self.saved()
        dout = np.ones(out_shape, dtype=dtype) if dout is None else _upstream(dout, out_shape)
        if not input_grad:
            return None
        if unbatched:
            return self.functional_backward(dout[None] if self.reduction == "none" else dout, fcache)[0]
        return self.functional_backward(dout, fcache)

    def _keep(self, fcache, out, dtype, unbatched=False):
        if unbatched and self.reduction == "none":
            out = out[0]
        self.cache = (fcache, np.shape(out), dtype, unbatched)
        return out

    def _set_weight(self, name, value, ndim=None):
        value = _weight(name, value, ndim)
        if value is None:
            setattr(self, name, None)  # torch's None buffer: not in state_dict
        else:
            self.register_buffer(name, value)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


def _class_targets(name, x, target, ignore_index, probabilities_allowed):
    """Check class-index targets against x: (C,), (N, C) or (N, C, d1, ...) (probability targets are checked by
    the caller). Integer dtype, x's shape without the class axis, values in [0, C) or ignore_index."""
    if x.ndim == 0:
        raise ValueError(f"{name}: expected 1 or more dimensions ((C,), (N, C) or (N, C, d1, ...)), got 0 "
                         f"(shape {x.shape})")
    if x.size == 0:
        kind = "(N, K) array" if x.ndim == 2 else "array"
        raise ValueError(f"{name}: expected a non-empty {kind}, got shape {x.shape}")
    if not isinstance(target, np.ndarray):
        raise TypeError(f"target: expected a numpy.ndarray of class indices, got {type(target).__name__}")
    # np.issubdtype(target.dtype, np.integer), for a fraction of its time (docs/performance.md#dtype-checks-by-kind)
    if target.dtype.kind not in "iu":
        hint = (f"; class probabilities: a floating target of {name}'s shape {x.shape}"
                if probabilities_allowed else "")
        raise TypeError(f"target: expected an integer dtype (class indices), got {target.dtype}{hint}")
    if x.ndim == 1:
        expected, what = (), f"one class index for unbatched {name} of shape {x.shape}"
    elif x.ndim == 2:
        expected, what = x.shape[:1], f"one class index per row of {name}"
    else:
        expected, what = x.shape[:1] + x.shape[2:], f"{name}'s shape {x.shape} without its class axis 1"
    if target.shape != expected:
        raise ValueError(f"target: expected shape {expected} ({what}), got {target.shape}")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    bad = (target < 0) | (target >= c)
    if bad.any() and (bad := np.argwhere(bad & (target != ignore_index))).size:
        i = tuple(int(j) for j in bad[0])
        where = i[0] if len(i) == 1 else i
        raise ValueError(f"target: expected class indices in [0, {c}), got {target[i]} at position {where}")


def _check_class_weight(weight, c, name):
    if weight is not None and weight.shape != (c,):
        raise ValueError(f"weight: expected shape ({c},) (one weight per class of {name}), got {weight.shape}")


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class indices or class probabilities, as torch.nn.CrossEntropyLoss.

    forward(logits: (C,), (N, C) or (N, C, d1, ...) float, target: class indices (), (N,) or (N, d1, ...) ints in
    [0, C) or ignore_index, or class probabilities of the logits' shape (floating)) -> loss: scalar, or the
    per-element loss for "none". backward() -> dlogits = (softmax(logits) - q) / N for "mean" without weights,
    with q the (smoothed) target; weight: (C,) per-class weights, "mean" then divides by the targets' weights.
    label_smoothing eps in [0, 1]: q = (1 - eps) * onehot(target) + eps / C.
    """

    functional_backward = staticmethod(loss.cross_entropy_backward)

    def __init__(self, weight: np.ndarray | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        self._set_weight("weight", weight, ndim=1)
        self.ignore_index = _index("ignore_index", ignore_index)
        self.reduction = _reduction(reduction, size_average, reduce)
        self.label_smoothing = check.probability("label_smoothing", label_smoothing)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        check.array("logits", logits)
        unbatched = logits.ndim == 1
        if (isinstance(target, np.ndarray) and target.shape == logits.shape and target.dtype.kind == "f"
                and logits.size):
            if self.ignore_index >= 0:
                raise ValueError(f"ignore_index: expected a negative value with class-probability targets "
                                 f"(torch does not support ignoring them), got {self.ignore_index}")
        else:
            _class_targets("logits", logits, target, self.ignore_index, probabilities_allowed=True)
        _check_class_weight(self.weight, logits.shape[0] if unbatched else logits.shape[1], "the logits")
        if unbatched:
            logits, target = logits[None], target[None]
        out, fcache = loss.cross_entropy(logits, target, self.reduction, self.label_smoothing, weight=self.weight,
                                         ignore_index=self.ignore_index)
        return self._keep(fcache, out, logits.dtype, unbatched)

    def extra_repr(self) -> str:
        ignore = "" if self.ignore_index == -100 else f", ignore_index={self.ignore_index}"
        return super().extra_repr() + f", label_smoothing={self.label_smoothing}" + ignore


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (e.g. LogSoftmax's output), as torch.nn.NLLLoss.

    forward(input: (C,), (N, C) or (N, C, d1, ...) log-probabilities, target: (), (N,) or (N, d1, ...) ints in
    [0, C) or ignore_index) -> loss = sum_n -w[t_n] input[n, t_n] / sum_n w[t_n] ("mean"), or the sum, or per element.
    backward() -> dinput: -w[t_n] / W at (n, t_n), 0 elsewhere (W = sum of the targets' weights for "mean").
    """

    functional_backward = staticmethod(loss.nll_loss_backward)

    def __init__(self, weight: np.ndarray | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self._set_weight("weight", weight, ndim=1)
        self.ignore_index = _index("ignore_index", ignore_index)
        self.reduction = _reduction(reduction, size_average, reduce)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        check.array("input", input)
        _class_targets("input", input, target, self.ignore_index, probabilities_allowed=False)
        unbatched = input.ndim == 1
        _check_class_weight(self.weight, input.shape[0] if unbatched else input.shape[1], "the input")
        if unbatched:
            input, target = input[None], target[None]
        out, fcache = loss.nll_loss(input, target, self.reduction, weight=self.weight, ignore_index=self.ignore_index)
        return self._keep(fcache, out, input.dtype, unbatched)

    def extra_repr(self) -> str:
        ignore = "" if self.ignore_index == -100 else f", ignore_index={self.ignore_index}"
        return super().extra_repr() + ignore


class _Pairwise(_Loss):
    """A loss of input and target of one shape; the target is cast to the input's dtype."""

    def _pair(self, input, target):
        check.array("input", input)
        check.array("target", target)
        if target.shape != input.shape:
            raise ValueError(f"target: expected the input's shape {input.shape}, got {target.shape}")
        return input, target.astype(input.dtype, copy=False)


class MSELoss(_Pairwise):
    """Mean squared error, as torch.nn.MSELoss.

    forward(input, target: the same shape) -> loss = mean((input - target)^2) ("sum": the sum; "none": elementwise).
    backward() -> dinput = 2 * (input - target) / input.size for "mean".
    The target is cast to the input's dtype, so a float32 target can train a float64 model.
    """

    functional_backward = staticmethod(loss.mse_loss_backward)

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(reduction, size_average, reduce)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        input, target = self._pair(input, target)
        out, fcache = loss.mse_loss(input, target, self.reduction)
        return self._keep(fcache, out, input.dtype)
