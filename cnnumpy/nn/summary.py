"""The layer table of a model, like Keras' model.summary() or torchinfo: shapes, parameters, multiply-adds, memory.

    from cnnumpy.models import lenet5
    print(lenet5().summary((1, 28, 28)))       # or cnnumpy.summary.summary(model, (1, 28, 28))

The rows come from the shapes alone when every module of the model has `compute_output_shape` (every layer and
container of the package does): each container asks its children in the order its forward calls them, so nothing
is computed or allocated, whatever the input's size. A model holding a module that has no such method (a user's own
Module with a custom forward) is run instead: one forward pass of a zero image, in eval mode, with every module's
mode and cache put back afterwards. Either way the table shows what the layers do, whatever their nesting; the
figures themselves come from the layers (`macs`, `output_is_view`), so this file knows no layer by name, and not
even the Module class: it uses only what every module provides (`ModuleLike` below). nn.module imports this file
for Module.summary(), so importing nn.module here would be a circle.
"""
import inspect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

MAX_INPUT_BYTES = 1 << 28  # the default bound on the zero image of a forward pass: 256 MiB


@runtime_checkable
class ModuleLike(Protocol):
    """What summary uses of a model and of each of its modules: every cnnumpy Module has it (a torch module has
    no `macs`, so it is refused by name)."""
    training: bool
    cache: Any

    def forward(self, x: np.ndarray) -> np.ndarray: ...
    def compute_output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]: ...
    def macs(self, input_shape: Sequence[int]) -> int: ...
    def output_is_view(self) -> bool: ...
    def children(self) -> list[Any]: ...
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Any]]: ...
    def parameters(self, recurse: bool = True) -> list[Any]: ...
    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Any]]: ...
    def eval(self) -> Any: ...


@dataclass
class Row:
    """One call of one module: its dotted name (the state_dict prefix), type, nesting depth (1 = a child of
    the model), output shape for one image (batch axis left out), parameters held directly, multiply-adds
    (0 for containers), and whether it is a container (has children, whose rows follow)."""
    name: str
    type: str
    depth: int
    output_shape: tuple[int, ...]
    params: int
    macs: int
    container: bool


@dataclass
class Summary:
    """The table (str() or repr()) and its totals.

    params: parameter values (each shared Parameter once); trainable: those of parameters with requires_grad
    (not frozen); buffers: values of floating buffers (not trained); macs: multiply-adds for one image.
    *_bytes: memory for one image, forward pass only.
    """
    model_type: str
    input_shape: tuple[int, ...]
    dtype: np.dtype
    rows: list[Row]
    params: int
    trainable: int
    buffers: int
    macs: int
    input_bytes: int
    activation_bytes: int
    param_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.activation_bytes + self.param_bytes

    def __str__(self) -> str:
        cells = [(" " * 2 * (r.depth - 1) + (f"{r.name} ({r.type})" if r.name else r.type),
                  "(" + ", ".join(map(str, r.output_shape)) + ")",
                  "--" if r.container and not r.params else f"{r.params:,}",
                  "--" if r.container else f"{r.macs:,}") for r in self.rows]
        head = ("Layer (type)", "Output shape", "Params", "Mult-adds")
        widths = [max(len(c[i]) for c in cells + [head]) for i in range(4)]

        def line(c):
            return f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:>{widths[2]}}  {c[3]:>{widths[3]}}"

        rule = "-" * len(line(head))
        shape = ", ".join(map(str, self.input_shape))
        lines = [f"{self.model_type} on one image of shape ({shape}), {self.dtype}; "
                 "shapes without the batch axis", "=" * len(rule), line(head), rule]
        lines += [line(c) for c in cells]
        lines += ["=" * len(rule),
                  f"Params: {self.params:,} ({self.trainable:,} trainable)",
                  f"Buffers (not trained, e.g. BatchNorm running statistics): {self.buffers:,} values",
                  f"Mult-adds: {self.macs:,} ({self.macs / 1e6:.2f} M)",
                  rule,
                  f"Input:                {_size(self.input_bytes)}",
                  f"Forward activations:  {_size(self.activation_bytes)}",
                  f"Params:               {_size(self.param_bytes)}",
                  f"Total:                {_size(self.total_bytes)}",
                  "=" * len(rule)]
        return "\n".join(lines)

    __repr__ = __str__


