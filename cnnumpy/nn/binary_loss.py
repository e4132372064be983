"""BCELoss and BCEWithLogitsLoss: binary cross-entropy of probabilities or of logits, around functional.loss.

forward(input, target: the same shape, values in [0, 1]) -> the loss ("mean" over every element, "sum", or
elementwise for "none"); backward() -> dinput. weight (and pos_weight) broadcast against the input and are
buffers, as torch's; the target and the weights are cast to the input's dtype.
"""
import numpy as np

from ..functional import loss
from .loss import _Pairwise, _reduction


def _broadcasts(name, value, shape, what):
    """value (or None), cast to dtype, after checking it broadcasts to `shape` without growing it."""
    if value is None:
        return None
    try:
        fits = np.broadcast_shapes(value.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: expected a shape that broadcasts to the input's shape {shape} ({what}), "
                         f"got {value.shape}")
    return value


class BCELoss(_Pairwise):
    """Binary cross-entropy of probabilities, as torch.nn.BCELoss: loss = -w (y log x + (1 - y) log(1 - x)), each
    log clamped at -100; dinput = w (x - y) / max(x (1 - x), 1e-12) (/ numel for "mean"), as torch's."""

    functional_backward = staticmethod(loss.binary_cross_entropy_backward)

    def __init__(self, weight: np.ndarray | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self._set_weight("weight", weight)
        self.reduction = _reduction(reduction, size_average, reduce)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        input, target = self._pair(input, target)
        for name, a in (("input", input), ("target", target)):
            outside = np.flatnonzero(~((a >= 0) & (a <= 1)))  # NaN is outside too
            if outside.size:
                i = np.unravel_index(outside[0], a.shape)
                raise ValueError(f"{name}: expected values in [0, 1] (probabilities; use BCEWithLogitsLoss for "
                                 f"logits), got {a[i]} at position {tuple(int(j) for j in i)}")
        w = _broadcasts("weight", self.weight, input.shape, "one weight per element, or per trailing axis")
        w = None if w is None else w.astype(input.dtype, copy=False)
        out, fcache = loss.binary_cross_entropy(input, target, w, self.reduction)
        return self._keep(fcache, out, input.dtype)


class BCEWithLogitsLoss(_Pairwise):
    """Sigmoid and binary cross-entropy in one, as torch.nn.BCEWithLogitsLoss: with log sigmoid computed stably,
    loss = w ((1 - y) x - (1 + (pos_weight - 1) y) log sigmoid(x)); finite at logits of +-1000.
    dinput = w ((pos_weight y + 1 - y) sigmoid(x) - pos_weight y) (/ numel for "mean"); sigmoid(x) - y without
    weights. pos_weight: e.g. (C,) for C labels per sample, the weight of each label's positive examples."""

    functional_backward = staticmethod(loss.binary_cross_entropy_with_logits_backward)

    def __init__(self, weight: np.ndarray | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean", pos_weight: np.ndarray | None = None) -> None:
        super().__init__()
        self._set_weight("weight", weight)
        self.reduction = _reduction(reduction, size_average, reduce)
        self._set_weight("pos_weight", pos_weight)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.floating | np.ndarray:
        input, target = self._pair(input, target)
        w = _broadcasts("weight", self.weight, input.shape, "one weight per element, or per trailing axis")
        pw = _broadcasts("pos_weight", self.pos_weight, input.shape, "e.g. (C,): one weight per class, last axis")
        w, pw = (None if a is None else a.astype(input.dtype, copy=False) for a in (w, pw))
        out, fcache = loss.binary_cross_entropy_with_logits(input, target, w, self.reduction, pw)
        return self._keep(fcache, out, input.dtype)
