"""export: a cnnumpy model as an ONNX file, as torch.onnx.export (what onnxruntime or any ONNX runtime runs).

    from cnnumpy.onnx import export
    export(model, "model.onnx", (3, 32, 32))      # input_shape without the batch axis; the batch stays dynamic

The graph is the model in eval mode (Dropout is the identity, BatchNorm uses its running statistics). It is
built by walking the model: a Sequential's children in order; a graph module (a forward without a backward,
Residual, nn.Model, the models' blocks) by tracing its forward on shapes alone, as summary() does, and reading
the tape it leaves (each layer call and each traced operation a node, in the order they ran); every other layer
from the table in export_layers.py, one ONNX node or a few per layer. The initializers are named by the
model's state_dict keys ("features.0.weight"), so the weights map back by name; the constants the export adds
have a "/" in their names, which no state_dict key has.

The ONNX graph has one input "input" of shape (batch, *input_shape) (several: "input_0", "input_1", ...) and
one output "output" (several: "output_0", ...), float32. A model in float64 is exported in float32.
"""
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .export_graph import BATCH, OPSETS, Graph, Value, _onnx  # noqa: F401  (OPSETS: the opsets export takes)


# --- walking the model ------------------------------------------------------------------------------------

def emit(g: Graph, module: Any, xs: list[Value], shape: tuple[int, ...] | None = None) -> list[Value]:
    """The ONNX nodes of module(*xs); returns its outputs. shape: the output's shape when a trace knows it (a
    layer called with arguments, ConvTranspose2d's output_size), else the layer's compute_output_shape."""
    from .. import nn
    from . import export_layers

    if type(module).is_graph():
        return emit_graph(g, module, xs)
    path = g.path(module)
    if isinstance(module, nn.DataParallel):  # the model it runs on several processes: the same graph
        return emit(g, module.module, xs)
    if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
        for child in module:
            xs = emit(g, child, xs)
        return xs
    if len(xs) != 1:
        raise ValueError(f"{path or 'model'} ({type(module).__name__}): expected one input, got {len(xs)}")
    rule = export_layers.rule(module)
    if rule is None:
        names = ", ".join(export_layers.supported())
        raise TypeError(f"{path or 'model'}: cannot export a {type(module).__name__} to ONNX (no rule for it); "
                        f"supported: Sequential, graph modules (a forward without a backward) and {names}")
    x = xs[0]
    shape = tuple(module.compute_output_shape(x.shape) if shape is None else shape)
    return [Value(rule(g, module, path or type(module).__name__.lower(), x, shape), shape)]


