"""Optimizer: the parameter groups, per-parameter state and saving shared by SGD, Adam and RMSprop.

As in torch.optim, an optimizer holds `param_groups`, a list of dicts

    {"params": [Parameter, ...], "lr": 0.01, "momentum": 0.9, ...}

so that each group can have its own options (a scheduler or the user sets `group["lr"]`),
and `state`, a dict from each Parameter to its running buffers ({"momentum_buffer": array}, ...),
created at the parameter's first step. `step()` reads `p.grad` and updates `p.data` in place.
"""
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..nn.module import Parameter

# model.parameters(), or param groups [{"params": [...], "lr": 0.1, ...}, ...]
Params = Iterable[Parameter] | Iterable[dict[str, Any]]
Closure = Callable[[], float]


def number(name: str, value: Any, minimum: float = 0) -> float:
    """A real number (not a bool) >= minimum -> float; floats keep the update in the parameters' dtype."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__})")
    if not float(value) >= minimum:  # written this way so that NaN fails too
        raise ValueError(f"{name}: expected a value >= {minimum}, got {value}")
    return float(value)


def plain(value: Any) -> Any:
    """NumPy scalars and arrays -> Python scalars and tuples (inside dicts too), the types torch keeps.

    A checkpoint stored without pickle gives back 0-d arrays for numbers and lists or
    1-d arrays for tuples such as betas; this undoes that.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


class Optimizer:
    """Base class: holds param_groups and state; subclasses define `_check(group)` and `step()`.

    params: an iterable of Parameters, or of dicts {"params": [...], option: value, ...}
            (param groups); options missing from a group take the values in `defaults`.
    """

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        self._check(defaults)
        self.defaults = defaults
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Parameter):
            raise TypeError("params: expected an iterable of Parameters or of dicts, got a single Parameter; "
                            "pass [param] or model.parameters()")
        if isinstance(params, (dict, set)) or not hasattr(params, "__iter__"):
            raise TypeError(f"params: expected an iterable of Parameters or of dicts (e.g. model.parameters()), "
                            f"got {type(params).__name__}")
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError("params: expected at least one Parameter, got an empty list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _check(self, group: dict[str, Any]) -> None:
        """Validate a group's options, raising errors that name the option; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define _check()")

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Append a group {"params": [...], options...}; options it lacks come from `defaults`."""
        i = len(self.param_groups)
        if not isinstance(group, dict):
            raise TypeError(f"param_groups[{i}]: expected a dict, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"param_groups[{i}]: expected a 'params' key, got keys {sorted(group)}")
        params = group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, set):
            # a set's order changes between runs, and the saved state is matched by position
            raise TypeError(f"param_groups[{i}]['params']: expected an ordered collection such as a list, got a set")
        params = list(params)
        for j, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"param_groups[{i}]['params'][{j}]: expected a cnnumpy.nn.Parameter, "
                                f"got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if id(p) in seen:
                # the same array would be stepped twice per step()
                raise ValueError(f"param_groups[{i}]: a parameter {p} appears twice among the optimized parameters")
            seen.add(id(p))
        group = {"params": params, **{k: v for k, v in group.items() if k != "params"}}
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check(group)
        self.param_groups.append(group)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zeros, frozen ones' too (they are skipped by `step()` anyway).

        torch's default sets grads to None instead; here layers add into `p.grad` with +=,
        so it must stay an array. A parameter whose grad is None is skipped by `step()`.
        """
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad()

    def _grads(self, group):
        """(p, g) for each parameter of `group` that is trained and has a gradient, g in p's dtype.

        A frozen parameter (requires_grad False) is skipped whatever its grad holds, as torch skips
        a parameter whose grad is None, which is what autograd leaves a frozen one: no update, no
        weight decay, and its state (momentum, moments, step count) neither created nor advanced.
        Unfrozen, it goes on from the state it had, or starts one if it never had any, as in torch.
        """
        for p in group["params"]:
            if p.grad is None or not p.requires_grad:
                continue
            g = np.asarray(p.grad)
            if g.shape != p.data.shape:
                raise ValueError(f"{p}.grad: expected shape {p.data.shape}, got {g.shape}")
            yield p, g.astype(p.data.dtype, copy=False)

    def step(self, closure: Closure | None = None) -> float | None:
        raise NotImplementedError(f"{type(self).__name__} does not define step()")

    # --- saving ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: array or int}}, "param_groups": [{option: value, ..., "params": [index]}]}.

        Parameters are numbered 0, 1, ... in the order of the groups, as in torch; the
        arrays are copies, so the dict is a snapshot that later steps do not change.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: v.copy() if isinstance(v, np.ndarray) else v
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what `state_dict()` returned, matching parameters by position.

        Arrays are copied in the parameters' dtype; numbers given as 0-d arrays and
        tuples given as lists (as a pickle-free checkpoint returns them) are accepted.
        """
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise KeyError(f"state_dict: expected keys 'state' and 'param_groups', got {sorted(state_dict)}")
        saved = list(state_dict["param_groups"])
        if len(saved) != len(self.param_groups):
            raise ValueError(f"state_dict: expected {len(self.param_groups)} parameter groups, got {len(saved)}")
        params: dict[int, Parameter] = {}
        groups = []
        for i, (group, old) in enumerate(zip(self.param_groups, saved)):
            ids = [int(k) for k in plain(old["params"])]
            if len(ids) != len(group["params"]):
                raise ValueError(f"state_dict['param_groups'][{i}]: expected {len(group['params'])} parameters, "
                                 f"got {len(ids)}")
            params.update(zip(ids, group["params"]))
            new = {"params": group["params"],
                   **{k: plain(v) for k, v in old.items() if k != "params"}}
            self._check(new)
            groups.append(new)
        state: dict[Parameter, dict[str, Any]] = {}
        for k, entry in state_dict["state"].items():
            k = int(plain(k))
            if k not in params:
                raise ValueError(f"state_dict['state']: key {k} is not the index of a parameter "
                                 f"(expected 0 to {len(params) - 1})")
            p = params[k]
            state[p] = {}
            for name, value in entry.items():
                if name == "step":
                    value = int(plain(value))
                elif value is not None:
                    value = np.array(value, dtype=p.data.dtype)
                    if value.shape != p.data.shape:
                        raise ValueError(f"state_dict['state'][{k}][{name!r}]: expected shape {p.data.shape} "
                                         f"(the parameter's), got {value.shape}")
                state[p][name] = value
        self.param_groups = groups
        self.state = state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        lines.append(")")
        return "\n".join(lines)
