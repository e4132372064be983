"""The base class of the schedulers and the helpers they share: LRScheduler steps, records and restores.

A scheduler's constructor validates its arguments, then calls LRScheduler.__init__, which records each
group's lr as group["initial_lr"] and takes the first step; step() writes get_lr() into the param groups.
"""
from collections.abc import Sequence
from typing import Any

from ..optimizer import Optimizer, number, plain


class LRScheduler:
    """Base class: step() advances last_epoch and writes get_lr() into each group's "lr".

    base_lrs: each group's initial_lr; last_epoch: steps taken since construction (0 after it).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = checked_optimizer(optimizer)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def get_lr(self) -> list[float]:
        """The lrs for step `last_epoch`, one per param group."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def _get_closed_form_lr(self) -> list[float]:
        """The lrs at `last_epoch` from base_lrs alone, for a jump to an epoch (SequentialLR restarts a
        schedule at 0 this way); the recursive get_lr() would go on from the current lr instead.
        Schedules whose get_lr() already reads only base_lrs and last_epoch keep this default."""
        return self.get_lr()

    def step(self) -> None:
        """Advance one step (an epoch, or a batch for OneCycleLR) and set each group's lr."""
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        """Step to last_epoch + 1 with get_lr(), or jump to `epoch` with the closed form, as torch's."""
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            lrs = self._get_closed_form_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs set by the last step(), one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (torch's keys; plain numbers, strings, lists and dicts)."""
        return {k: plain_copy(v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what state_dict() returned; 0-d arrays and tuples are turned back into numbers and lists."""
        self._check_keys(state_dict)
        for k, v in state_dict.items():
            setattr(self, k, plain_copy(plain(v)))

    def _check_keys(self, state_dict):
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if missing or unexpected:
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")


def checked_optimizer(optimizer: Optimizer) -> Optimizer:
    """optimizer itself, or TypeError if it is not one of cnnumpy.optim's."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a cnnumpy.optim optimizer, got {type(optimizer).__name__}")
    return optimizer


def plain_copy(value: Any) -> Any:
    """A copy in which tuples are lists and dict keys stay as they are (lists of dicts for OneCycle's phases)."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_copy(v) for v in value]
    return value


def per_group(name: str, value: float | Sequence[float], optimizer: Optimizer) -> list[float]:
    """A number or one per param group -> a list with one value >= 0 per group."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: expected a number or {n} numbers (one per param group), "
                             f"got {len(value)} values")
        return [number(f"{name}[{i}]", v) for i, v in enumerate(value)]
    return [number(name, value)] * n