def _size(n: int) -> str:
    """1234567 -> '1,234,567 bytes (1.18 MiB)'."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n:,} bytes ({n / scale:.2f} {unit})"
    return f"{n:,} bytes"


def _own_params(module):
    """Number of parameter values held by `module` itself, not by its children."""
    return sum(p.data.size for p in module.parameters(recurse=False))


def _own_buffers(module):
    """Number of values in the floating buffers of `module` itself (BatchNorm's running mean and variance)."""
    arrays = [np.asarray(b) for _, b in module.named_buffers(recurse=False) if b is not None]
    return sum(a.size for a in arrays if np.issubdtype(a.dtype, np.floating))


def _is_graph(module: ModuleLike) -> bool:
    """Whether module is a graph module (nn.graph): a forward without a backward of its own."""
    is_graph = getattr(type(module), "is_graph", None)
    return bool(is_graph and is_graph())


def _runs_in_trace(module: ModuleLike) -> bool:
    """Whether a graph's trace on shapes runs the layer's forward (on zeros) rather than its compute_output_shape
    (graph._layer_shapes): it returns indices too, or its forward takes more than one input (MaxUnpool2d)."""
    takes = [p for p in inspect.signature(module.forward).parameters.values()
             if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return bool(getattr(module, "return_indices", False)) or len(takes) > 1


def knows_shapes(module: ModuleLike) -> bool:
    """Whether module.compute_output_shape describes its forward: the class that defines compute_output_shape is
    the one that defines forward, or a subclass of it, and is not the base class (the last to define it), whose
    compute_output_shape only raises. (A user's subclass of Sequential with its own forward inherits
    Sequential's compute_output_shape, which no longer describes it.)"""
    mro = type(module).__mro__
    forward = next(c for c in mro if "forward" in vars(c))
    shapes = [c for c in mro if "compute_output_shape" in vars(c)]
    return len(shapes) > 1 and issubclass(shapes[0], forward)


def summary(model: ModuleLike, input_shape: Sequence[int], forward: bool | None = None,
            max_input_bytes: int = MAX_INPUT_BYTES) -> Summary:
    """The layer table of `model` for one input of `input_shape` (without the batch axis, e.g. (1, 28, 28)).

    Rows follow the order of the forward pass; a module called twice has two rows. Containers (modules with
    children: Sequential, Residual) show "--" unless they hold parameters themselves, so the Params and
    Mult-adds columns add up to the totals. Mult-adds are each layer's `macs`.
    Memory is for one image in the parameters' dtype: the input, the outputs of every leaf layer (an output
    that is its input or a view of it, as Flatten's, takes no memory and is not counted), the parameters.

    forward: None (the default) computes the rows from the shapes (compute_output_shape) when every module
    knows them (see knows_shapes), else runs a forward pass; True always runs the forward pass; False never
    does (a TypeError names the modules that do not know their shapes).
    max_input_bytes: the forward pass refuses, with a ValueError naming input_shape, an input larger than this
    (the zero image alone; its activations take more), and turns running out of memory into the same error.
    Returns a Summary; print it to see the table.
    """
    if not isinstance(model, ModuleLike):
        raise TypeError(f"model: expected a cnnumpy Module, got {type(model).__name__}")
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in input_shape)):
        raise ValueError(f"input_shape: expected a non-empty tuple of ints > 0 without the batch axis, "
                         f"e.g. (1, 28, 28), got {input_shape!r}")
    if forward not in (None, True, False):
        raise TypeError(f"forward: expected None, True or False, got {forward!r}")
    input_shape = tuple(int(n) for n in input_shape)
    params = list({id(p): p for p in model.parameters()}.values())  # a shared layer's parameters count once
    dtype = np.dtype(params[0].dtype if params else np.float32)
    names = {id(m): name for name, m in model.named_modules()}
    modules = list({id(m): m for m in model.modules()}.values())  # a shared layer is hooked once
    blind = sorted({type(m).__name__ for m in modules if not knows_shapes(m)})
    if forward is False and blind:
        raise TypeError(f"forward: False needs compute_output_shape in every module; {', '.join(blind)} "
                        "define forward without it")
    by_shapes = not forward and not blind
    input_bytes = math.prod(input_shape) * dtype.itemsize
    if not by_shapes and input_bytes > max_input_bytes:
        why = f"{', '.join(blind)} has no compute_output_shape, so " if blind else ""
        raise ValueError(f"input_shape: {why}the table needs a forward pass, and an input of shape {input_shape} "
                         f"takes {_size(input_bytes)} alone, more than max_input_bytes={max_input_bytes:,}")
    saved = [(m, m.training, m.cache) for m in modules]
    rows, depth, activation_bytes, recording = [], 0, 0, True

    def hooked(m, fn):
        def call(x, *args, **kwargs):
            nonlocal depth, activation_bytes, recording
            if not recording:  # a layer's macs asking its own compute_output_shape
                return fn(x, *args, **kwargs)
            leaf = not m.children()
            # the model itself gets a row only when it is a single layer
            row = Row(names[id(m)], type(m).__name__, max(depth, 1), (), _own_params(m), 0, not leaf)
            if m is not model or leaf:
                rows.append(row)
            depth += 1
            try:
                y = fn(x, *args, **kwargs)
            finally:
                depth -= 1
            # from compute_output_shape, shapes; from forward, arrays or (inside a graph's trace) traced tensors, or
            # a tuple of them (MaxPool2d's output and indices: the row shows the first)
            shapes = isinstance(x, tuple)
            outs = [y] if shapes or not isinstance(y, tuple) else list(y)
            x_shape, y_shape = (tuple(x), tuple(y)) if shapes else (np.shape(x), np.shape(outs[0]))
            row.output_shape = y_shape[1:]
            if leaf:
                recording = False
                try:
                    row.macs = m.macs(x_shape)
                finally:
                    recording = True
                if shapes:
                    activation_bytes += 0 if m.output_is_view() else math.prod(y_shape) * dtype.itemsize
                else:
                    activation_bytes += sum(np.asarray(o).nbytes for o in outs if not np.shares_memory(o, x))
            return y
        return call

    method = "compute_output_shape" if by_shapes else "forward"
    # a graph module inside another is opened up by calling its forward on traced tensors, shapes or not
    hooks = [(m, method) for m in modules]
    hooks += [(m, "forward") for m in modules if by_shapes and _is_graph(m) and m is not model]
    # and so is a layer that a trace runs on zeros for want of shapes: several outputs or several inputs
    hooks += [(m, "forward") for m in modules if by_shapes and not m.children() and _runs_in_trace(m)]
    model.eval()
    try:
        for m, name in hooks:
            # an instance attribute wins over the class's method, and Module.__call__ looks up self.forward
            setattr(m, name, hooked(m, getattr(m, name)))
        try:
            if by_shapes:
                model.compute_output_shape((1,) + input_shape)
            else:
                model(np.zeros((1,) + input_shape, dtype=dtype))
        except (ValueError, TypeError) as e:
            raise ValueError(f"input_shape: the model does not take an input of shape {input_shape}: {e}") from e
        except MemoryError as e:
            raise ValueError(f"input_shape: a forward pass on an input of shape {input_shape} ran out of memory "
                             f"({e}); ask for a smaller one") from e
    finally:
        for m, training, cache in saved:
            vars(m).pop(method, None)
            vars(m).pop("forward", None)
            m.training, m.cache = training, cache
    n_params = sum(p.data.size for p in params)
    return Summary(
        model_type=type(model).__name__, input_shape=input_shape, dtype=dtype, rows=rows,
        params=n_params, trainable=sum(p.data.size for p in params if p.requires_grad),
        buffers=sum(_own_buffers(m) for m in modules), macs=sum(r.macs for r in rows), input_bytes=input_bytes,
        activation_bytes=activation_bytes, param_bytes=sum(p.data.nbytes for p in params))
