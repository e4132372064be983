"""Round trips through ONNX: cnnumpy -> ONNX -> cnnumpy -> ONNX -> onnxruntime, and torch -> ONNX (both exporters)
-> cnnumpy -> ONNX -> onnxruntime, each within 1e-5 of where it started; and an imported model fine-tuned (a new
head, a training step) then exported, which onnxruntime runs as cnnumpy does."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import models, nn, optim

onnx = pytest.importorskip("onnx", reason="needs the onnx extra: pip install 'cnnumpy[onnx]'")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from cnnumpy import onnx as cnx  # noqa: E402  (after the skips: it needs the onnx package)

MODELS = {"lenet5": (1, 28, 28), "resnet8": (3, 32, 32), "mobilenet_v2_cifar_half": (3, 32, 32),
          "squeezenet1_1": (3, 48, 48), "densenet": (3, 16, 16), "unet": (1, 32, 32)}


def run_ort(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def randomized(model):
    """model with BatchNorm's statistics and affine parameters as after training (not the identity)."""
    rng = np.random.default_rng(0)
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith(("running_mean", "bias")) and value.dtype.kind == "f":
            value[...] = rng.normal(0, 0.1, value.shape)
        elif key.endswith("running_var") or (key.endswith("weight") and value.ndim == 1):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
    model.load_state_dict(state)
    return model


@pytest.mark.parametrize("name", list(MODELS))
def test_cnnumpy_onnx_cnnumpy_onnx_onnxruntime(name, tmp_path):
    cnnumpy.manual_seed(0)
    shape = MODELS[name]
    model = randomized(models.build(name)).eval()
    x = np.random.default_rng(1).random((3,) + shape, dtype=np.float32)
    y = model(x)
    cnx.export(model, tmp_path / "a.onnx", shape)
    back = cnx.load(tmp_path / "a.onnx").eval()
    assert back.input_shapes == [(None,) + shape]  # the batch left open, as the file declares it
    assert rel(back(x), y) < 1e-5
    ours, theirs = model.state_dict(), back.state_dict()
    assert set(ours) <= set(theirs)  # the file's names are the state_dict keys (plus counters ONNX has no use for)
    assert all(np.array_equal(ours[k], theirs[k]) for k in ours)
    cnx.export(back, tmp_path / "b.onnx", shape)
    assert rel(run_ort(tmp_path / "b.onnx", x), y) < 1e-5


class Block(torch.nn.Module):
    """A residual block with BatchNorm and a squeeze-excitation gate, then a Fire-like concatenation."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8),
                                        torch.nn.ReLU())
        self.gate = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(8, 8, 1), torch.nn.Sigmoid())
        self.e1, self.e3 = torch.nn.Conv2d(8, 4, 1), torch.nn.Conv2d(8, 4, 3, padding=1)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        h = self.conv(x)
        h = h + h * self.gate(h)
        h = torch.cat([torch.relu(self.e1(h)), torch.relu(self.e3(h))], 1)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1))


@pytest.mark.parametrize("dynamo", [False, True])
def test_torch_onnx_cnnumpy_onnx_onnxruntime(dynamo, tmp_path):
    torch.manual_seed(0)
    net = Block().eval()
    with torch.no_grad():
        net.conv[1].running_mean.uniform_(-0.1, 0.1)
        net.conv[1].running_var.uniform_(0.5, 1.5)
    x = np.random.default_rng(2).random((2, 3, 12, 12), dtype=np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    batch = {"dynamic_shapes": {"x": {0: torch.export.Dim("n")}}} if dynamo else {"dynamic_axes": {"x": {0: "n"}}}
    torch.onnx.export(net, (torch.from_numpy(x),), str(tmp_path / "t.onnx"), dynamo=dynamo, opset_version=18,
                      input_names=["x"], **batch)
    model = cnx.load(tmp_path / "t.onnx").eval()
    assert rel(model(x), expected) < 1e-5
    cnx.export(model, tmp_path / "c.onnx", (3, 12, 12))
    assert rel(run_ort(tmp_path / "c.onnx", x), expected) < 1e-5


def test_fine_tuned_import_exports_what_it_computes(tmp_path):
    """Load, replace the head, freeze the body, train a step, export: onnxruntime gives cnnumpy's outputs."""
    from cnnumpy.onnx.finetune import freeze_body, replace_head
    cnnumpy.manual_seed(0)
    cnx.export(randomized(models.resnet8()).eval(), tmp_path / "r.onnx", (3, 32, 32))
    model = cnx.load(tmp_path / "r.onnx")
    replace_head(model, 4)
    freeze_body(model)
    rng = np.random.default_rng(3)
    x, y = rng.random((8, 3, 32, 32), dtype=np.float32), rng.integers(0, 4, 8)
    loss, opt = nn.CrossEntropyLoss(), optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss(model(x), y)
    model.backward(loss.backward())
    opt.step()
    model.eval()
    cnx.export(model, tmp_path / "tuned.onnx", (3, 32, 32))
    assert rel(run_ort(tmp_path / "tuned.onnx", x), model(x)) < 1e-5
