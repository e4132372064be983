"""OnnxModel: an ONNX graph as an ordinary cnnumpy module, whose backward comes from the graph mechanism.

load() turns each ONNX node into a step: a call of one of cnnumpy's layers (Conv -> nn.Conv2d, BatchNormalization
-> nn.BatchNorm2d, ...), held as a child module, or a traced operation (+ - * /, slicing, reshape, cat, ...).
forward(*x) runs the steps in the file's order, which ONNX requires to be a topological order. OnnxModel defines
forward and no backward, so it is a graph module (cnnumpy.nn.graph): each call is traced, and backward(dout)
runs the traced graph in reverse, returning dL/dx and adding every parameter's gradient.

A step finds its layer by its path among the children on each call, so a child replaced by assignment
(`model.fc = nn.Linear(512, 10)`) is the one that runs; `model.fc.requires_grad_(False)` freezes it.
"""
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..nn.module import Module
from ..nn.parameter import Parameter
from ..nn.traced import Op, Traced, apply


class Step:
    """One ONNX node, ready to run: fn(model, inputs) -> outputs (lists, one entry per ONNX input or output,
    None for an absent optional input). label: the node, for error messages."""
    __slots__ = ("fn", "inputs", "outputs", "label")

    def __init__(self, fn: Callable, inputs: list[str], outputs: list[str], label: str) -> None:
        self.fn, self.inputs, self.outputs, self.label = fn, inputs, outputs, label


class Lift(Op):
    """A Parameter made a traced tensor of the tape `anchor` belongs to: y = p, dp = dout (anchor gets nothing).
    An operation on a Parameter alone (Transpose of a weight) would otherwise compute a constant, and its
    gradient would be lost without a word."""
    name = "parameter"

    def forward(self, anchor: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, Any]:
        return p, None

    def backward(self, dout: np.ndarray, saved: Any, needs: Sequence[bool]) -> tuple:
        return None, dout

    def shape(self, anchor: tuple[int, ...], p: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(p)


def submodule(root: Module, path: str) -> Any:
    """root's child (or parameter) at the dotted path "features.0" (attribute by attribute, as torch's
    get_submodule)."""
    m = root
    for part in path.split("."):
        m = getattr(m, part)
    return m


class OnnxModel(Module):
    """An ONNX model as a cnnumpy module: forward(*inputs) -> output, or a tuple of outputs.

    inputs: one array per graph input, in the file's order, e.g. x: (N, C, H, W) float32.
    backward(dout) -> dL/dx (a tuple for several inputs); state_dict() is keyed by the ONNX initializer names
    ("features.0.weight", "onnx::Conv_123"), each value shaped as in the file.
    """

    def __init__(self, name: str, inputs: list[str], outputs: list[str], steps: list[Step],
                 constants: dict[str, np.ndarray], operands: dict[str, str],
                 keys: dict[str, tuple[str, Callable | None, Callable | None, Any]]) -> None:
        super().__init__()
        self._name = name
        self._inputs, self._outputs, self._steps = inputs, outputs, steps
        self._constants = constants      # value name -> array known when the model was loaded
        self._operands = operands        # value name -> path of a Parameter used directly by an operation
        self._native = False  # True while load_state_dict runs: state_dict then gives the modules' own keys
        self._keys = keys  # our state_dict key -> (ONNX name, to ONNX's layout, from it, the owner it was made for)

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    @property
    def input_shapes(self) -> list[tuple[int | None, ...] | None]:
        """Each input's shape as the file declares it (None for a dynamic dim such as the batch; None for an
        input without a declared shape)."""
        return list(getattr(self, "_input_shapes", [None] * len(self._inputs)))

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def forward(self, *xs: Any) -> Any:
        if len(xs) != len(self._inputs):
            raise TypeError(f"{self._name}: forward expected {len(self._inputs)} inputs {self._inputs}, "
                            f"got {len(xs)}")
        env: dict[str, Any] = dict(self._constants)
        env.update(zip(self._inputs, xs))
        anchor = next((x for x in xs if isinstance(x, Traced)), None)
        for value, path in self._operands.items():
            p = submodule(self, path)
            env[value] = p if anchor is None else apply(Lift(), anchor, p)  # traced, so every op passes dp on
        for step in self._steps:
            outs = step.fn(self, [env.get(n) if n else None for n in step.inputs])
            for n, v in zip(step.outputs, outs):
                if n:
                    env[n] = v
        outs = [env[n] for n in self._outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    # --- state_dict in the file's names and layouts ---------------------------------------------------
    def _names(self) -> dict[str, tuple[str, Callable | None, Callable | None]]:
        """Our key -> (ONNX name, to ONNX's layout, from it), for the layers and parameters still those the file
        made: a child replaced since (a new head) keeps its own keys."""
        names = {}
        for key, (name, to_onnx, from_onnx, owner) in self._keys.items():
            path = key if isinstance(owner, Parameter) else key.rpartition(".")[0]
            try:
                if submodule(self, path) is owner:
                    names[key] = (name, to_onnx, from_onnx)
            except AttributeError:
                pass
        return names

    def state_dict(self) -> dict[str, np.ndarray]:
        """{initializer name: array shaped as in the ONNX file}; a buffer the file has no initializer for (such
        as BatchNorm's num_batches_tracked), or a layer put in since, keeps its module path."""
        if self._native:
            return super().state_dict()
        names = self._names()
        state = {}
        for key, value in super().state_dict().items():
            name, to_onnx, _ = names.get(key, (key, None, None))
            state[name] = to_onnx(value) if to_onnx else value
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        names = self._names()
        back = {name: (key, from_onnx) for key, (name, _, from_onnx) in names.items()}
        ours = {}
        for name, value in state.items():
            key, from_onnx = back.get(name, (name, None))
            ours[key] = from_onnx(np.asarray(value)) if from_onnx else value
        self._native = True  # Module.load_state_dict compares with our state_dict's keys: its own, then
        try:
            missing, unexpected = super().load_state_dict(ours, strict)
        except KeyError as e:
            raise KeyError(f"state_dict: expected the keys {list(self.state_dict())}; {e}") from None
        finally:
            self._native = False
        return [names.get(k, (k,))[0] for k in missing], [names.get(k, (k,))[0] for k in unexpected]

    def extra_repr(self) -> str:
        return f"{self._name!r}, inputs={self._inputs}, outputs={self._outputs}, {len(self._steps)} steps"
