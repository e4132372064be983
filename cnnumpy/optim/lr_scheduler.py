"""Learning-rate schedulers (torch.optim.lr_scheduler): each step() writes a new lr into the param groups.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)     # opt.step() per batch
        sched.step()                    # after the optimizer's steps, as in PyTorch

Construction records each group's lr as group["initial_lr"] (kept if an earlier scheduler
set it) and takes the first step, so `last_epoch` is 0 and lr is the schedule's value at 0.
Warm-up then decay: SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt, 95)],
milestones=[5]). ReduceLROnPlateau is stepped with the validation metric: sched.step(val_loss).

The constructors have torch's arguments and defaults but for `last_epoch` (resume from
state_dict() instead, as torch recommends); state_dict() has torch's keys, without its
internal flags, and holds only numbers, strings, None, lists and dicts, so that
cnnumpy.io can store it without pickle.
"""
import bisect
import math
import numbers
import types
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ..nn import check
from .optimizer import Optimizer, number, plain


class LRScheduler:
    """Base class: step() advances last_epoch and writes get_lr() into each group's "lr".

    base_lrs: each group's initial_lr; last_epoch: steps taken since construction (0 after it).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = _optimizer(optimizer)
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


def _optimizer(optimizer):
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
        n = len(_optimizer(optimizer).param_groups)
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


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from base_lr down to eta_min over T_max steps (SGDR without restarts):

        lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2,   t = last_epoch

    Past T_max the cosine goes on, back up to base_lr at 2 * T_max, and so on.
    PyTorch computes it recursively from the current lr, and so do we (the ratio of two
    consecutive (1 + cos) factors), so that changes made to lr by others are kept; with no
    such changes the recursion gives the closed form above. At t = T_max + 1 (mod 2 T_max)
    the previous factor is 0 and the ratio undefined, so the step is added instead.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = check.positive_int("T_max", T_max)
        self.eta_min = number("eta_min", eta_min)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if t == 0:
            return [group["lr"] for group in groups]
        if (t - 1 - T) % (2 * T) == 0:
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (group["lr"] - eta_min)
                + eta_min for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018), stepped once per batch for total_steps batches.

    lr goes from initial_lr = max_lr / div_factor up to max_lr over the first pct_start of the
    steps, then down to min_lr = initial_lr / final_div_factor; momentum (SGD's momentum,
    RMSprop's momentum or Adam's beta1) goes the opposite way, max_momentum -> base_momentum
    -> max_momentum. With three_phase, lr comes back to initial_lr over a second pct_start
    and then falls to min_lr. Each phase interpolates from its start to its end value with

        cos:    end + (start - end) / 2 * (1 + cos(pi * pct))       linear: start + (end - start) * pct

    where pct goes from 0 to 1 within the phase. Stepping past total_steps is an error.
    The options are stored in each param group ("initial_lr", "max_lr", "min_lr",
    "max_momentum", "base_momentum"), as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: Literal["cos", "linear"] = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        _optimizer(optimizer)
        if total_steps is not None:
            self.total_steps = check.positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (check.positive_int("epochs", epochs)
                                * check.positive_int("steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError("total_steps: expected total_steps, or both epochs and steps_per_epoch, got "
                             f"total_steps=None, epochs={epochs}, steps_per_epoch={steps_per_epoch}")
        pct_start = check.probability("pct_start", pct_start)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy: expected 'cos' or 'linear', got {anneal_strategy!r}")
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if number(name, value) == 0:
                raise ValueError(f"{name}: expected a value > 0, got {value}")
        # Each phase runs from the previous phase's end_step (0 for the first) to its own;
        # the names say which group entries hold its start and end values.
        up = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        self._anneal_func_type = anneal_strategy
        for group, top in zip(optimizer.param_groups, per_group("max_lr", max_lr, optimizer)):
            group["initial_lr"] = top / div_factor
            group["max_lr"] = top
            group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"cycle_momentum: expected an optimizer with momentum or betas, "
                                 f"got {type(optimizer).__name__}; pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            tops = per_group("max_momentum", max_momentum, optimizer)
            bases = per_group("base_momentum", base_momentum, optimizer)
            for group, top, base in zip(optimizer.param_groups, tops, bases):
                if self.use_beta1:
                    group["betas"] = (top, *group["betas"][1:])
                else:
                    group["momentum"] = top
                group["max_momentum"] = top
                group["base_momentum"] = base
        super().__init__(optimizer)

    def anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR.step: tried to step {t} times, but total_steps is {self.total_steps}; "
                             "the schedule has ended")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if t <= end or i == len(self._schedule_phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(self.anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        m = self.anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                        if self.use_beta1:
                            group["betas"] = (m, *group["betas"][1:])
                        else:
                            group["momentum"] = m
                    break
                start = end
        return lrs


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
        _optimizer(optimizer)
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
        self.optimizer = _optimizer(optimizer)
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
