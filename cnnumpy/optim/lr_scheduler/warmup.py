"""Warm-up and composite schedules: LinearLR (a linear ramp of the lr factor), LambdaLR (any function of the
step) and SequentialLR (schedulers one after another, such as a warm-up then a decay)."""
import bisect
import numbers
import types
from collections.abc import Callable, Sequence
from typing import Any

from ...nn import check
from ..optimizer import Optimizer, number, plain
from .base import LRScheduler, checked_optimizer, plain_copy
from .plateau import ReduceLROnPlateau


class LinearLR(LRScheduler):
    """lr = base_lr * f_t, with the factor f going linearly from start_factor to end_factor over
    total_iters steps and staying there (a warm-up, with the defaults from base_lr / 3 to base_lr):

        f_t = start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters

    Computed recursively as in PyTorch, lr_t = lr_{t-1} * f_t / f_{t-1}, so changes made to lr
    between steps by others are kept; with no such changes this is the formula above.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        # start_factor = 0 would leave nothing to multiply back up from
        if not 0 < number("start_factor", start_factor) <= 1:
            raise ValueError(f"start_factor: expected a value in (0, 1], got {start_factor}")
        if not 0 <= number("end_factor", end_factor) <= 1:
            raise ValueError(f"end_factor: expected a value in [0, 1], got {end_factor}")
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.total_iters = check.positive_int("total_iters", total_iters)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        t, groups = self.last_epoch, self.optimizer.param_groups
        if t == 0:
            return [group["lr"] * self.start_factor for group in groups]
        if t > self.total_iters:
            return [group["lr"] for group in groups]
        # f_t / f_{t-1}, written as torch writes it (so that the lrs agree to the last bit)
        ratio = 1.0 + (self.end_factor - self.start_factor) / (
            self.total_iters * self.start_factor + (t - 1) * (self.end_factor - self.start_factor))
        return [group["lr"] * ratio for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        f = (self.start_factor + (self.end_factor - self.start_factor)
             * min(self.total_iters, self.last_epoch) / self.total_iters)
        return [base_lr * f for base_lr in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(last_epoch): any schedule, as a function of the step.

    lr_lambda: a function of the int epoch giving a factor, or a list of them, one per param group.
        LambdaLR(opt, lambda epoch: 0.95 ** epoch) is ExponentialLR(opt, 0.95).

    state_dict() cannot hold code, so, as in torch, "lr_lambdas" holds None for a function or a
    lambda, and a copy of the attributes (vars) of a callable object. load_state_dict() restores
    those attributes into the objects given at construction: rebuild the scheduler with the same
    functions, then load. Through cnnumpy.io (no pickle) an object's attributes survive if they are
    plain data (numbers, strings, None, lists, dicts, arrays), and come back as numbers and lists.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]]) -> None:
        n = len(checked_optimizer(optimizer).param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"lr_lambda: expected a function or {n} functions (one per param group), "
                                 f"got {len(lr_lambda)}")
            names = [f"lr_lambda[{i}]" for i in range(n)]
            self.lr_lambdas = list(lr_lambda)
        else:
            names = ["lr_lambda"] * n
            self.lr_lambdas = [lr_lambda] * n
        for name, fn in zip(names, self.lr_lambdas):
            if not callable(fn):
                raise TypeError(f"{name}: expected a function of the epoch, got {fn!r} ({type(fn).__name__})")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        state = {k: plain_copy(v) for k, v in vars(self).items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) or not hasattr(fn, "__dict__")
                               else plain_copy(vars(fn)) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_keys(state_dict)
        saved = list(state_dict["lr_lambdas"])
        if len(saved) != len(self.lr_lambdas):
            raise ValueError(f"state_dict['lr_lambdas']: expected {len(self.lr_lambdas)} entries (one per "
                             f"param group), got {len(saved)}")
        for k, v in state_dict.items():
            if k != "lr_lambdas":
                setattr(self, k, plain_copy(plain(v)))
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                vars(fn).update(plain_copy(plain(attrs)))


class SequentialLR(LRScheduler):
    """Run schedulers one after another: schedulers[i] from step milestones[i - 1] (0 for the first).

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        decay = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warmup, decay], milestones=[5])

    As in torch 2.13: construction puts every group's lr back to initial_lr, winds every
    scheduler back one step (their constructors each took one) and takes the first step of
    schedulers[0] only. At a milestone the next scheduler restarts at its epoch 0 from its
    base_lrs (its closed form, as torch's `_update_lr(0)`, which emits no warning); in between
    the scheduler in charge takes ordinary steps and the others are left alone, so each
    scheduler's own get_last_lr() and last_epoch are those of its last step.
    state_dict()["_schedulers"] holds the schedulers' state_dicts: rebuild the same schedulers
    and the SequentialLR, then load.
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        checked_optimizer(optimizer)
        if isinstance(schedulers, LRScheduler) or not isinstance(schedulers, (list, tuple)):
            raise TypeError(f"schedulers: expected a list of schedulers, got {type(schedulers).__name__}")
        if not schedulers:
            raise ValueError("schedulers: expected at least one scheduler, got an empty list")
        for i, sched in enumerate(schedulers):
            if not isinstance(sched, LRScheduler):
                raise TypeError(f"schedulers[{i}]: expected a cnnumpy.optim.lr_scheduler scheduler, "
                                f"got {type(sched).__name__}")
            if isinstance(sched, ReduceLROnPlateau):
                raise ValueError(f"schedulers[{i}]: ReduceLROnPlateau cannot be sequenced: its step() needs the "
                                 "metric")
            if sched.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}]: expected a scheduler of this SequentialLR's optimizer, got a "
                                 f"{type(sched).__name__} of another {type(sched.optimizer).__name__}")
        if isinstance(milestones, numbers.Number) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"milestones: expected a list of ints, got {milestones!r}")
        milestones = [check.positive_int(f"milestones[{i}]", m, minimum=0) for i, m in enumerate(milestones)]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"milestones: expected {len(schedulers) - 1} milestones (one fewer than the "
                             f"{len(schedulers)} schedulers), got {len(milestones)}")
        if milestones != sorted(milestones):
            raise ValueError(f"milestones: expected increasing steps, got {milestones}")
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = milestones
        self.last_epoch = 0
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _wind_back(self)
        first = self._schedulers[bisect.bisect_right(milestones, 0)]
        first.step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        i = bisect.bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = {k: plain_copy(v) for k, v in vars(self).items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [sched.state_dict() for sched in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_keys(state_dict)
        saved = list(state_dict["_schedulers"])
        if len(saved) != len(self._schedulers):
            raise ValueError(f"state_dict['_schedulers']: expected {len(self._schedulers)} schedulers' states, "
                             f"got {len(saved)}")
        for k, v in state_dict.items():
            if k != "_schedulers":
                setattr(self, k, plain_copy(plain(v)))
        for sched, state in zip(self._schedulers, saved):
            sched.load_state_dict(state)


def _wind_back(sched):
    """Undo the step each scheduler took at construction (through nested SequentialLRs, as torch)."""
    if isinstance(sched, SequentialLR):
        for inner in sched._schedulers:
            _wind_back(inner)
    else:
        sched.last_epoch -= 1

