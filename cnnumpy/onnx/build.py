"""From a checked ModelProto to an OnnxModel: each node mapped by its op's builder (ops/), at load time.

Every check happens here, before the model runs: an op we do not map, an attribute we do not read, or an
attribute value we do not support is one ValueError naming the op type, the node, the value and what is
supported. Nodes whose inputs are all known at load time (Constant, integer initializers, shape arithmetic) are
computed here and become constants ("folding"), so shape subgraphs (Shape -> Gather -> Unsqueeze -> Concat ->
Reshape) cost nothing when the model runs; a Shape of a tensor computed at run time yields a constant array
then, never a traced tensor.
"""
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..nn.container import ModuleDict
from ..nn.module import Module
from ..nn.parameter import Parameter
from . import parse as L
from .model import OnnxModel, Step
from .model import submodule as _submodule


class Attrs:
    """A node's attributes, read by name with the spec's default; build() checks afterwards that every
    attribute the node has was read, so an attribute a builder does not know about is an error, not ignored."""

    def __init__(self, ctx: "Context", node: Any) -> None:
        self.ctx = ctx
        self.given = {a.name: a for a in node.attribute}
        self.read: set[str] = set()

    def __contains__(self, name: str) -> bool:
        self.read.add(name)
        return name in self.given

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        a = self.given.get(name)
        if a is None:
            return default
        kind = a.type  # AttributeProto.AttributeType
        if kind == 1:  # a float32: the shortest decimal that is it (1e-05, as written; not 9.999999747378752e-06)
            return _decimal(a.f)
        if kind == 2:
            return int(a.i)
        if kind == 3:
            return a.s.decode("utf-8", "replace")
        if kind == 4:
            return L.array(a.t, self.ctx.folder, f"{self.ctx.where()}: attribute {name}", self.ctx.max_bytes)
        if kind == 6:
            return [_decimal(v) for v in a.floats]
        if kind == 7:
            return [int(v) for v in a.ints]
        if kind == 8:
            return [s.decode("utf-8", "replace") for s in a.strings]
        self.ctx.unsupported(f"attribute {name} of type {kind}", "a graph, sparse tensor or type attribute",
                             "int, float, string, tensor and lists of them")


