"""Small CNNs written in torch, exported by both torch exporters, loaded by cnnumpy: the same outputs and input
gradients as torch's, and state_dict keyed by the ONNX initializers' names."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
import onnx  # noqa: E402
from torch import nn as tnn  # noqa: E402

from cnnumpy import nn, optim  # noqa: E402
from cnnumpy.onnx import load  # noqa: E402
from tests.onnx.helpers import EXPORTER_IDS, EXPORTERS, compare, export  # noqa: E402
from tests.util import assert_close  # noqa: E402


class VGGBlock(tnn.Module):
    def __init__(self):
        super().__init__()
        self.features = tnn.Sequential(tnn.Conv2d(3, 6, 3, padding=1), tnn.BatchNorm2d(6), tnn.ReLU(),
                                       tnn.MaxPool2d(2), tnn.Conv2d(6, 8, 3, padding=1), tnn.ReLU())
        self.pool = tnn.AdaptiveAvgPool2d(1)
        self.classifier = tnn.Sequential(tnn.Dropout(0.5), tnn.Linear(8, 5))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(tnn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.conv1 = tnn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False)
        self.bn1 = tnn.BatchNorm2d(2 * c)
        self.conv2 = tnn.Conv2d(2 * c, 2 * c, 3, padding=1, bias=False)
        self.bn2 = tnn.BatchNorm2d(2 * c)
        self.down = tnn.Sequential(tnn.Conv2d(c, 2 * c, 1, stride=2, bias=False), tnn.BatchNorm2d(2 * c))
        self.relu = tnn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.down(x))


class Fire(tnn.Module):
    def __init__(self):
        super().__init__()
        self.squeeze = tnn.Conv2d(4, 2, 1)
        self.expand1x1 = tnn.Conv2d(2, 3, 1)
        self.expand3x3 = tnn.Conv2d(2, 3, 3, padding=1)
        self.act = tnn.ReLU()

    def forward(self, x):
        s = self.act(self.squeeze(x))
        return torch.cat([self.act(self.expand1x1(s)), self.act(self.expand3x3(s))], 1)


class DenseLayer(tnn.Module):
    def __init__(self, c=4, growth=3):
        super().__init__()
        self.norm1, self.relu1 = tnn.BatchNorm2d(c), tnn.ReLU()
        self.conv1 = tnn.Conv2d(c, 4 * growth, 1, bias=False)
        self.norm2, self.relu2 = tnn.BatchNorm2d(4 * growth), tnn.ReLU()
        self.conv2 = tnn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, y], 1)


class InvertedResidual(tnn.Module):
    def __init__(self, c=4, t=3):
        super().__init__()
        self.conv = tnn.Sequential(
            tnn.Conv2d(c, c * t, 1, bias=False), tnn.BatchNorm2d(c * t), tnn.ReLU6(),
            tnn.Conv2d(c * t, c * t, 3, padding=1, groups=c * t, bias=False), tnn.BatchNorm2d(c * t), tnn.ReLU6(),
            tnn.Conv2d(c * t, c, 1, bias=False), tnn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.conv(x)


class UNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.down = tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), tnn.ReLU())
        self.pool = tnn.MaxPool2d(2)
        self.mid = tnn.Sequential(tnn.Conv2d(4, 8, 3, padding=1), tnn.ReLU())
        self.up = tnn.ConvTranspose2d(8, 4, 2, stride=2)
        self.up2 = tnn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.up3 = tnn.Upsample(scale_factor=2, mode="nearest")
        self.out = tnn.Conv2d(4 + 4 + 8, 2, 1)

    def forward(self, x):
        d = self.down(x)
        m = self.mid(self.pool(d))
        return self.out(torch.cat([self.up(m), d, self.up2(m) + self.up3(m)], 1)[:, :16]).sigmoid()


class LeNet5(tnn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = tnn.Conv2d(1, 6, 5, padding=2)
        self.s2 = tnn.AvgPool2d(2)
        self.c3 = tnn.Conv2d(6, 16, 5)
        self.s4 = tnn.AvgPool2d(2)
        self.f5 = tnn.Linear(16 * 5 * 5, 120)
        self.f6 = tnn.Linear(120, 84)
        self.f7 = tnn.Linear(84, 10)

    def forward(self, x):
        x = self.s2(torch.tanh(self.c1(x)))
        x = self.s4(torch.tanh(self.c3(x)))
        x = x.view(x.size(0), -1)
        return torch.log_softmax(self.f7(torch.tanh(self.f6(torch.tanh(self.f5(x))))), dim=1)


class Modern(tnn.Module):
    """GroupNorm (TorchScript writes it as InstanceNormalization and an affine), InstanceNorm, LayerNorm, PReLU,
    Hardswish, GELU (an Erf graph at opset 17), SiLU, ELU, reflection padding, ceil_mode, max of two maps."""
    def __init__(self):
        super().__init__()
        self.conv = tnn.Conv2d(3, 8, 3, padding=1)
        self.gn = tnn.GroupNorm(2, 8)
        self.inorm = tnn.InstanceNorm2d(8, affine=True)
        self.prelu = tnn.PReLU(8)
        self.acts = tnn.Sequential(tnn.Hardswish(), tnn.GELU(), tnn.SiLU(), tnn.ELU(0.7))
        self.ln = tnn.LayerNorm([8, 4, 4])
        self.pad = tnn.ReflectionPad2d((1, 0, 2, 1))
        self.fc = tnn.Linear(8, 3)

    def forward(self, x):
        y = self.ln(self.acts(self.prelu(self.inorm(self.gn(self.conv(x))))))
        y = torch.nn.functional.avg_pool2d(self.pad(y), 2, ceil_mode=True).mean((2, 3))
        return (torch.softmax(self.fc(y), -1) * torch.sigmoid(y[:, :3]) + torch.max(y[:, :3], y[:, 3:6])
                - torch.tanh(y[:, 5:8]))


MODELS = {"vgg": (VGGBlock, (2, 3, 8, 8)), "resnet": (BasicBlock, (2, 4, 8, 8)), "fire": (Fire, (2, 4, 6, 6)),
          "dense": (DenseLayer, (2, 4, 6, 6)), "mobilenet": (InvertedResidual, (2, 4, 6, 6)),
          "unet": (UNet, (2, 3, 8, 8)), "lenet": (LeNet5, (2, 1, 28, 28)),
          "modern": (Modern, (2, 3, 4, 4))}


def _made(name, seed=0):
    torch.manual_seed(seed)
    kind, shape = MODELS[name]
    model = kind()
    for m in model.modules():  # running statistics away from 0 and 1, so that eval mode tests them
        if isinstance(m, tnn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return model, x


def _float_initializers(path):
    """The float initializers with several values, except those an op reads as settings (Resize's scales)."""
    g = onnx.load(str(path)).graph
    settings = {i for n in g.node if n.op_type in ("Resize", "Clip", "Pad") for i in n.input[1:]}
    return {t.name for t in g.initializer
            if t.data_type == onnx.TensorProto.FLOAT and np.prod(t.dims) > 1 and t.name not in settings}


@pytest.mark.parametrize("exporter", EXPORTERS, ids=EXPORTER_IDS)
@pytest.mark.parametrize("name", list(MODELS))
def test_eval_export_matches_torch(name, exporter, tmp_path):
    model, x = _made(name)
    path = export(model, x, tmp_path / f"{name}.onnx", *exporter)
    ours = load(path)
    assert not ours.training
    model.eval()
    compare(ours, model, x)
    # state_dict: the initializers' names (BatchNorm's num_batches_tracked aside), arrays as in the file
    state = ours.state_dict()
    keys = {k for k in state if not k.endswith("num_batches_tracked")}
    assert keys == _float_initializers(path)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    for k in keys:
        assert state[k].shape == inits[k].shape and np.array_equal(state[k], inits[k]), k


@pytest.mark.parametrize("name", ["resnet", "dense", "mobilenet", "vgg"])
def test_training_export_keeps_batchnorm(name, tmp_path):
    """TorchScript's training export keeps BatchNorm (training_mode=1): the model loads in train mode, uses the
    batch's statistics, updates the running ones as torch does, and every parameter gets torch's gradient."""
    model, x = _made(name)
    path = export(model, x, tmp_path / f"{name}.onnx", False, 17, training=True)
    ours = load(path)
    assert ours.training
    assert any(isinstance(m, nn.BatchNorm2d) for m in ours.modules())
    ours.train()
    model, _ = _made(name)
    # the export ran a forward in train mode, which moved the running statistics it then wrote: start from them
    model.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    model.train()
    if name == "vgg":  # Dropout draws differ; compare without it
        ours.eval()
        for m in ours.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.train()
        model.classifier[0].p = 0.0
        for m in ours.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
    model.zero_grad()
    compare(ours, model, x)
    params = dict(model.named_parameters())
    state = ours.state_dict()
    for key, buf in model.state_dict().items():
        if "running" in key:
            assert_close(key, state[key], buf, 1e-5)
    grads = {}
    for path_, m in ours.named_modules():
        for attr in ("weight", "bias"):
            p = getattr(m, attr, None)
            if isinstance(p, nn.Parameter):
                grads[ours._keys[f"{path_}.{attr}"][0]] = p.grad
    for key, g in grads.items():  # a conv's bias before BatchNorm gets ~0: measured against 1e-5 at least
        ref = params[key].grad.numpy()
        assert_close(f"grad {key}", g, ref, 1e-3, scale=max(np.abs(ref).max(), 1e-4))


def test_loaded_model_is_an_ordinary_module(tmp_path):
    """summary(), an SGD step, a new head and a frozen backbone, as with any cnnumpy model."""
    model, x = _made("vgg")
    path = tmp_path / "vgg.onnx"
    model.eval()
    torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=True, opset_version=18,
                      dynamic_shapes={"x": {0: torch.export.Dim("n")}})
    ours = load(path)
    text = str(ours.summary((3, 8, 8)))
    assert "Conv2d" in text and "Linear" in text
    # a new head: the step finds the child by its path
    assert isinstance(ours.classifier["1"], nn.Linear)
    ours.classifier["1"] = nn.Linear(8, 2)
    ours.train()
    y = ours(x)
    assert y.shape == (2, 2)
    # freeze everything but the head, one SGD step: only the head moves
    ours.features.requires_grad_(False)
    frozen = ours.features["0"].weight.data.copy()
    head = ours.classifier["1"].weight.data.copy()
    opt = optim.SGD(ours.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()
    ours.zero_grad()
    out = ours(x)
    loss(out, np.array([0, 1]))
    ours.backward(loss.backward())
    opt.step()
    assert np.array_equal(ours.features["0"].weight.data, frozen)
    assert not np.array_equal(ours.classifier["1"].weight.data, head)
    # state_dict: the file's names, the new head's own; load_state_dict takes them back
    state = ours.state_dict()
    assert "features.0.weight" in state and state["classifier.1.weight"].shape == (2, 8)
    state["classifier.1.weight"] = np.zeros((2, 8), np.float32)
    ours.load_state_dict(state)
    assert not ours.classifier["1"].weight.data.any()


def test_dynamic_batch_shape_subgraph(tmp_path):
    """x.view(x.size(0), -1) exported with a dynamic batch: Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
    computed from the input's shape when the model runs; any batch size works."""
    model, x = _made("lenet")
    model.eval()
    path = tmp_path / "lenet.onnx"
    torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=False, opset_version=17,
                      dynamic_axes={"x": {0: "n"}}, input_names=["x"])
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Shape" in ops
    ours = load(path)
    for n in (1, 3):
        xn = np.random.default_rng(n).standard_normal((n, 1, 28, 28)).astype(np.float32)
        compare(ours, model, xn)


def test_local_response_norm(tmp_path):
    """torch's LocalResponseNorm, exported by dynamo: Pad and a 3-d AveragePool over the channels alone."""
    torch.manual_seed(0)
    model = tnn.Sequential(tnn.Conv2d(2, 6, 3), tnn.LocalResponseNorm(3, alpha=0.5, k=1.5)).eval()
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    ours = load(export(model, x, tmp_path / "lrn.onnx", True, 18))
    compare(ours, model, x)


def test_initializers_shared_through_identity_become_parameters_of_their_own(tmp_path):
    """torch's TorchScript exporter writes equal initializers once and hands them on through Identity nodes (here
    the zero biases BatchNorm leaves when folded into its conv): each conv gets its own parameter, as in torch."""
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1, bias=False),
                              torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    path = export(net, x, tmp_path / "shared.onnx", dynamo=False, opset=18)
    assert "Identity" in [n.op_type for n in onnx.load(str(path)).graph.node]
    ours = load(path).eval()
    compare(ours, net.eval(), x)
    biases = [p for name, p in ours.named_parameters() if p.data.ndim == 1]
    assert len(biases) == 2 and biases[0] is not biases[1]
