"""L1Loss, SmoothL1Loss and HuberLoss: input and target of one shape, around functional.loss (MSELoss is in loss.py).

forward(input, target: the same shape) -> the loss ("mean" over every element, "sum", or elementwise for "none");
backward() -> dinput. The target is cast to the input's dtype.
"""
import numbers

import numpy as np

from ..functional import loss
from .loss import _Pairwise, _reduction


def _nonnegative(name, value, strict=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__})")
    if not (value > 0 if strict else value >= 0):
        raise ValueError(f"{name}: expected a float {'> 0' if strict else '>= 0'}, got {value}")
    return float(value)


class L1Loss(_Pairwise):
    """Mean absolute error, as torch.nn.L1Loss: loss = mean(|input - target|); dinput = sign(input - target) / numel
    ("mean"), 0 where input = target."""

    functional_backward = staticmethod(loss.l1_loss_backward)

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(reduction, size_average, reduce)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        input, target = self._pair(input, target)
        out, fcache = loss.l1_loss(input, target, self.reduction)
        return self._keep(fcache, out, input.dtype)


class SmoothL1Loss(_Pairwise):
    """As torch.nn.SmoothL1Loss: d = input - target, loss = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta
    (beta = 0: L1Loss); dinput = d / beta inside, sign(d) outside (/ numel for "mean")."""

    functional_backward = staticmethod(loss.smooth_l1_loss_backward)

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__()
        self.reduction = _reduction(reduction, size_average, reduce)
        self.beta = _nonnegative("beta", beta)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        input, target = self._pair(input, target)
        out, fcache = loss.smooth_l1_loss(input, target, self.reduction, self.beta)
        return self._keep(fcache, out, input.dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", beta={self.beta}"


class HuberLoss(_Pairwise):
    """As torch.nn.HuberLoss: d = input - target, loss = 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta);
    dinput = d inside, delta sign(d) outside (/ numel for "mean"). HuberLoss(delta) = delta * SmoothL1Loss(beta=delta)."""

    functional_backward = staticmethod(loss.huber_loss_backward)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__()
        self.reduction = _reduction(reduction)
        self.delta = _nonnegative("delta", delta, strict=True)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        input, target = self._pair(input, target)
        out, fcache = loss.huber_loss(input, target, self.reduction, self.delta)
        return self._keep(fcache, out, input.dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", delta={self.delta}"
