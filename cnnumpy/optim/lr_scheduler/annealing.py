"""Annealing along a cosine: CosineAnnealingLR (half a cosine down, per epoch) and OneCycleLR (up then down,
per batch, with momentum the other way)."""
import math
from collections.abc import Sequence
from typing import Literal

from ...nn import check
from ..optimizer import Optimizer, number
from .base import LRScheduler, checked_optimizer, per_group


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
        checked_optimizer(optimizer)
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

