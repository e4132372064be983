"""Decay by a constant factor: every step_size steps (StepLR), at milestones (MultiStepLR), every step
(ExponentialLR)."""
import bisect
import numbers
from collections.abc import Sequence

from ...nn import check
from ..optimizer import Optimizer, number
from .base import LRScheduler


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (last_epoch // step_size): decay by gamma every step_size steps.

    Computed recursively as in PyTorch (multiply the current lr by gamma at each multiple of
    step_size), so changes made to lr between steps by others are kept.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check.positive_int("step_size", step_size)
        self.gamma = number("gamma", gamma)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= last_epoch): decay by gamma at each milestone.

    A milestone listed k times decays by gamma ** k there, as in PyTorch. Milestones are kept
    sorted, with repeats (PyTorch keeps a Counter).
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        if isinstance(milestones, numbers.Number) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"milestones: expected a list of ints, got {milestones!r}")
        self.milestones = sorted(check.positive_int(f"milestones[{i}]", m, minimum=0)
                                 for i, m in enumerate(milestones))
        self.gamma = number("gamma", gamma)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        return [group["lr"] * self.gamma ** hits if hits else group["lr"] for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base_lr * self.gamma ** passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** last_epoch: multiply by gamma at every step."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = number("gamma", gamma)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]

