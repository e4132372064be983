"""The ready-made models: shapes, parameter counts and the same numbers as the same stack in torch."""
import re

import numpy as np
import pytest
import torch

from cnnumpy import models
from cnnumpy.functional import methods
from cnnumpy.nn.conv import Conv2d
from cnnumpy.nn.dropout import Dropout
from cnnumpy.nn.linear import Linear
from cnnumpy.nn.norm import BatchNorm2d
from tests.nn.test_residual import TorchResidual
from tests.util import assert_close


def torch_lenet5():
    T = torch.nn
    return T.Sequential(T.Conv2d(1, 6, 5, padding=2), T.MaxPool2d(2), T.ReLU(), T.Conv2d(6, 16, 5, padding=2),
                        T.MaxPool2d(2), T.ReLU(), T.Flatten(), T.Linear(784, 120), T.ReLU(), T.Linear(120, 10))


def torch_mnist_cnn():
    T = torch.nn
    return T.Sequential(T.Conv2d(1, 32, 3, padding=1, bias=False), T.BatchNorm2d(32), T.ReLU(), T.MaxPool2d(2),
                        T.Conv2d(32, 64, 3, padding=1, bias=False), T.BatchNorm2d(64), T.ReLU(), T.MaxPool2d(2),
                        T.Flatten(), T.Dropout(0.25), T.Linear(3136, 128), T.ReLU(), T.Dropout(0.5),
                        T.Linear(128, 10))


@pytest.mark.parametrize("name, ref", [("lenet5", torch_lenet5), ("mnist_cnn", torch_mnist_cnn)])
@pytest.mark.parametrize("method", [m for m in methods.general(methods.CONV) if not methods.CONV[m].compiled])
def test_same_as_torch(name, ref, method):
    ours, theirs = models.build(name, method=method).to(np.float64).eval(), ref().double().eval()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})  # strict: same keys
    assert sum(p.data.size for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28))
    xt = torch.tensor(x, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    assert y.shape == (2, 10)
    assert_close("logits", y, yt, 1e-12)
    dout = np.random.default_rng(1).standard_normal(y.shape)
    yt.backward(torch.tensor(dout))
    assert_close("dx", ours.backward(dout), xt.grad, 1e-11)
    grads = {k: p.grad for k, p in theirs.named_parameters()}
    for k, p in ours.named_parameters():
        assert_close(k, p.grad, grads[k], 1e-11)


def torch_cifar_vgg():
    T, layers, c = torch.nn, [], 3
    for width in (32, 64, 128):
        for _ in range(2):
            layers += [T.Conv2d(c, width, 3, padding=1, bias=False), T.BatchNorm2d(width), T.ReLU()]
            c = width
        layers.append(T.MaxPool2d(2))
    return T.Sequential(*layers, T.Flatten(), T.Dropout(0.5), T.Linear(2048, 10))


def torch_basic_block(c_in, c_out, stride):
    T = torch.nn
    body = T.Sequential(T.Conv2d(c_in, c_out, 3, stride, 1, bias=False), T.BatchNorm2d(c_out), T.ReLU(),
                        T.Conv2d(c_out, c_out, 3, 1, 1, bias=False), T.BatchNorm2d(c_out))
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = T.Sequential(T.Conv2d(c_in, c_out, 1, stride, bias=False), T.BatchNorm2d(c_out))
    return T.Sequential(TorchResidual(body, shortcut), T.ReLU())


def torch_resnet(blocks):
    """He et al. 2016, CIFAR: 16/32/64 channels, stride 2 entering stages 2 and 3, projection shortcuts (option B)."""
    T = torch.nn
    layers, c = [T.Conv2d(3, 16, 3, padding=1, bias=False), T.BatchNorm2d(16), T.ReLU()], 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        layers.append(T.Sequential(torch_basic_block(c, width, stride),
                                   *[torch_basic_block(width, width, 1) for _ in range(blocks - 1)]))
        c = width
    return T.Sequential(*layers, T.AdaptiveAvgPool2d(1), T.Flatten(), T.Linear(64, 10))


CIFAR = [("cifar_vgg", torch_cifar_vgg), ("resnet8", lambda: torch_resnet(1)), ("resnet20", lambda: torch_resnet(3))]


def randomize_batchnorm(ours, rng):
    """BatchNorm parameters and running statistics as after training, so eval mode is not the identity."""
    for m in ours.modules():
        if isinstance(m, BatchNorm2d):
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            m.bias.data[...] = rng.normal(0, 0.3, m.bias.shape)
            m.running_mean = rng.normal(0, 0.3, m.running_mean.shape)
            m.running_var = rng.uniform(0.5, 2, m.running_var.shape)


@pytest.mark.parametrize("name, ref", CIFAR)
@pytest.mark.parametrize("training", [False, True])
def test_cifar_models_same_as_torch(name, ref, training):
    """float64, batch 2: logits, dx, every parameter gradient and every buffer after the step, in eval and train.

    In train mode BatchNorm uses batch statistics; Dropout stays off in both, since the two libraries draw
    different masks.
    """
    rng = np.random.default_rng(len(name) + training)
    ours, theirs = models.build(name).to(np.float64), ref().double()
    randomize_batchnorm(ours, rng)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()}, strict=True)
    ours.train(training)
    theirs.train(training)
    for m in ours.modules():
        if isinstance(m, Dropout):
            m.eval()
    for m in theirs.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    x = rng.standard_normal((2, 3, 32, 32))
    xt = torch.tensor(x, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    assert y.shape == (2, 10)
    assert_close(f"{name} logits", y, yt, 1e-12)
    dout = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dout))
    assert_close(f"{name} dx", ours.backward(dout), xt.grad, 1e-12)
    grads = {k: p.grad for k, p in theirs.named_parameters()}
    assert len(grads) == len(ours.parameters())
    for k, p in ours.named_parameters():
        assert_close(f"{name} d {k}", p.grad, grads[k], 1e-12)
    state = theirs.state_dict()
    for k, v in ours.state_dict().items():
        assert_close(f"{name} {k}", v, state[k], 1e-12)


