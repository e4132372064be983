"""ReduceLROnPlateau: divide the lr when a metric stops improving (stepped with the metric, not the epoch)."""
import math
from collections.abc import Sequence
from typing import Literal

from ...nn import check
from ..optimizer import Optimizer, number
from .base import LRScheduler, checked_optimizer, per_group


class ReduceLROnPlateau(LRScheduler):
    """Divide lr by 1/factor when a metric has stopped improving for more than `patience` steps.

        sched = ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=10)
        for epoch in range(100):
            train_one_epoch(model, opt)
            sched.step(validate(model))     # the metric, e.g. the validation loss

    A metric m improves on the best so far when (mode "min"; "max" mirrors it)

        rel:  m < best * (1 - threshold)        abs:  m < best - threshold

    Each step without improvement is a bad epoch; when there have been more than `patience` of
    them, every group's lr becomes max(lr * factor, min_lr) (left alone if that changes it by
    eps or less), the count restarts, and the next `cooldown` steps count no bad epochs.
    The first metric always improves on best = inf (-inf for "max"). As in torch it takes the
    lr as it is at construction (no initial_lr, no first step), and it cannot go in a
    SequentialLR. state_dict() has torch's keys; best may be inf, which cnnumpy.io stores.
    """

    def __init__(self, optimizer: Optimizer, mode: Literal["min", "max"] = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: Literal["rel", "abs"] = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0, eps: float = 1e-8) -> None:
        if not 0 <= number("factor", factor) < 1:
            raise ValueError(f"factor: expected a value in [0, 1), got {factor}")
        self.factor = float(factor)
        self.optimizer = checked_optimizer(optimizer)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
        else:
            self.default_min_lr = number("min_lr", min_lr)
        self.min_lrs = per_group("min_lr", min_lr, optimizer)
        self.patience = check.positive_int("patience", patience, minimum=0)
        self.cooldown = check.positive_int("cooldown", cooldown, minimum=0)
        self.eps = number("eps", eps)
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode: expected 'rel' or 'abs', got {threshold_mode!r}")
        self.mode = mode
        self.threshold = number("threshold", threshold)
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        """Whether metric `a` improves on `best` by more than the threshold."""
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Record this step's metric (a number, or a 0-d array) and reduce the lrs if it has plateaued."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"metrics: expected a number, got {metrics!r} ({type(metrics).__name__})") from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"min_lr: {len(self.min_lrs)} values were given, one per param group, but the "
                                   f"optimizer now has {len(groups)} groups; set ReduceLROnPlateau.min_lrs to "
                                   "one value per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
