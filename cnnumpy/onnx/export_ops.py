"""The traced operations of a graph module's tape (cnnumpy/nn/traced.py) as ONNX nodes, for export.py.

    + - * /          Add Sub Mul Div (a number or an array operand becomes a constant, a Parameter its key)
    nn.cat           Concat
    x[...]           Slice for the slices, Squeeze for the ints, Unsqueeze for the Nones (split and chunk
                     are slices on the tape)
    reshape, view    Reshape, with -1 where the size follows the batch (the two traces of export.emit_graph)
    flatten          Reshape: 0 (the input's size) before start_dim, -1 for the merged axes
    permute          Transpose
    sum, mean        ReduceSum, ReduceMean
"""
from typing import Any

import numpy as np

from ..nn import traced as T

BIG = np.iinfo(np.int64).max  # Slice's "to the end" (the runtime clamps it to the axis' size)


def emit_op(g: Any, node: Any, twin: Any, env: dict) -> str:
    """The ONNX output of one operation node; twin is the same node traced with a batch one larger."""
    op, hint = node.fn, f"{node.fn.name}"
    args = [_operand(g, s, env, hint) for s in node.sources]
    x = node.sources[0]
    if isinstance(op, (T.Add, T.Subtract, T.Multiply, T.Divide)):
        kind = {T.Add: "Add", T.Subtract: "Sub", T.Multiply: "Mul", T.Divide: "Div"}[type(op)]
        return g.node(kind, args, hint)
    if isinstance(op, T.Cat):
        return g.node("Concat", args, hint, axis=op.dim)
    if isinstance(op, T.Index):
        if repr(op.index) != repr(twin.fn.index):
            raise ValueError(f"x[...]: the index {op.index!r} of a tensor of shape {x.shape} changes with the batch "
                             f"size ({twin.fn.index!r} for a batch one larger); the exported graph keeps the batch "
                             "dynamic, so an index may not be computed from it")
        return _index(g, args[0], x.shape, op.index, hint)
    if isinstance(op, T.Reshape):
        return g.node("Reshape", [args[0], g.ints(_target(op.target, twin.fn.target, x.shape), hint)], hint)
    if isinstance(op, T.Flatten):
        return flatten(g, args[0], x.shape, op.start, op.end, hint)
    if isinstance(op, T.Permute):
        return g.node("Transpose", args, hint, perm=list(op.axes))
    if isinstance(op, T.Reduce):
        kind = "ReduceSum" if op.name == "sum" else "ReduceMean"
        return g.reduce(kind, args[0], op.axes, op.keepdim, hint)
    raise TypeError(f"cannot export the traced operation {op!r} ({type(op).__name__}) to ONNX")


def _operand(g, s, env, hint):
    from ..nn.parameter import Parameter

    if isinstance(s, T.Traced):
        return env[s.key].name
    if isinstance(s, Parameter):
        return g.parameter(s)
    return g.const(s, hint)  # a number or an array, in float32 as the graph's tensors


def _target(target, twin_target, shape):
    """Reshape's target sizes: -1 where the size changed with the batch; the rest as traced."""
    moved = [i for i, (a, b) in enumerate(zip(target, twin_target)) if a != b]
    if len(moved) > 1 or len(target) != len(twin_target):
        raise ValueError(f"reshape: the target {target} of an input of shape {shape} changes with the batch size in "
                         f"more than one dim ({twin_target} for a batch one larger); the exported graph keeps the "
                         "batch dynamic, so at most one size may follow it")
    return [-1 if i in moved else n for i, n in enumerate(target)]


def flatten(g: Any, x: str, shape: tuple[int, ...], start: int, end: int, hint: str) -> str:
    """x with the axes start..end merged: 0 copies an axis before start (the batch among them), -1 is the merged
    size, the axes after end keep their sizes."""
    if end == len(shape) - 1 and start >= 1:
        return g.node("Flatten", [x], hint, axis=start) if start == 1 else \
            g.node("Reshape", [x, g.ints([0] * start + [-1], hint)], hint)
    return g.node("Reshape", [x, g.ints([0] * start + [-1] + list(shape[end + 1:]), hint)], hint)


def _index(g, x, shape, index, hint):
    """Basic indexing x[index] (ints, slices, None, ...) as Slice, then Squeeze, then Unsqueeze."""
    items = list(index) if isinstance(index, tuple) else [index]
    if Ellipsis in items:
        at = items.index(Ellipsis)
        rest = sum(1 for i in items if i is not None and i is not Ellipsis)
        items[at:at + 1] = [slice(None)] * (len(shape) - rest)
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out = 0
    for item in items:
        if item is None:
            unsqueeze.append(out)
            out += 1
            continue
        if isinstance(item, slice):
            start, stop, step = item.start, item.stop, 1 if item.step is None else int(item.step)
            if step > 0:
                start, stop = 0 if start is None else start, BIG if stop is None else stop
            else:
                start, stop = BIG if start is None else start, -BIG - 1 if stop is None else stop
            if (start, stop, step) != (0, BIG, 1):
                starts, ends, axes, steps = starts + [start], ends + [stop], axes + [axis], steps + [step]
            out += 1
        else:
            i = int(item)  # an int picks one entry: a slice of one, then squeezed (-1: from the end, any batch)
            starts, ends, axes, steps = starts + [i], ends + [BIG if i == -1 else i + 1], axes + [axis], steps + [1]
            squeeze.append(axis)
        axis += 1
    y = x
    if axes:
        y = g.node("Slice", [y, g.ints(starts, hint), g.ints(ends, hint), g.ints(axes, hint), g.ints(steps, hint)],
                   hint)
    if squeeze:
        y = g.node("Squeeze", [y, g.ints(squeeze, hint)], hint)
    if unsqueeze:
        y = g.node("Unsqueeze", [y, g.ints(unsqueeze, hint)], hint)
    return y if y != x else g.node("Identity", [x], hint)
