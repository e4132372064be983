"""Grad-CAM, guided backprop and guided Grad-CAM (cnnumpy/explain/cam.py), in float64: Grad-CAM against a hand
computation from the layer's activation and the numerical gradient of the score with respect to it (upsampled by
torch), guided backprop against nets whose ReLUs have the guided backward written in, and the errors."""
import numpy as np
import pytest
import torch

from cnnumpy import explain, nn
from tests.util import assert_close

from .nets import MODELS, SkipCat, numeric_gradient, sequential

RNG = np.random.default_rng(190)
X = RNG.random((2, 2, 6, 6))
LAYERS = {"sequential": "6", "graph": "relu2", "keras": "re_lu"}  # a ReLU's output map in each


def hand_grad_cam(model, x, t, layer):
    """ReLU(sum_k alpha_k A_k) from A read by a forward hook and dscore/dA by central differences (the layer's
    output replaced by a forward hook), alpha_k = the spatial mean; bilinear upsampling by torch."""
    model.eval()
    acts = []
    with layer.register_forward_hook(lambda m, args, out: acts.append(out.copy())):
        model(x)
    a = acts[0]

    def score(values):
        with layer.register_forward_hook(lambda m, args, out: values.copy()):
            return float(model(x)[np.arange(len(t)), t].sum())

    g = numeric_gradient(score, a)
    alpha = g.mean(axis=(2, 3))
    cam = np.maximum((alpha[:, :, None, None] * a).sum(axis=1), 0)
    up = torch.nn.functional.interpolate(torch.tensor(cam[:, None]), size=x.shape[2:], mode="bilinear",
                                         align_corners=False)
    return up.numpy()[:, 0]


@pytest.mark.parametrize("name", list(MODELS))
def test_grad_cam_matches_a_hand_computation(name):
    model = MODELS[name]().train()
    t = np.array([1, 1])
    layer = dict(model.named_modules())[LAYERS[name]]
    expected = hand_grad_cam(model, X, t, layer)
    model.train()
    assert (expected.max(axis=(1, 2)) > 1e-4).all()  # maps that are not all zeros
    assert_close(f"{name}: grad_cam", explain.grad_cam(model, X, t, layer=LAYERS[name]), expected, 1e-7)
    assert_close(f"{name}: grad_cam by module", explain.grad_cam(model, X, t, layer=layer), expected, 1e-7)


def test_grad_cam_upsamples_a_coarse_map():
    model = sequential()
    cam = explain.grad_cam(model, X, 0, layer="3")  # after max pooling: a 3 x 3 map
    assert cam.shape == (2, 6, 6) and cam.dtype == np.float64
    assert (cam >= 0).all()


def test_grad_cam_default_layer_is_the_last_map():
    model = sequential()  # ... Conv2d (5), ReLU (6), Flatten (7), Linear (8): the last map is ReLU 6's
    np.testing.assert_array_equal(explain.grad_cam(model, X), explain.grad_cam(model, X, layer="6"))
    one = explain.grad_cam(model, X[1])
    assert one.shape == (6, 6)
    np.testing.assert_allclose(one, explain.grad_cam(model, X)[1], rtol=0, atol=1e-12)


class Shared(nn.Module):
    """A conv applied twice: Grad-CAM cannot say which call's map to read."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(nn.flatten(self.conv(self.conv(x)), 1))


def test_grad_cam_layer_errors():
    model = sequential()
    with pytest.raises(ValueError, match=r"layer: expected a layer whose output is a map \(N, K, h, w\) with N = 2, "
                                         r"got a Linear with output shape \(2, 3\)"):
        explain.grad_cam(model, X, layer="8")
    with pytest.raises(ValueError, match=r"layer: expected the name of one of the model's modules \('0', '1'"):
        explain.grad_cam(model, X, layer="features.3")
    with pytest.raises(ValueError, match="layer: expected a layer that runs once per forward pass, got a Conv2d that "
                                         "ran 2 times"):
        explain.grad_cam(Shared().double(), X, layer="conv")
    flat = nn.Sequential(nn.Flatten(), nn.Linear(72, 3)).double()
    with pytest.raises(ValueError, match=r"layer: the model has no layer whose output is a map \(N, C, h, w\)"):
        explain.grad_cam(flat, X)


class GuidedReLU(nn.ReLU):
    """ReLU with guided backprop's backward written in: dx = dout * [x > 0] * [dout > 0]."""

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout, input_grad=True):
        return dout * self.mask * (dout > 0)