@pytest.mark.parametrize("name, ref", CIFAR)
def test_cifar_models_load_torch_state_strictly(name, ref):
    """torch -> ours with the same keys in the same order; then the same eval logits in float32 (within 1e-5)."""
    theirs = ref().eval()
    ours = models.build(name)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.load_state_dict(theirs.state_dict(), strict=True) == ([], [])
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    y = ours.eval()(x)
    assert y.dtype == np.float32
    assert_close(f"{name} float32 logits", y, theirs(torch.from_numpy(x)), 1e-5)


def multiply_adds(model, x):
    """Multiply-adds of one forward of x[:1]: each conv output value costs C_in/groups*kh*kw, a Linear in*out."""
    model(x[:1])
    total = 0
    for m in model.modules():
        if isinstance(m, Conv2d):
            kh, kw = m.kernel_size
            total += np.prod(m.cache[1][1:]) * m.in_channels // m.groups * kh * kw
        elif isinstance(m, Linear):
            total += m.weight.data.size
    return total


@pytest.mark.parametrize("name, macs, params", [("cifar_vgg", 38.7, 0.31), ("resnet8", 12.5, 0.08),
                                                ("resnet20", 40.8, 0.27)])
def test_cifar_model_costs_are_as_documented(name, macs, params):
    model = models.build(name)
    doc = " ".join(models.MODELS[name].__doc__.split())
    assert f"{macs} M multiply-adds per image" in doc and f"{params} M parameters" in doc, doc
    got = multiply_adds(model, np.zeros((1, 3, 32, 32), dtype=np.float32)) / 1e6
    assert round(got, 1) == macs, f"{name}: {got:.2f} M multiply-adds, docstring says {macs}"
    count = sum(p.data.size for p in model.parameters()) / 1e6
    assert round(count, 2) == params, f"{name}: {count:.3f} M parameters, docstring says {params}"


@pytest.mark.parametrize("name", ["cifar_vgg", "resnet8", "resnet20"])
def test_cifar_models_options(name):
    """num_classes, in_channels (grey 32x32 images) and method reach the layers they name."""
    assert all(m.method == "naive" for m in models.build(name, method="naive").modules() if isinstance(m, Conv2d))
    model = models.build(name, num_classes=7, in_channels=1)
    convs = [m for m in model.modules() if isinstance(m, Conv2d)]
    assert convs[0].in_channels == 1 and all(c.method == "auto" for c in convs)
    assert all(c.bias is None for c in convs)        # BatchNorm follows every conv: a bias would be redundant
    assert model(np.zeros((1, 1, 32, 32), dtype=np.float32)).shape == (1, 7)


def test_resnet_depth_and_downsampling():
    """ResNet-8/20 have 6n+2 weight layers; the projection shortcuts are exactly the 2 stride-2 blocks."""
    for name, n in (("resnet8", 1), ("resnet20", 3)):
        model = models.build(name)
        convs = [(k, m) for k, m in model.named_modules() if isinstance(m, Conv2d)]
        projections = [(k, m) for k, m in convs if ".shortcut." in k]
        assert len(convs) - len(projections) + 1 == 6 * n + 2
        assert [(m.kernel_size, m.stride, m.out_channels) for _, m in projections] == [((1, 1), (2, 2), 32),
                                                                                        ((1, 1), (2, 2), 64)]


def test_unknown_model():
    expected = str(sorted(models.MODELS))
    assert expected.startswith("['airbench94', 'cifar_vgg', 'conv_autoencoder', 'densenet', 'lenet5', 'mnist_cnn', 'mobilenet_v2'")
    with pytest.raises(ValueError, match=re.escape(f"model: expected one of {expected}, got 'resnet'")):
        models.build("resnet")
