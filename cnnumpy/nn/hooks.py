"""Hooks: functions of yours that a module calls around its forward and its backward (torch's names and semantics).

    m.register_forward_pre_hook(fn)          fn(module, args) -> None, or new args (a tuple, or one value)
    m.register_forward_hook(fn)              fn(module, args, output) -> None, or a new output
    m.register_full_backward_pre_hook(fn)    fn(module, grad_output) -> None, or a new grad_output (a tuple)
    m.register_full_backward_hook(fn)        fn(module, grad_input, grad_output) -> None, or a new grad_input

grad_output = (dL/dy,) and grad_input = (dL/dx,): tuples with one entry per output and per input, None where a
gradient was not computed (the first layer of a chain is not asked for dL/dx). Each register_* returns a Handle;
`handle.remove()` (or leaving `with m.register_forward_hook(fn):`) takes the hook off. Hooks run in the order
registered, at every call: in a Sequential, as a node of a graph module (a layer used twice: twice), at top level.
A graph module called inside another graph's forward is opened up into the outer graph; its hooks still see its
inputs, outputs and their gradients, through identity nodes put on the tape around it (torch does the same).

Hooks are not copied into DataParallel's worker processes (a hook is any function and need not pickle).
"""
import functools
import inspect
from collections.abc import Callable
from typing import Any

KINDS = ("forward_pre", "forward", "backward_pre", "backward")


class Hooks:
    """A module's hooks, by kind: {kind: {handle: fn}} (dicts keep the order registered)."""

    def __init__(self) -> None:
        self.table: dict[str, dict[Handle, Callable]] = {kind: {} for kind in KINDS}

    def __reduce__(self):  # a pickled module (DataParallel's workers) arrives without hooks
        return Hooks, ()

    def __deepcopy__(self, memo: dict) -> "Hooks":
        copy = Hooks()
        copy.table = {kind: dict(fns) for kind, fns in self.table.items()}
        return copy

    def __bool__(self) -> bool:
        return any(self.table.values())


class Handle:
    """What register_*_hook returns: `remove()` takes the hook off (twice is harmless); also a context manager."""

    def __init__(self, fns: dict["Handle", Callable], fn: Callable) -> None:
        self._fns = fns
        fns[self] = fn

    def remove(self) -> None:
        self._fns.pop(self, None)

    def __enter__(self) -> "Handle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def register(module: Any, kind: str, fn: Callable) -> Handle:
    """Add fn to module's hooks of this kind; the handle that removes it."""
    if not callable(fn):
        raise TypeError(f"register_{kind}_hook: hook: expected a callable, got {type(fn).__name__}")
    hooks = module.__dict__.get("_hooks")
    if hooks is None:
        hooks = module.__dict__["_hooks"] = Hooks()
    return Handle(hooks.table[kind], fn)


def _table(module: Any) -> dict[str, dict["Handle", Callable]] | None:
    hooks = module.__dict__.get("_hooks")
    return hooks.table if hooks else None


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def hooked_forward(forward: Callable) -> Callable:
    """A class's forward that runs the instance's forward pre-hooks and forward hooks around it. Only the class's
    own forward runs them: a subclass's forward calling super().forward does not run them twice."""
    @functools.wraps(forward)
    def run(self, *args, **kwargs):
        table = _table(self)
        if table is None or getattr(type(self).forward, "hook_runner", None) is not run:
            return forward(self, *args, **kwargs)
        inlined = _inlined(self, args)
        for fn in list(table["forward_pre"].values()):
            new = fn(self, _plain(args))
            if new is not None:
                args = _as_tuple(_replacing(self, new, inlined, "inputs"))
        gates = None
        if (table["backward"] or table["backward_pre"]) and inlined:
            gates, args = _mark_inputs(self, args)
        out = forward(self, *args, **kwargs)
        for fn in list(table["forward"].values()):
            new = fn(self, _plain(args), _plain(out))
            if new is not None:
                out = _replacing(self, new, inlined, "output")
        return out if gates is None else _mark_outputs(self, out, gates)
    run.hook_runner = run  # functools.wraps copies it onto a decorator's wrapper (unbatched.py): still outermost
    return run


