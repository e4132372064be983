"""The ready-made models: shapes, parameter counts and the same numbers as the same stack in torch."""
import numpy as np
import pytest
import torch

from cnnumpy import models
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
@pytest.mark.parametrize("method", ["im2col", "naive"])
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


def test_unknown_model():
    with pytest.raises(ValueError, match=r"model: expected one of \['lenet5', 'mnist_cnn'\], got 'resnet'"):
        models.build("resnet")