def trace(module: Any, shapes: list[tuple[int, ...]]) -> tuple[Any, list[Any], list[Any]]:
    """module's forward traced on shapes alone: (the tape, its input tensors, its output tensors)."""
    from ..nn import graph
    from ..nn.traced import Traced

    tape = graph.Tape(symbolic=True)
    params = module.parameters()
    dtype = params[0].dtype if params else np.float32
    xs = [Traced(tape, None, s, dtype) for s in shapes]
    out = module.forward(*xs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for i, o in enumerate(outs):
        if not isinstance(o, Traced):
            raise TypeError(f"{type(module).__name__}.forward: output {i} is a {type(o).__name__}, not a tensor")
    return tape, xs, outs


def emit_graph(g: Graph, module: Any, xs: list[Value]) -> list[Value]:
    """A graph module: its forward traced twice, for a batch of BATCH and of BATCH + 1 (a reshape whose sizes
    differ between the two follows the batch, and gets -1 there); each node of the tape to ONNX."""
    from . import export_ops

    tape, ins, outs = trace(module, [x.shape for x in xs])
    other, _, _ = trace(module, [(x.shape[0] + 1,) + x.shape[1:] for x in xs])
    if len(other.nodes) != len(tape.nodes) or any(type(a.fn) is not type(b.fn) for a, b in zip(tape.nodes,
                                                                                           other.nodes)):
        raise ValueError(f"{g.path(module) or 'model'} ({type(module).__name__}): its forward traces different "
                         "graphs for two batch sizes; a graph that depends on the batch size cannot be exported "
                         "with a dynamic batch")
    env = {t.key: x for t, x in zip(ins, xs)}
    for node, twin in zip(tape.nodes, other.nodes):
        if node.is_layer:
            if len(node.outputs) != 1:
                raise TypeError(f"{g.path(node.fn)}: cannot export a {type(node.fn).__name__} that returns "
                                f"{len(node.outputs)} tensors (e.g. return_indices=True)")
            (y,) = emit(g, node.fn, [env[node.sources[0].key]], node.outputs[0].shape)
        else:
            y = Value(export_ops.emit_op(g, node, twin, env), node.outputs[0].shape)
        env[node.outputs[0].key] = y
    return [env[o.key] for o in outs]


def _output_shapes(module: Any, shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """module's output shapes for inputs of these shapes, from the shapes alone."""
    if type(module).is_graph():
        return [o.shape for o in trace(module, shapes)[2]]
    return [tuple(module.compute_output_shape(shapes[0]))]


# --- the public function ------------------------------------------------------------------------------------

def _shapes(input_shape):
    """input_shape: one shape without the batch axis, or a list of them (a model with several inputs)."""
    def one(s):
        return (isinstance(s, (tuple, list)) and len(s) > 0
                and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in s))
    if one(input_shape):
        return [tuple(int(n) for n in input_shape)], False
    if isinstance(input_shape, list) and input_shape and all(one(s) for s in input_shape):
        return [tuple(int(n) for n in s) for s in input_shape], True
    raise ValueError(f"input_shape: expected a non-empty tuple of ints > 0 without the batch axis, e.g. (3, 32, 32), "
                     f"or a list of them for a model with several inputs, got {input_shape!r}")


def build(model: Any, input_shape: Any, opset: int = 18) -> Any:
    """The onnx.ModelProto of model for inputs of input_shape (batch axis left out); see export."""
    from .. import __version__, nn

    onnx = _onnx()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a cnnumpy Module, got {type(model).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset not in OPSETS:
        raise ValueError(f"opset: expected an int in [{OPSETS[0]}, {OPSETS[-1]}], got {opset!r}")
    shapes, several = _shapes(input_shape)
    modes = [(m, m.training) for m in model.modules()]
    if model.training:
        warnings.warn("export: the model is in training mode; it is exported in eval mode, as torch.onnx.export "
                      "does (Dropout is the identity, BatchNorm uses its running statistics)", UserWarning,
                      stacklevel=3)
    keys: dict[int, str] = {}
    for key, p in model.named_parameters():
        keys.setdefault(id(p), key)
    paths: dict[int, str] = {}
    for name, m in model.named_modules():
        paths.setdefault(id(m), name)
    g = Graph(int(opset), keys, paths)
    names = [f"input_{i}" if several else "input" for i in range(len(shapes))]
    g.taken.update(names)
    model.eval()
    try:
        outs = emit(g, model, [Value(n, (BATCH,) + s) for n, s in zip(names, shapes)])
        others = _output_shapes(model, [(BATCH + 1,) + s for s in shapes])
    finally:
        for m, training in modes:
            m.training = training
    helper, TensorProto = onnx.helper, onnx.TensorProto
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", *s]) for n, s in zip(names, shapes)]
    outputs = []
    for i, (y, other) in enumerate(zip(outs, others)):
        name = f"output_{i}" if len(outs) > 1 else "output"
        g.nodes.append(helper.make_node("Identity", [y.name], [name], name=f"{name}:Identity"))
        # a size that changed with the batch is named, not fixed: "batch" on axis 0, as the input's
        dims = [n if n == m else "batch" if j == 0 else f"batch_{j}" for j, (n, m) in enumerate(zip(y.shape, other))]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    inits = [onnx.numpy_helper.from_array(a, name) for name, a in g.inits.items()]
    graph = helper.make_graph(g.nodes, type(model).__name__, inputs, outputs, inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="cnnumpy", producer_version=__version__)
    proto.ir_version = min(proto.ir_version, 10)  # IR 10 holds opsets up to 21 and every runtime of today reads it
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model: Any, path: str | os.PathLike, input_shape: Any, opset: int = 18) -> Path:
    """Write model as an ONNX file at path, for inputs of input_shape (no batch axis; any batch size runs).

    model: any cnnumpy Module built from the layers export_layers.supported() names, Sequential, and graph
    modules (Residual, nn.Model, a forward written freely); it is exported in eval mode (with a warning when it
    is in training mode) and left in the mode it was in.
    input_shape: e.g. (3, 32, 32); a list of shapes for a model with several inputs.
    opset: the ONNX opset, 17 to 21 (GELU is one Gelu node from 20 on, its erf formula before).
    The file is checked (onnx.checker, full_check) and written atomically: an error leaves no file behind, and
    a file already at path stays as it was. Returns the path.
    """
    from ..io import atomic_write

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    data = build(model, input_shape, opset).SerializeToString()
    return atomic_write(path, lambda f: f.write(data))