class Context:
    """What a builder sees of the model while one node is built (see ops/__init__.py for the protocol)."""

    def __init__(self, model_name: str, opset: int, folder: Path | None, max_bytes: int) -> None:
        self.model_name, self.opset, self.folder, self.max_bytes = model_name, opset, folder, max_bytes
        self.root: OnnxModel | None = None  # made once the graph's names are known
        self.constants: dict[str, np.ndarray] = {}
        self.floats: dict[str, np.ndarray] = {}   # float initializers: parameters, unless read as constants
        self.claimed: set[str] = set()            # initializers a layer holds as its parameter
        self.static: set[str] = set()             # float initializers read as constants (scales, bounds)
        self.keys: dict[str, tuple[str, Callable | None, Callable | None, Any]] = {}
        self.made: dict[str, str] = {}            # initializer name -> the path of the layer holding it
        self.training = False                     # a node exported in training mode (BatchNorm, Dropout)
        self.node: Any = None
        self.attrs: Attrs | None = None
        self.used: dict[str, int] = {}            # value name -> how many nodes and graph outputs read it
        self.consumers: dict[str, list[Any]] = {}
        self.graph_outputs: set[str] = set()
        self.absorbed: set[int] = set()           # ids of nodes fused into an earlier one (MatMul + Add)
        self.renamed: list[str] | None = None     # the outputs a fused node writes (the last fused node's)

    # --- naming ----------------------------------------------------------------------------------------
    def where(self) -> str:
        n = self.node
        return f"{self.model_name}: node {n.name!r} ({n.op_type})" if n is not None else self.model_name

    def unsupported(self, what: str, value: Any, supported: str) -> None:
        raise ValueError(f"{self.where()}: {what} = {value!r} is not supported; supported: {supported}")

    # --- inputs ------------------------------------------------------------------------------------------
    def has(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def const(self, i: int) -> np.ndarray | None:
        """Input i's value if it is known at load time (a constant, or an initializer read as a constant), else
        None; None too for an absent optional input."""
        if not self.has(i):
            return None
        name = self.node.input[i]
        if name in self.constants:
            return self.constants[name]
        if name in self.floats and name not in self.claimed:
            self.static.add(name)
            return self.floats[name]
        return None

    def need_const(self, i: int, what: str) -> np.ndarray:
        v = self.const(i)
        if v is None:
            self.unsupported(f"input {i} ({what})", self.node.input[i] if self.has(i) else "absent",
                             "a constant or an initializer (a value known when the model is loaded)")
        return v

    def ints(self, i: int, what: str) -> list[int] | None:
        v = self.const(i)
        if v is None and self.has(i):
            self.need_const(i, what)
        return None if v is None else [int(a) for a in np.asarray(v).reshape(-1)]

    def weight(self, i: int, what: str) -> tuple[str, np.ndarray] | tuple[None, None]:
        """(name, array) of input i, an initializer a layer will hold as its parameter (None, None if absent)."""
        if not self.has(i):
            return None, None
        name = self.node.input[i]
        if name not in self.floats and name in self.constants and self.constants[name].dtype.kind == "f":
            # computed when the model was loaded (ONNX's "light" models make their weights with ConstantOfShape):
            # the layer's parameter starts from that value
            self.floats[name] = self.constants.pop(name)
        if name not in self.floats:
            self.unsupported(f"input {i} ({what})", name, "a float initializer (weights computed inside the graph "
                             "are not mapped to a layer)")
        self.claimed.add(name)
        return name, self.floats[name]

    def only_first_outputs(self, n: int) -> None:
        """Outputs past the first n (BatchNorm's running statistics, MaxPool's indices, Dropout's mask) are
        not computed: none may be read."""
        for o in self.node.output[n:]:
            if o and self.used.get(o):
                self.unsupported(f"output {o!r}", "read by another node or the graph", f"its first {n} output(s)")

    def absorb(self, node: Any) -> None:
        """Fuse `node` (which reads only this node's output) into this node: it is not built, and this node
        writes its outputs."""
        self.absorbed.add(id(node))
        self.renamed = list(node.output)

    def sole_consumer(self, value: str) -> Any:
        """The one node reading `value`, if one node reads it and it is not a graph output; else None."""
        users = self.consumers.get(value, [])
        return users[0] if len(users) == 1 and value not in self.graph_outputs else None

    # --- layers --------------------------------------------------------------------------------------------
    def layer(self, module: Module, slots: dict[str, Any]) -> str:
        """Place `module` among the model's children, its parameters and buffers taken from initializers, and
        return its path. slots: attribute -> initializer name, or (name, array as the module holds it,
        to ONNX's layout, from ONNX's layout) when the module holds it transposed or reshaped.

        The path is the initializers' common prefix when they are named as torch names them ("features.0.weight"
        -> features.0), else one made from the node's name."""
        shared = self._shared(module, slots)
        if shared is not None:
            return shared
        entries = {}
        for attr, s in slots.items():
            if s is None:
                continue
            name, value, to_onnx, from_onnx = s if isinstance(s, tuple) else (s, self.floats[s], None, None)
            entries[attr] = (name, value, to_onnx, from_onnx)
            self.claimed.add(name)
        for attr, (name, value, _, _) in entries.items():
            current = getattr(module, attr)
            old = current.data if isinstance(current, Parameter) else np.asarray(current)
            if old.shape != value.shape:
                self.unsupported(f"initializer {name!r}", value.shape, f"shape {old.shape} for {attr}")
            new = np.array(value, dtype=old.dtype if old.dtype.kind == "f" else value.dtype)
            if isinstance(current, Parameter):
                current.data, current.grad = new, np.zeros(new.shape, new.dtype)
            else:
                setattr(module, attr, new)
        prefixes = {name[:-len(attr) - 1] for attr, (name, *_) in entries.items() if name.endswith("." + attr)}
        path = None
        if len(prefixes) == 1 and all(name.endswith("." + attr) for attr, (name, *_) in entries.items()):
            path = self._place(prefixes.pop(), module)
        if path is None:
            path = self._place(self._node_path(), module) or self._place(self._node_path(), module, flat=True)
        for attr, (name, _, to_onnx, from_onnx) in entries.items():
            self.keys[f"{path}.{attr}"] = (name, to_onnx, from_onnx, module)
            self.made[name] = path
        return path

    def _shared(self, module: Module, slots: dict[str, Any]) -> str | None:
        """The path of the layer made earlier from the same initializers, if this node is that layer called again
        (a Siamese network's shared branch): the same type and settings. One layer called twice gets both calls'
        gradients; two copies would split them."""
        names = {attr: s[0] if isinstance(s, tuple) else s for attr, s in slots.items() if s is not None}
        if not names:
            return None
        paths = {self.made.get(n) for n in names.values()}
        if len(paths) != 1 or None in paths:
            if any(n in self.made for n in names.values()):
                self.unsupported("initializers", sorted(names.values()), "weights used by one layer, or shared "
                                 "whole by layers of the same settings")
            return None
        path = paths.pop()
        old = _submodule(self.root, path)
        if type(old) is not type(module) or repr(old) != repr(module):
            self.unsupported("shared initializers", sorted(names.values()), f"a layer like the first user, {old!r}")
        return path

    def parameter(self, name: str) -> str:
        """Place the float initializer `name`, used directly by an operation, as a Parameter; its path."""
        p = Parameter(np.array(self.floats[name]))
        path = None
        if "." in name:
            path = self._place(name, p)
        if path is None:
            path = self._place(_clean(name) or "param", p, flat=True)
        self.keys[path] = (name, None, None, p)
        return path

    def _node_path(self) -> str:
        """A child's name from the node's: torch.onnx's "/features/features.1/Relu" -> "features.1",
        the dynamo exporter's "node_relu" -> "relu"; else the op type."""
        name = self.node.name
        parts = [p for p in name.split("/") if p]
        if name.startswith("/") and len(parts) >= 2:
            return parts[-2]
        if name.startswith("node_"):
            name = name[5:]
        return name or self.node.op_type.lower()

    def _place(self, path: str, obj: Any, flat: bool = False) -> str | None:
        """Set obj at `path` under the root (intermediate ModuleDicts made as needed); None if the path is taken
        or not a valid chain of names. flat=True: one name, made unique with a suffix."""
        root = self.root
        if flat:
            base = _clean(path) or "layer"
            name, k = base, 1
            while hasattr(root, name) or name in _RESERVED:
                k += 1
                name = f"{base}_{k}"
            setattr(root, name, obj)
            return name
        parts = path.split(".")
        if any(not p or not re.fullmatch(r"[A-Za-z0-9_]+", p) or p in _RESERVED for p in parts):
            return None
        parent = root
        for p in parts[:-1]:
            child = getattr(parent, p, None)
            if child is None:
                child = ModuleDict()
                setattr(parent, p, child)
            elif not isinstance(child, ModuleDict):
                return None
            parent = child
        if hasattr(parent, parts[-1]):
            return None
        setattr(parent, parts[-1], obj)
        return path


_RESERVED = {"training", "cache", "forward", "backward", "state_dict", "parameters", "modules", "children", "train",
             "eval", "to", "float", "double", "summary", "keys", "items", "values", "update", "pop", "clear",
             "input_names", "output_names", "zero_grad", "load_state_dict"}


def _decimal(v: float) -> float:
    """A float attribute (stored as float32) as the shortest decimal that rounds to the same float32: what the
    exporter was given (eps=1e-5, alpha=0.2), so a layer's repr and its float64 arithmetic use that value."""
    return float(str(np.float32(v))) if math.isfinite(v) else float(v)


def _clean(name: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", name)).strip("_")


def _declared_shape(value: Any) -> tuple[int | None, ...] | None:
    """A graph input's shape as the file declares it: a number per fixed dim, None for a named (dynamic) one;
    None when the file gives no shape."""
    t = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in t.shape.dim)


def _without_weights(model: Any, keep: int = 1024) -> Any:
    """A copy of model for shape inference: initializers of more than `keep` values become graph inputs of their
    type and shape (all that inference reads of them), so that it does not serialise and copy their data (VGG-19's
    half a gigabyte); the small ones (shapes that Reshape reads, say) stay."""
    onnx = L.onnx_module()
    helper = onnx.helper
    g = model.graph
    big = [t for t in g.initializer if math.prod(t.dims) > keep]
    declared = {v.name for v in g.input}
    inputs = list(g.input) + [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in big
                              if t.name not in declared]
    graph = helper.make_graph(g.node, g.name, inputs, g.output,
                              [t for t in g.initializer if math.prod(t.dims) <= keep], value_info=g.value_info)
    light = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    light.functions.extend(model.functions)
    return light


def _static_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """{value name: shape} for the values whose every dim the file fixes (a number, no symbolic name), from the
    graph's declarations and ONNX's shape inference (if it fails, from the declarations alone): a Shape of such a
    value is folded at load time."""
    onnx = L.onnx_module()
    try:
        graph = onnx.shape_inference.infer_shapes(_without_weights(model), strict_mode=False).graph
    except Exception:  # inference is an optimisation here: without it, Shape runs on the input's shape
        graph = model.graph
    shapes = {}
    for v in list(graph.input) + list(graph.value_info) + list(graph.output):
        t = v.type.tensor_type
        if v.type.HasField("tensor_type") and t.HasField("shape"):
            dims = t.shape.dim
            if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
                shapes[v.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def build(model: Any, folder: Path | None, name: str, max_bytes: int) -> OnnxModel:
    from .ops import BUILDERS, FOLDABLE

    version = L.opset(model, name)
    g = model.graph
    ctx = Context(name, version, folder, max_bytes)
    if len(g.sparse_initializer):
        raise ValueError(f"{name}: sparse initializers are not supported")
    total = 0
    for t in g.initializer:
        a = L.array(t, folder, f"{name}: initializer {t.name!r}", max_bytes)
        total += a.nbytes
        if total > max_bytes:
            raise ValueError(f"{name}: the initializers hold more than the {max_bytes} bytes allowed")
        if a.dtype.kind == "f":  # a layer's weights, a parameter an operation uses, or a setting (scales)
            ctx.floats[t.name] = a
        if a.dtype.kind != "f" or a.size <= 1:  # integers and single numbers: constants unless a layer holds them
            ctx.constants[t.name] = a
    inits = {t.name for t in g.initializer}
    inputs = [i.name for i in g.input if i.name not in inits]
    outputs = [o.name for o in g.output]
    ctx.graph_outputs = set(outputs)
    for node in g.node:
        for i in node.input:
            if i:
                ctx.used[i] = ctx.used.get(i, 0) + 1
                ctx.consumers.setdefault(i, []).append(node)
    for o in outputs:
        ctx.used[o] = ctx.used.get(o, 0) + 1
    static = _static_shapes(model)
    ctx.root = OnnxModel(name, inputs, outputs, [], ctx.constants, {}, ctx.keys)
    declared = {v.name: v for v in g.input}
    ctx.root._input_shapes = [_declared_shape(declared[n]) for n in inputs]
    known = set(inputs) | inits
    steps = []
    for node in g.node:
        ctx.node = node
        for i in node.input:
            if i and i not in known:
                raise ValueError(f"{ctx.where()}: input {i!r} is not computed before this node (not a graph input, "
                                 "an initializer or an earlier node's output: the nodes must be in topological order)")
        known.update(o for o in node.output if o)
        if id(node) in ctx.absorbed:
            continue
        if (node.op_type == "Identity" and node.domain in L.DEFAULT_DOMAINS and node.input[0] in ctx.floats
                and node.output[0] not in ctx.graph_outputs):
            # torch's exporter shares equal initializers (zero biases, say) through Identity nodes: each layer
            # that reads one gets a parameter of its own, as in the network that was exported
            ctx.floats[node.output[0]] = ctx.floats[node.input[0]]
            if node.input[0] in ctx.constants:
                ctx.constants[node.output[0]] = ctx.constants[node.input[0]]
            continue
        if node.domain not in L.DEFAULT_DOMAINS:
            raise ValueError(f"{ctx.where()}: op {node.op_type!r} of domain {node.domain!r} is not supported; "
                             "supported: the default ONNX domain's ops listed in docs/onnx.md")
        builder = BUILDERS.get(node.op_type)
        if builder is None:
            raise ValueError(f"{ctx.where()}: op type {node.op_type!r} is not supported; supported: "
                             f"{', '.join(sorted(BUILDERS))}")
        ctx.attrs, ctx.renamed = Attrs(ctx, node), None
        fn = builder(ctx)
        extra = set(ctx.attrs.given) - ctx.attrs.read
        if extra:
            ctx.unsupported("attribute", sorted(extra)[0], f"the attributes this op reads: "
                            f"{sorted(ctx.attrs.read) or 'none'}")
        names = list(node.input)
        outs = ctx.renamed or list(node.output)
        if node.op_type == "Shape" and names[0] in static:  # a shape the file fixes: a constant from now on
            values = fn(None, [np.broadcast_to(np.zeros((), np.int8), static[names[0]])])  # no memory: 0 strides
            ctx.constants[outs[0]] = values[0]
            continue
        if node.op_type in FOLDABLE and all(not n or n in ctx.constants for n in names):
            try:
                values = fn(None, [ctx.constants[n] if n else None for n in names])
            except (ValueError, TypeError, IndexError) as e:  # a constant subgraph that does not compute
                raise ValueError(f"{ctx.where()}: on the constants {names}: {e}") from None
            for o, v in zip(outs, values):
                if o:
                    ctx.constants[o] = np.asarray(v)
            continue
        steps.append(Step(fn, names, outs, f"{node.name} ({node.op_type})"))
    ctx.node = None
    operands = {}
    for step in steps:
        for n in step.inputs:
            if (n in ctx.floats and n not in ctx.constants and n not in ctx.claimed and n not in ctx.static
                    and n not in operands):
                operands[n] = ctx.parameter(n)
    for n in ctx.static:
        ctx.constants[n] = ctx.floats[n]
    for o in outputs:
        if o not in known:
            raise ValueError(f"{name}: graph output {o!r} is computed by no node")
    root = ctx.root
    root._steps, root._operands = steps, operands
    root.train(ctx.training)
    return root
