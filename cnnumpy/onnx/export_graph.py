"""The ONNX graph an export builds (export.py walks the model, export_layers.py and export_ops.py add each layer's
and operation's nodes to it): nodes, initializers named by the state_dict keys, fresh names for the rest."""
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

OPSETS = range(17, 22)  # 17..21: LayerNormalization needs 17; the runtimes of today read 21
BATCH = 2  # the batch size the shapes are traced with; BATCH + 1 tells which reshape sizes follow the batch


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("cnnumpy.onnx needs the onnx package: pip install 'cnnumpy[onnx]'") from None
    return onnx


@dataclass(frozen=True)
class Value:
    """A tensor of the ONNX graph being built: its name and its shape for a batch of BATCH."""
    name: str
    shape: tuple[int, ...]


class Graph:
    """The ONNX graph under construction: nodes, initializers, unique names, and where each weight comes from.

    keys: id(Parameter) -> its state_dict key; paths: id(Module) -> its dotted name in the model.
    """

    def __init__(self, opset: int, keys: dict[int, str], paths: dict[int, str]) -> None:
        self.opset, self.keys, self.paths = opset, keys, paths
        self.nodes: list[Any] = []
        self.inits: dict[str, np.ndarray] = {}
        self.taken: set[str] = set()

    def fresh(self, hint: str) -> str:
        """A name not used yet, from hint ("conv/out", then "conv/out_1", ...)."""
        name, i = hint, 0
        while name in self.taken:
            i += 1
            name = f"{hint}_{i}"
        self.taken.add(name)
        return name

    def node(self, op: str, inputs: Sequence[str], hint: str, outputs: int = 1, **attrs: Any) -> Any:
        """One node op(inputs) with these attributes; returns its output's name (a list when outputs > 1)."""
        onnx = _onnx()
        outs = [self.fresh(f"{hint}/{op}" if outputs == 1 else f"{hint}/{op}_{i}") for i in range(outputs)]
        self.nodes.append(onnx.helper.make_node(op, list(inputs), outs, name=self.fresh(f"{hint}:{op}"), **attrs))
        return outs[0] if outputs == 1 else outs

    def init(self, name: str, array: Any) -> str:
        """An initializer named `name` (a state_dict key, once however often it is used)."""
        if name not in self.inits:
            if name in self.taken:  # a key spelled as the graph's input, "input"
                raise ValueError(f"model: its state_dict key {name!r} is also the name of a tensor of the graph")
            self.taken.add(name)
            self.inits[name] = np.asarray(array)
        return name

    def const(self, value: Any, hint: str, dtype: Any = np.float32) -> str:
        """A constant the export adds (a scalar, pads, a shape): an initializer with a fresh name."""
        name = self.fresh(f"{hint}/const")
        self.inits[name] = np.asarray(value, dtype=dtype)
        return name

    def ints(self, values: Sequence[int], hint: str) -> str:
        return self.const(list(values), hint, np.int64)

    def param(self, module: Any, attr: str) -> str:
        """module.attr (a Parameter or a buffer) as the initializer named by its state_dict key, in float32."""
        value = getattr(module, attr)
        path = self.path(module)
        key = f"{path}.{attr}" if path else attr
        return self.init(key, np.asarray(getattr(value, "data", value), dtype=np.float32))

    def parameter(self, p: Any) -> str:
        """A Parameter used directly in a forward, by its state_dict key."""
        if id(p) not in self.keys:  # made inside forward: no state_dict key
            self.keys[id(p)] = self.fresh("parameter/unnamed")
            self.taken.discard(self.keys[id(p)])
        return self.init(self.keys[id(p)], np.asarray(p.data, np.float32))

    def path(self, module: Any) -> str:
        if id(module) not in self.paths:  # a module made inside forward: its weights have no state_dict key
            self.paths[id(module)] = self.fresh(f"{type(module).__name__.lower()}/unnamed")
        return self.paths[id(module)]

    def reduce(self, op: str, x: str, axes: Sequence[int], keepdims: bool, hint: str) -> str:
        """ReduceMean/ReduceSum over axes: an input from opset 18 on (ReduceSum's from 13), an attribute before."""
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [x, self.ints(axes, hint)], hint, keepdims=int(keepdims))
        return self.node(op, [x], hint, axes=list(axes), keepdims=int(keepdims))

    def reshape_like(self, x: str, like: str, hint: str) -> str:
        """x reshaped to the runtime shape of `like` (which keeps the dynamic batch)."""
        return self.node("Reshape", [x, self.node("Shape", [like], hint)], hint)

    def per_channel(self, name: str, ndim: int, hint: str) -> str:
        """A (C,) initializer as (C, 1, ..., 1), to broadcast over an input of ndim dims (N, C, ...)."""
        c = int(self.inits[name].size) if name in self.inits else -1
        return self.node("Reshape", [name, self.ints([c] + [1] * (ndim - 2), hint)], hint)
