"""The layer table of a model, like Keras' model.summary() or torchinfo: shapes, parameters, multiply-adds, memory.

    from cnnumpy.models import lenet5
    print(lenet5().summary((1, 28, 28)))       # or cnnumpy.summary.summary(model, (1, 28, 28))

The table comes from one forward pass of a zero image through the model (in eval mode, with every
module's mode and cache put back afterwards), so it shows what the layers really do, whatever their nesting.
"""
import math
from dataclasses import dataclass

import numpy as np

from .nn.conv import Conv2d
from .nn.linear import Linear
from .nn.module import Module, Parameter
from .nn.norm import BatchNorm1d, BatchNorm2d


@dataclass
class Row:
    """One call of one module: its dotted name (the state_dict prefix), type, nesting depth (1 = a child of
    the model), output shape for one image (batch axis left out), parameters held directly, multiply-adds
    (0 for containers), and whether it is a container (has children, whose rows follow)."""
    name: str
    type: str
    depth: int
    output_shape: tuple
    params: int
    macs: int
    container: bool


@dataclass
class Summary:
    """The table (str() or repr()) and its totals.

    params: parameter values (each shared Parameter once); trainable: the same number, since cnnumpy trains
    every Parameter (the field is there for readers of Keras and torchinfo tables); buffers: values of floating
    buffers (not trained); macs: multiply-adds for one image. *_bytes: memory for one image, forward pass only.
    """
    model_type: str
    input_shape: tuple
    dtype: np.dtype
    rows: list
    params: int
    trainable: int
    buffers: int
    macs: int
    input_bytes: int
    activation_bytes: int
    param_bytes: int

    @property
    def total_bytes(self):
        return self.input_bytes + self.activation_bytes + self.param_bytes

    def __str__(self):
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


def _size(n):
    """1234567 -> '1,234,567 bytes (1.18 MiB)'."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n:,} bytes ({n / scale:.2f} {unit})"
    return f"{n:,} bytes"


def macs(module, x_shape, y_shape):
    """Multiply-adds of one call of a leaf module that maps x_shape to y_shape (shapes with their batch axis).

    Conv2d:      H_out*W_out*C_out * (C_in/groups)*kh*kw per image (each output value is one dot product)
    Linear:      in_features*out_features per row
    BatchNorm:   one per value: at inference it is y = x*s + t with s, t fixed per channel
    everything else (pooling, activations, dropout, flatten, the addition of a residual block): 0,
    as they compare, add or copy but do not multiply-add. Bias additions are not counted.
    """
    if isinstance(module, Conv2d):
        kh, kw = module.kernel_size
        return math.prod(y_shape) * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, Linear):
        return math.prod(y_shape[:-1]) * module.in_features * module.out_features
    if isinstance(module, (BatchNorm1d, BatchNorm2d)):
        return math.prod(y_shape)
    return 0


def _own_params(module):
    """Number of parameter values held by `module` itself, not by its children."""
    return sum(v.data.size for v in vars(module).values() if isinstance(v, Parameter))


def _own_buffers(module):
    """Number of values in the floating buffers of `module` itself (BatchNorm's running mean and variance)."""
    arrays = [np.asarray(getattr(module, b)) for b in module._buffers if getattr(module, b) is not None]
    return sum(a.size for a in arrays if np.issubdtype(a.dtype, np.floating))


def summary(model, input_shape):
    """The layer table of `model` for one input of `input_shape` (without the batch axis, e.g. (1, 28, 28)).

    Rows follow the order of the forward pass; a module called twice has two rows. Containers (modules with
    children: Sequential, Residual) show "--" unless they hold parameters themselves, so the Params and
    Mult-adds columns add up to the totals. Mult-adds are defined in `macs`.
    Memory is for one image in the parameters' dtype: the input, the outputs of every leaf layer (an output
    that is a view of its input, as Flatten's, takes no memory and is not counted), the parameters.
    Returns a Summary; print it to see the table.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a cnnumpy Module, got {type(model).__name__}")
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in input_shape)):
        raise ValueError(f"input_shape: expected a non-empty tuple of ints > 0 without the batch axis, "
                         f"e.g. (1, 28, 28), got {input_shape!r}")
    input_shape = tuple(int(n) for n in input_shape)
    params = list({id(p): p for p in model.parameters()}.values())  # a shared layer's parameters count once
    dtype = params[0].dtype if params else np.dtype(np.float32)
    names = {id(m): name for name, m in model.named_modules()}
    modules = list({id(m): m for m in model.modules()}.values())  # a shared layer is hooked once
    saved = [(m, m.training, m.cache) for m in modules]
    rows, depth, activation_bytes = [], 0, 0

    def hooked(m, forward):
        def call(x, *args, **kwargs):
            nonlocal depth, activation_bytes
            leaf = not m.children()
            # the model itself gets a row only when it is a single layer
            row = Row(names[id(m)], type(m).__name__, max(depth, 1), (), _own_params(m), 0, not leaf)
            if m is not model or leaf:
                rows.append(row)
            depth += 1
            try:
                y = forward(x, *args, **kwargs)
            finally:
                depth -= 1
            row.output_shape = tuple(np.shape(y)[1:])
            if not row.container:
                row.macs = macs(m, np.shape(x), np.shape(y))
                if not np.shares_memory(y, x):
                    activation_bytes += np.asarray(y).nbytes
            return y
        return call

    model.eval()
    try:
        for m in modules:
            # an instance attribute wins over the class's method, and Module.__call__ looks up self.forward
            m.forward = hooked(m, m.forward)
        x = np.zeros((1,) + input_shape, dtype=dtype)
        try:
            model(x)
        except (ValueError, TypeError) as e:
            raise ValueError(f"input_shape: the model does not take an input of shape {input_shape}: {e}") from e
    finally:
        for m, training, cache in saved:
            vars(m).pop("forward", None)
            m.training, m.cache = training, cache
    n_params = sum(p.data.size for p in params)
    return Summary(
        model_type=type(model).__name__, input_shape=input_shape, dtype=np.dtype(dtype), rows=rows,
        params=n_params, trainable=n_params, buffers=sum(_own_buffers(m) for m in modules),
        macs=sum(r.macs for r in rows), input_bytes=x.nbytes, activation_bytes=activation_bytes,
        param_bytes=sum(p.data.nbytes for p in params))
