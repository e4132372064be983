"""Shared by the ONNX import tests: exporting a torch model with either exporter, running an ONNX graph built with
onnx.helper through onnxruntime, and comparing our loaded model with either."""
import warnings

import numpy as np
import pytest

from tests.util import assert_close

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnumpy.onnx import load  # noqa: E402

# (dynamo, opset): torch.onnx's TorchScript exporter and its dynamo exporter, at two opsets each
EXPORTERS = [(False, 17), (False, 18), (True, 17), (True, 18)]
EXPORTER_IDS = [f"{'dynamo' if d else 'torchscript'}-opset{o}" for d, o in EXPORTERS]


def export(model, x, path, dynamo, opset, training=False):
    """model exported to path (in train mode keeping BatchNorm if training, with the TorchScript exporter)."""
    import torch
    model.train(training)
    kw = {}
    if not dynamo:
        kw = dict(do_constant_folding=not training,
                  training=torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=dynamo, opset_version=opset,
                          verbose=False, **kw)
    return path


def torch_run(model, x, dout):
    """(y, dL/dx) of torch's model for L = sum(dout * y)."""
    import torch
    xt = torch.tensor(x, requires_grad=True)
    y = model(xt)
    y.backward(torch.from_numpy(dout))
    return y.detach().numpy(), xt.grad.numpy()


def compare(ours, model, x, tol_y=1e-4, tol_dx=1e-3, seed=0):
    """Our loaded model and torch's on x: outputs within tol_y and input gradients within tol_dx, relative to
    the largest reference value."""
    rng = np.random.default_rng(seed)
    y = ours(x)
    dout = rng.standard_normal(y.shape).astype(np.float32)
    ref_y, ref_dx = torch_run(model, x, dout)
    assert_close("y", y, ref_y, tol_y)
    dx = ours.backward(dout)
    assert_close("dx", dx, ref_dx, tol_dx)
    return y, dx


def graph_model(nodes, inputs, outputs, initializers=(), opset=18):
    """An ONNX model from onnx.helper pieces: inputs and outputs as (name, shape) float tensors."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def reference(model, *xs):
    """onnxruntime's outputs for the model on xs."""
    import onnxruntime as ort
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: x for i, x in zip(s.get_inputs(), xs)})


def check_against_runtime(model, *xs, tol=1e-5):
    """load(model)(*xs) against onnxruntime; returns our loaded model."""
    ours = load(model)
    ys = ours(*xs)
    ys = ys if isinstance(ys, tuple) else (ys,)
    for i, (y, r) in enumerate(zip(ys, reference(model, *xs))):
        assert y.shape == r.shape, f"output {i}: shape {y.shape} != onnxruntime's {r.shape}"
        assert_close(f"output {i}", y, r, tol)
    return ours


def gradcheck_loaded(model, x, tol=1e-6):
    """The loaded model's input gradient against central differences, in float64."""
    from cnnumpy.gradcheck import gradcheck
    errors = gradcheck(load(model), x.astype(np.float64), tol=tol)
    return errors
