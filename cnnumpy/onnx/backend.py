"""cnnumpy as an ONNX backend (onnx.backend.base.Backend), for ONNX's own conformance tests (the node tests).

ONNX's node tests feed a layer's weights as graph inputs, where exported models hold them as initializers; our
load() maps a Conv to nn.Conv2d only when its weight is an initializer. So run() binds every input after the
first as an initializer of that value, then loads the model and runs it on the first input: the graph computed is
the same, its constants known when it is loaded, as in an exported model. ONNX 1.23 writes many node tests at
opset 22, which changed the types these ops take (bfloat16) and nothing else: run() reads them as opset 21. Used
by tests/onnx/test_backend.py; the counts per op are in docs/onnx.md.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np

from .parse import onnx_module


def _base() -> tuple[type, type]:
    onnx_module()  # the ImportError naming the extra, if onnx is missing
    import onnx.backend.base as base
    return base.Backend, base.BackendRep


Backend, BackendRep = _base()


class CnnumpyRep(BackendRep):
    """A prepared model: run(inputs) binds inputs[1:] as initializers, loads, and runs on inputs[0]."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        from . import load
        onnx = onnx_module()
        inputs = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        for o in m.opset_import:  # opset 22 only widened these ops' types (bfloat16): its node tests are 21's
            if o.domain in ("", "ai.onnx") and o.version == 22:
                o.version = 21
        inits = {t.name for t in m.graph.initializer}
        graph_inputs = [i for i in m.graph.input if i.name not in inits]
        for i, x in list(zip(graph_inputs, inputs))[1:]:
            m.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(x), i.name))
        model = load(m)
        model.eval()
        out = model(*inputs[:1])
        return tuple(out) if isinstance(out, tuple) else (out,)


class CnnumpyBackend(Backend):
    """onnx.backend.base.Backend: prepare(model) -> CnnumpyRep; CPU only."""

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", **kwargs: Any) -> CnnumpyRep:
        return CnnumpyRep(model)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"

    @classmethod
    def run_node(cls, node: Any, inputs: Any, device: str = "CPU", outputs_info: Sequence | None = None,
                 **kwargs: Any) -> tuple[Any, ...]:
        onnx = onnx_module()
        names = [f"in{i}" for i in range(len(inputs))]
        n = onnx.helper.make_node(node.op_type, names, list(node.output), **{
            a.name: onnx.helper.get_attribute_value(a) for a in node.attribute})
        g = onnx.helper.make_graph([n], "node", [onnx.helper.make_tensor_value_info(k, 1, None) for k in names],
                                   [onnx.helper.make_tensor_value_info(o, 1, None) for o in node.output])
        model = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", kwargs.get("opset_version",
                                                                                                  18))])
        return CnnumpyRep(model).run(inputs)
