"""The real-model tests that ship with the onnx package (onnx/backend/test/data/light: AlexNet, DenseNet-121,
Inception v1 and v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512), written by others for every ONNX
runtime: loaded by cnnumpy, they give onnxruntime's outputs.

The "light" files make their weights at run time with ConstantOfShape (every weight 0.02, to keep them small), so
that any two runtimes agree whatever their layers do. Here those nodes become random initializers first (BatchNorm's
and other 1-d values positive), and both runtimes read that same file."""
import math
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs the onnx extra: pip install 'cnnumpy[onnx]'")
ort = pytest.importorskip("onnxruntime")
from onnx import numpy_helper  # noqa: E402

from cnnumpy.onnx import load  # noqa: E402
from tests.util import assert_close  # noqa: E402

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = sorted(p.name[len("light_"):-len(".onnx")] for p in LIGHT.glob("light_*.onnx"))


def randomized(path: Path) -> "onnx.ModelProto":
    """The model with each ConstantOfShape weight replaced by a random initializer of its shape: N(0, 1/fan_in)
    for kernels and matrices, U(0.5, 1.5) for 1-d values (biases, BatchNorm's scale, mean and variance)."""
    model = onnx.load(str(path))
    g = model.graph
    arrays = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    rng = np.random.default_rng(0)
    kept = []
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in arrays:
            shape = tuple(int(d) for d in arrays[node.input[0]])
            if len(shape) == 1:
                w = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            else:  # float32 straight away: VGG-19's first dense layer alone holds 103 M weights
                w = rng.standard_normal(shape, dtype=np.float32) / np.float32(math.sqrt(max(1, math.prod(shape[1:]))))
            g.initializer.append(numpy_helper.from_array(w, node.output[0]))
        else:
            kept.append(node)
    del g.node[:]
    g.node.extend(kept)
    return model


def test_every_model_is_there():
    assert MODELS == ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                      "squeezenet", "vgg19", "zfnet512"], MODELS


@pytest.mark.parametrize("name", MODELS)
def test_light_model_gives_onnxruntimes_outputs(name):
    model = randomized(LIGHT / f"light_{name}.onnx")
    ours = load(model)
    data = next(v for v in model.graph.input if v.name == ours.input_names[0])
    x = np.random.default_rng(1).standard_normal([d.dim_value for d in data.type.tensor_type.shape.dim])
    x = x.astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {data.name: x})[0]
    y = ours(x)
    assert y.shape == expected.shape
    assert np.isfinite(expected).all() and np.std(expected) > 0  # the random weights make a real test of it
    assert_close(name, y, expected, 1e-4)
