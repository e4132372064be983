"""ONNX in: `cnnumpy.onnx.load(f)` turns an ONNX model into an ordinary cnnumpy module.

    model = cnnumpy.onnx.load("resnet.onnx")      # a path, bytes or an onnx.ModelProto
    y = model(x)                                   # forward, with cnnumpy's layers
    dx = model.backward(dy)                        # backward through the whole graph, parameters' grads added

The returned OnnxModel is a graph module: each Conv is an nn.Conv2d, each BatchNormalization an nn.BatchNorm2d,
and so on (docs/onnx.md lists the ops), so it trains, freezes, prints its summary() and swaps its head like any
cnnumpy model. Needs the onnx package (pip install 'cnnumpy[onnx]') to parse the file; nothing else of it runs.
"""
from typing import Any

from .parse import MAX_BYTES, OPSETS
from .export import export
from .model import OnnxModel


def load(f: Any, *, max_bytes: int = MAX_BYTES) -> OnnxModel:
    """The ONNX model f (a path, bytes or an onnx.ModelProto) as a cnnumpy OnnxModel.

    Checked before anything runs: the file is at most max_bytes (2 GiB) and parses; the default domain's opset
    is in 7..21; every initializer's dims, size and data agree; external data stays inside the model's folder;
    every op, attribute and attribute value is one we map (else a ValueError naming the op type, the node, the
    value and what is supported). The model starts in eval mode, or in train mode if it was exported for
    training (a BatchNormalization with training_mode=1).
    """
    from . import parse as L
    from .build import build

    model, folder, name = L.read(f, max_bytes)
    return build(model, folder, name, max_bytes)


__all__ = ["MAX_BYTES", "OPSETS", "OnnxModel", "export", "load"]