def hooked_backward(backward: Callable) -> Callable:
    """A class's backward that runs the instance's backward pre-hooks and full backward hooks around it (once,
    as hooked_forward)."""
    @functools.wraps(backward)
    def run(self, *args, **kwargs):
        table = _table(self)
        if table is None or getattr(type(self).backward, "hook_runner", None) is not run:
            return backward(self, *args, **kwargs)
        dout, rest = (args[0], args[1:]) if args else (kwargs.pop("dout", None), ())
        grad_output = tuple(dout) if isinstance(dout, (tuple, list)) else (dout,)
        for fn in list(table["backward_pre"].values()):
            new = fn(self, grad_output)
            if new is not None:
                grad_output = _as_tuple(new)
        dout = type(dout)(grad_output) if isinstance(dout, (tuple, list)) else grad_output[0]
        dx = backward(self, dout, *rest, **kwargs)
        grad_input = _as_tuple(dx)
        for fn in list(table["backward"].values()):
            new = fn(self, grad_input, grad_output)
            if new is not None:
                grad_input = _as_tuple(new)
        return grad_input if isinstance(dx, tuple) else grad_input[0]
    run.hook_runner = run  # functools.wraps copies it onto a decorator's wrapper (unbatched.py): still outermost
    # backward's own signature, and no __wrapped__ of ours: that marks an adapter of another signature (module.py)
    run.__signature__ = inspect.signature(backward, follow_wrapped=False)
    del run.__wrapped__
    if hasattr(backward, "__wrapped__"):
        run.__wrapped__ = backward.__wrapped__
    return run


# --- a graph module opened up inside another graph: identity nodes on the tape carry its backward hooks ----

def _replacing(module: Any, new: Any, inlined: bool, what: str) -> Any:
    """A hook's replacement, where it can take effect: not for a graph module opened up in another graph, whose
    inputs and outputs are traced tensors of the outer graph (the hook sees their values)."""
    if inlined:
        raise TypeError(f"{type(module).__name__}: a hook cannot replace the {what} of a graph module called inside "
                        "another graph's forward (they are traced tensors; the hook sees their values); register it "
                        "on a layer, or return None")
    return new


def _plain(out: Any) -> Any:
    """out as the hook sees it: arrays, not traced tensors (their values; shapes alone stay traced)."""
    from .graph import _values
    from .traced import Traced
    if isinstance(out, Traced) and out._value is None or isinstance(out, (tuple, list)) and any(
            isinstance(o, Traced) and o._value is None for o in out):
        return out
    return _values(out)


class _Gate:
    """The identity on the tape at a hooked graph module's output (or input): its backward hands the gradient
    to the module's backward pre-hooks (at the output) or full backward hooks (at the input)."""
    name = "hook"

    def __init__(self, module: Any, state: dict, at: str) -> None:
        self.module, self.state, self.at = module, state, at

    def forward(self, x):
        return x, None

    def shape(self, x):
        return x

    def backward(self, dout, saved, needs):
        table = _table(self.module)
        if table is None:
            return (dout,)
        if self.at == "output":
            grad_output = (dout,)
            for fn in list(table["backward_pre"].values()):
                new = fn(self.module, grad_output)
                if new is not None:
                    grad_output = _as_tuple(new)
            self.state["grad_output"] = grad_output
            return (grad_output[0],)
        grad_input = (dout,)
        for fn in list(table["backward"].values()):
            new = fn(self.module, grad_input, self.state.get("grad_output", (None,)))
            if new is not None:
                grad_input = _as_tuple(new)
        return (grad_input[0],)


def _inlined(module: Any, values: tuple) -> bool:
    from .traced import Traced
    return type(module).is_graph() and any(isinstance(v, Traced) for v in values)


def _mark_inputs(module: Any, args: tuple) -> tuple[dict, tuple]:
    """A graph module opened up in an outer graph: its first traced argument through an input gate; (the state
    the gates of this call share, the new args)."""
    from .traced import Traced, apply
    state: dict = {}
    i = next(i for i, a in enumerate(args) if isinstance(a, Traced))
    return state, args[:i] + (apply(_Gate(module, state, "input"), args[i]),) + args[i + 1:]


def _mark_outputs(module: Any, out: Any, state: dict) -> Any:
    """... and its output (one traced tensor) through an output gate: backward meets it first, then the input's."""
    from .traced import Traced, apply
    return apply(_Gate(module, state, "output"), out) if isinstance(out, Traced) else out