def test_guided_backprop_of_a_hand_built_net():
    # s = W2 relu(W1 x): the guided gradient of s_t is W1^T ([z > 0] * [W2_t > 0] * W2_t), z = W1 x
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    w1 = np.array([[1.0, -1.0, 0.5, 0.0], [0.5, 1.0, -1.0, 2.0], [-1.0, 0.5, 1.0, 1.0]])
    w2 = np.array([[1.0, -2.0, 0.5], [-1.0, 1.0, 1.0]])
    model[1].weight.data, model[1].bias.data = w1, np.zeros(3)
    model[3].weight.data, model[3].bias.data = w2, np.zeros(2)
    x = np.array([[[[1.0, 0.5], [0.5, 1.0]]]])  # z = W1 x = (1, 2.5, 1.5): all three units active
    expected = (w1.T @ (np.maximum(w2[0], 0))).reshape(1, 1, 2, 2)
    plain = (w1.T @ w2[0]).reshape(1, 1, 2, 2)
    np.testing.assert_allclose(explain.guided_backprop(model, x, 0), expected, rtol=1e-15)
    np.testing.assert_allclose(explain.input_gradient(model, x, 0), plain, rtol=1e-15)  # the hook is gone
    assert not np.allclose(expected, plain)


def guided_copy(name, model):
    """The same model with every nn.ReLU replaced by GuidedReLU (weights shared)."""
    if name == "sequential":
        return nn.Sequential(*[GuidedReLU() if isinstance(m, nn.ReLU) else m for m in model])
    copy = SkipCat()
    for child, m in model.named_children():
        setattr(copy, child, GuidedReLU() if isinstance(m, nn.ReLU) else m)
    return copy


@pytest.mark.parametrize("name", ["sequential", "graph"])
def test_guided_backprop_equals_guided_relus(name):
    model = MODELS[name]()
    t = np.array([2, 0])
    plain = explain.input_gradient(model, X, t)
    ours = explain.guided_backprop(model, X, t)
    expected = explain.input_gradient(guided_copy(name, model), X, t)
    assert_close(f"{name}: guided_backprop", ours, expected, 1e-12)
    assert not np.allclose(ours, plain)  # the guided rule changed something
    # the hooks are removed afterwards: the plain gradient again
    np.testing.assert_array_equal(explain.input_gradient(model, X, t), plain)
    assert all(not getattr(m, "_hooks", None) for m in model.modules())


def test_guided_backprop_needs_a_relu():
    model = nn.Sequential(nn.Conv2d(2, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(32, 3)).double()
    with pytest.raises(ValueError, match="model: guided backprop changes the backward of the model's nn.ReLU layers, "
                                         "and this model has none"):
        explain.guided_backprop(model, X)


@pytest.mark.parametrize("name", list(MODELS))
def test_guided_grad_cam_is_the_product(name):
    model = MODELS[name]()
    t = np.array([0, 1])
    ours = explain.guided_grad_cam(model, X, t, layer=LAYERS[name])
    expected = explain.guided_backprop(model, X, t) * explain.grad_cam(model, X, t, layer=LAYERS[name])[:, None]
    np.testing.assert_array_equal(ours, expected)
    predicted = model.eval()(X).argmax(axis=1)
    np.testing.assert_array_equal(explain.guided_grad_cam(model, X, layer=LAYERS[name]),
                                  explain.guided_grad_cam(model, X, predicted, layer=LAYERS[name]))
    assert explain.guided_grad_cam(model, X[0], 1, layer=LAYERS[name]).shape == (2, 6, 6)


def test_model_mode_gradients_and_hooks_are_restored():
    model = sequential().train()
    for p in model.parameters():
        p.grad = RNG.standard_normal(p.shape)
    grads = [(p.grad, p.grad.copy()) for p in model.parameters()]
    for f in (explain.grad_cam, explain.guided_backprop, explain.guided_grad_cam):
        f(model, X)
        assert all(m.training for m in model.modules()), f.__name__
        assert all(p.requires_grad for p in model.parameters()), f.__name__
        for p, (array, values) in zip(model.parameters(), grads):
            assert p.grad is array, f.__name__
            np.testing.assert_array_equal(p.grad, values, err_msg=f.__name__)
        assert all(not getattr(m, "_hooks", None) for m in model.modules()), f.__name__


def test_an_onnx_import_gives_the_same_maps(tmp_path):
    pytest.importorskip("onnx")
    from cnnumpy import onnx as cnnumpy_onnx

    model = SkipCat().float()
    path = cnnumpy_onnx.export(model.eval(), tmp_path / "skipcat.onnx", (2, 6, 6))
    imported = cnnumpy_onnx.load(path)
    assert [n for n, m in imported.named_modules() if isinstance(m, nn.ReLU)] == ["relu1_Relu", "relu2_Relu"]
    x = X.astype(np.float32)
    for f in (explain.grad_cam, explain.guided_backprop, explain.guided_grad_cam):
        assert f(imported, x).dtype == np.float32, f.__name__
    for f in (explain.saliency, explain.guided_backprop):
        assert_close(f"onnx: {f.__name__}", f(imported, x, 1), f(model, x, 1), 1e-6)
    assert_close("onnx: grad_cam", explain.grad_cam(imported, x, 1, layer="relu2_Relu"),
                 explain.grad_cam(model, x, 1, layer="relu2"), 1e-6)
