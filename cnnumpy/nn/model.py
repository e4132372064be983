"""Keras' functional models: nn.Input, layers called on it, nn.Model(inputs, outputs).

    x = nn.Input((1, 28, 28))
    h = nn.ReLU()(nn.Conv2d(1, 8, 3, padding=1)(x))
    y = nn.cat([h, x], dim=1)                        # a skip: any graph, as in a Module's forward
    model = nn.Model(inputs=x, outputs=nn.Linear(9 * 28 * 28, 10)(nn.flatten(y, 1)))
    model(batch)                                      # any batch size; model.backward(dout) as any module

Calling layers on an Input traces shapes only (nothing is computed): each call is written down, and Model keeps
the calls that lead from its inputs to its outputs. Its forward replays them on real tensors, so a Model is a
graph module like any other (backward, weight sharing, several inputs and outputs, summary, nesting).
"""
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from . import check, graph
from .module import Module
from .traced import Traced


def Input(shape: Sequence[int], batch_size: int = 1, dtype: DTypeLike = np.float32) -> Traced:
    """A placeholder for a model's input, as keras.Input: `shape` without the batch axis, e.g. (3, 32, 32).

    The calls made on it are traced with a batch of `batch_size` (shapes only); the Model built from it takes
    any batch size (a reshape written with a literal batch size, x.reshape(1, -1), would keep it: use
    nn.flatten(x, 1) or nn.Flatten())."""
    shape = check.shape("shape", shape)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    tape = graph.Tape(symbolic=True)
    return Traced(tape, None, (int(batch_size),) + tuple(shape), check.float_dtype("dtype", dtype))


def _snake(name: str) -> str:
    """Keras' layer names: Conv2d -> conv2d, BatchNorm2d -> batch_norm2d, ReLU -> re_lu."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Model(Module):
    """The graph from `inputs` (nn.Input placeholders: one, or a list) to `outputs` (one tensor, or a list or
    tuple), as keras.Model(inputs, outputs).

    forward(*xs): one array per input, in the order of `inputs`; returns one array, or a tuple per output.
    Children: every module called between the inputs and the outputs, once each, named as Keras names layers
    ("conv2d", "conv2d_1", "re_lu", ...) in the order of their first call; these names are state_dict's prefixes.
    """

    def __init__(self, inputs: Traced | Sequence[Traced], outputs: Traced | Sequence[Traced]) -> None:
        super().__init__()
        ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for what, items in (("inputs", ins), ("outputs", outs)):
            for i, t in enumerate(items):
                if not isinstance(t, Traced) or not t.tape.symbolic:
                    raise TypeError(f"{what}[{i}]: expected a tensor traced from nn.Input, got {t!r}")
        tape = graph.tape_of("Model", ins + outs)
        self._many = isinstance(outputs, (list, tuple))
        self._inputs, self._outputs = ins, outs  # the placeholders: their keys name the tensors of a replay
        calls = self._needed(tape, ins, outs)
        names: dict[int, str] = {}
        counts: dict[str, int] = {}
        for _, fn, _, _, _ in calls:
            if isinstance(fn, Module) and id(fn) not in names:
                base = _snake(type(fn).__name__)
                names[id(fn)] = base if base not in counts else f"{base}_{counts[base]}"
                counts[base] = counts.get(base, 0) + 1
                setattr(self, names[id(fn)], fn)
        # a layer is kept by its child's name, so that model.conv2d = ... replaces it in the graph too
        self._calls = [(names[id(fn)] if isinstance(fn, Module) else fn, args, kwargs, out)
                       for _, fn, args, kwargs, out in calls]

    @staticmethod
    def _needed(tape, ins, outs):
        """The top-level calls that lead from the inputs to the outputs, in the order they were made."""
        top = [c for c in tape.calls if c[0] == 0]
        made = {}
        for call in top:
            for t in graph._traced_in(call[4], []):
                made[t.key] = call
        needed, stack, have = set(), [t.key for t in outs], {t.key for t in ins}
        while stack:
            key = stack.pop()
            if key in have:
                continue
            if key not in made:
                raise ValueError("outputs: they depend on an nn.Input that is not among `inputs`")
            call = made[key]
            if id(call) not in needed:
                needed.add(id(call))
                stack += [t.key for t in graph._traced_in((call[2], call[3]), [])]
        return [c for c in top if id(c) in needed]

    def forward(self, *xs: Any) -> Any:
        if len(xs) != len(self._inputs):
            raise TypeError(f"Model.forward: expected {len(self._inputs)} inputs, got {len(xs)}")
        env = {t.key: x for t, x in zip(self._inputs, xs)}
        for fn, args, kwargs, out in self._calls:
            fn = getattr(self, fn) if isinstance(fn, str) else fn
            result = fn(*_bind(args, env), **_bind(kwargs, env))
            for old, new in zip(graph._traced_in(out, []), graph._traced_in(result, [])):
                env[old.key] = new
        outs = tuple(env[t.key] for t in self._outputs)
        return outs if self._many else outs[0]


def _bind(obj, env):
    """obj with each traced placeholder replaced by the tensor it stands for in this run."""
    if isinstance(obj, Traced):
        return env[obj.key]
    if isinstance(obj, (list, tuple)):
        return type(obj)(_bind(o, env) for o in obj)
    if isinstance(obj, dict):
        return {k: _bind(v, env) for k, v in obj.items()}
    return obj
