"""Parameter and Module: what every layer is built from (Sequential, the chain of layers, is in container.py).

A module's `forward(x)` returns the output and keeps in `self.cache` what its
`backward(dout, input_grad=True)` needs; `backward` returns dL/dx (None when told input_grad=False)
and *adds* dL/dparam into each trainable parameter's `.grad`, as PyTorch accumulates, so call
`zero_grad()` between steps. A frozen parameter (requires_grad False) gets nothing added.
That is every module's one backward signature; Module's docstring says what becomes of a
`backward(self, dout)` written without input_grad.
"""
import functools
import inspect
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import check, graph, hooks
from .parameter import Parameter
from .summary import Summary
from .summary import summary as layer_table

_M = TypeVar("_M", bound="Module")  # methods that return self return the caller's own class


class BackwardBeforeForward(RuntimeError, ValueError):
    """backward() was called with nothing cached by forward().

    A RuntimeError as in PyTorch, and a ValueError because it is a misuse of the
    arguments' order, which is how the rest of the package reports misuse.
    """


class Module:
    """Base class: walks its attributes to find parameters, buffers and children.

    Subclasses set parameters (`Parameter`), child modules and buffers
    (`self.register_buffer(name, array)`) as attributes; their order of
    assignment is the order of `state_dict()` keys, as in PyTorch.

    Subclasses define `forward(x)` and `backward(dout, input_grad=True)`, and callers always call
    `backward(dout, input_grad=...)`. A subclass may write its backward as CS231n does, `backward(self, dout)`,
    without input_grad: when the class is defined, that backward is wrapped once into the full signature,
    which calls it with dout alone (it computes dL/dx whether asked or not) and returns None when
    input_grad=False, as every backward does. A backward that cannot take dout is a TypeError when its class
    is defined, naming the class and the expected signature.
    """

    _graph = False  # whether the class is a graph module (see is_graph); set once per class below

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        backward = vars(cls).get("backward")
        if inspect.isfunction(backward):
            signature = inspect.signature(backward)  # once per class, never per call
            try:
                signature.bind(None, None)  # self, dout
            except TypeError:
                raise TypeError(f"{cls.__name__}.backward{signature}: expected backward(self, dout, input_grad=True) "
                                "or backward(self, dout)") from None
            if "input_grad" not in signature.parameters:
                cls.backward = _with_input_grad(backward)
        cls._graph = cls.backward is Module.backward and cls.forward is not Module.forward  # once per class
        forward = vars(cls).get("forward")
        if cls._graph and inspect.isfunction(forward) and not getattr(forward, "traced", False):
            cls.forward = graph.traced_forward(forward)
            if "compute_output_shape" not in vars(cls):
                cls.compute_output_shape = _traced_shape(forward)
        for name, wrap in (("forward", hooks.hooked_forward), ("backward", hooks.hooked_backward)):
            own = vars(cls).get(name)
            if inspect.isfunction(own) and not hasattr(own, "hook_runner"):
                setattr(cls, name, wrap(own))  # the instance's hooks run around each call (hooks.py)

    @classmethod
    def is_graph(cls) -> bool:
        """Whether this is a graph module: it defines forward and no backward, so backward comes from the graph
        its forward traces (see cnnumpy.nn.graph)."""
        return cls._graph

    def __init__(self) -> None:
        self.training = True
        self.cache: Any = None
        self._buffers: list[str] = []

    # --- the two passes -------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: dL/dy, shaped as forward's output -> dL/dx, or None when input_grad=False (nobody needs it);
        adds dL/dparam into each trainable parameter's .grad.

        A layer writes its own. A graph module (forward only) gets this one: the graph its last forward traced,
        run in reverse (see cnnumpy.nn.graph); with several outputs, dout is a tuple with one array per output
        (None for one that did not reach the loss), and with several inputs the result is a tuple.
        """
        if not type(self).is_graph():
            raise NotImplementedError(f"{type(self).__name__} does not define backward()")
        return graph.backward(self, self.saved(), dout, input_grad)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not type(self)._graph and graph.any_traced(args, kwargs):
            return graph.call_layer(self, args, kwargs)  # a layer inside a traced forward: a node of the graph
        return self.forward(*args, **kwargs)

    # --- hooks (hooks.py: torch's names and semantics) -------------------------------------------
    def register_forward_pre_hook(self, hook: Any) -> hooks.Handle:
        """hook(module, args) -> None or new args, before each forward; a Handle whose remove() takes it off."""
        return hooks.register(self, "forward_pre", hook)

    def register_forward_hook(self, hook: Any) -> hooks.Handle:
        """hook(module, args, output) -> None or a new output, after each forward."""
        return hooks.register(self, "forward", hook)

    def register_full_backward_pre_hook(self, hook: Any) -> hooks.Handle:
        """hook(module, grad_output) -> None or a new grad_output (a tuple), before each backward."""
        return hooks.register(self, "backward_pre", hook)

    def register_full_backward_hook(self, hook: Any) -> hooks.Handle:
        """hook(module, grad_input, grad_output) -> None or a new grad_input (a tuple), after each backward."""
        return hooks.register(self, "backward", hook)

    # --- what a forward pass would do, without doing it ---------------------------------
    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """The shape forward returns for an input of `input_shape` (batch axis included), computed from the shapes
        alone (Keras' name); the errors forward would raise for such an input, naming x and its shape.

        Every layer and container of the package defines it (not the losses, whose forward takes targets too);
        cnnumpy.summary runs a forward pass instead for a module whose class defines forward but not this.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define compute_output_shape()")

    def macs(self, input_shape: check.Shape) -> int:
        """Multiply-adds of one forward call on an input of `input_shape` (batch axis included), for
        cnnumpy.summary: 0 unless a layer says otherwise (Conv2d, Linear, BatchNorm). Pooling, activations,
        dropout, flatten and containers compare, add or copy, but do not multiply-add; containers' children
        count their own."""
        return 0

    def output_is_view(self) -> bool:
        """Whether forward, in the current mode, returns its input or a view of it (Flatten; Dropout in eval
        mode): an output with no memory of its own, which cnnumpy.summary does not count."""
        return False

    def saved(self) -> Any:
        """What forward cached; a clear error if forward has not run yet."""
        if self.cache is None:
            raise BackwardBeforeForward(
                f"{type(self).__name__}.backward: expected forward() to be called first, "
                "but nothing is cached")
        return self.cache

    # --- traversal ------------------------------------------------------
    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """A non-trainable array saved in state_dict (e.g. BatchNorm's running mean)."""
        setattr(self, name, value)
        if name not in self._buffers:
            self._buffers.append(name)

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> list["Module"]:
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> list["Module"]:
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) of this module's parameters, then (recurse=True) its children's, as torch's."""
        for name, value in vars(self).items():
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(value, Parameter):
                yield full, value
            elif recurse and isinstance(value, Module):
                yield from value.named_parameters(full)

    def parameters(self, recurse: bool = True) -> list[Parameter]:
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Any]]:
        """(dotted name, buffer) of this module's buffers, then (recurse=True) its children's, as torch's."""
        for name, value in vars(self).items():
            full = f"{prefix}.{name}" if prefix else name
            if name in self._buffers:
                yield full, value
            elif recurse and isinstance(value, Module):
                yield from value.named_buffers(full)

    # --- modes and housekeeping -----------------------------------------
    def train(self: _M, mode: bool = True) -> _M:
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self: _M) -> _M:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def requires_grad_(self: _M, requires_grad: bool = True) -> _M:
        """Freeze (False) or unfreeze (True) every parameter of this module and its children; returns self.

        As torch.nn.Module.requires_grad_: `model.features.requires_grad_(False)` trains only the rest.
        """
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self: _M, dtype: DTypeLike) -> _M:
        """Convert every parameter and floating buffer to `dtype` (e.g. np.float64); returns self."""
        if dtype is None:  # np.dtype(None) is float64: a conversion must say what it converts to
            raise TypeError("dtype: expected a floating dtype such as np.float32 or np.float64, got None")
        dtype = check.float_dtype("dtype", dtype)  # floating, in the machine's byte order
        for m in self.modules():
            for name, value in vars(m).items():
                if isinstance(value, Parameter):
                    value.data = value.data.astype(dtype)
                    value.grad = value.grad.astype(dtype)
                elif name in m._buffers and np.issubdtype(np.asarray(value).dtype, np.floating):
                    setattr(m, name, np.asarray(value).astype(dtype))
            m.cache = None
        return self

    def float(self: _M) -> _M:
        return self.to(np.float32)

    def double(self: _M) -> _M:
        return self.to(np.float64)

    # --- saving ---------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{"0.weight": array, ..., "1.running_mean": array}: copies, PyTorch's keys."""
        state = {}
        for m_name, m in self.named_modules():
            for name, value in vars(m).items():
                key = f"{m_name}.{name}" if m_name else name
                if isinstance(value, Parameter):
                    state[key] = value.data.copy()
                elif name in m._buffers:
                    state[key] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state: Mapping[str, ArrayLike], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays (NumPy, or anything np.asarray takes, such as CPU torch tensors) into this module.

        Values keep this module's dtypes. With strict=True, missing or unexpected keys are an error.
        Returns (missing_keys, unexpected_keys).
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        targets = {}
        for m_name, m in self.named_modules():
            for name, value in vars(m).items():
                key = f"{m_name}.{name}" if m_name else name
                if isinstance(value, Parameter) or name in m._buffers:
                    targets[key] = (m, name, value)
        for key, (m, name, value) in targets.items():
            if key not in state:
                continue
            new = np.asarray(state[key])
            old = value.data if isinstance(value, Parameter) else np.asarray(value)
            if new.shape != old.shape:
                raise ValueError(f"state_dict[{key!r}]: expected shape {old.shape}, got {new.shape}")
            new = new.astype(old.dtype, copy=True)
            if isinstance(value, Parameter):
                value.data = new
                if value.grad.shape != new.shape or value.grad.dtype != new.dtype:
                    value.grad = np.zeros(new.shape, new.dtype)
            else:
                setattr(m, name, new)
        return missing, unexpected

    # --- display --------------------------------------------------------
    def summary(self, input_shape: check.Shape) -> Summary:
        """The layer table for one input of `input_shape` (no batch axis, e.g. (1, 28, 28)): output shapes,
        parameters, multiply-adds, memory. See cnnumpy.summary.summary; print the result to see it."""
        return layer_table(self, input_shape)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)


Module.forward = hooks.hooked_forward(Module.forward)
Module.backward = hooks.hooked_backward(Module.backward)


def _traced_shape(forward):
    """compute_output_shape of a graph module: its forward traced on shapes alone."""
    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """The shape forward returns for an input of `input_shape`: forward traced on shapes, nothing computed."""
        return graph.output_shape(self, forward, check.shape("input_shape", input_shape))
    return compute_output_shape


def _with_input_grad(backward):
    """backward(self, dout) -> backward(self, dout, input_grad=True): the one signature every caller uses."""
    @functools.wraps(backward)
    def with_input_grad(self, dout, input_grad=True):
        dx = backward(self, dout)
        return dx if input_grad else None
    return with_input_grad
