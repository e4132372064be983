"""Sequential (nn/container.py): backward in reverse, accumulation, indexing and replacing layers as torch."""
import numpy as np
import pytest
import torch

from cnnumpy import nn
from tests.nn.test_module import nested


def test_sequential_backward_runs_in_reverse_and_accumulates():
    model = nested().to(np.float64)
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5))
    y = model(x)
    model.zero_grad()
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape
    g = model[1][0].a.grad.copy()
    model.backward(np.ones_like(y))
    np.testing.assert_allclose(model[1][0].a.grad, 2 * g)
    model.zero_grad()
    assert all(not p.grad.any() for p in model.parameters())


def test_sequential_rejects_non_modules_and_repr():
    with pytest.raises(TypeError, match="Sequential: argument 1 expected a Module, got function"):
        nn.Sequential(nn.Conv2d(1, 1, 1), lambda x: x)
    text = repr(nested())
    assert "(0): Conv2d(1, 2, kernel_size=(3, 3)" in text and "(1): Sequential(" in text


def test_sequential_setitem_replaces_a_layer_as_torch():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    head = nn.Linear(3, 5)
    seq[-1] = head
    assert seq[2] is head and list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ref = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    ref[-1] = torch.nn.Linear(3, 5)
    assert list(ref.state_dict()) == list(seq.state_dict())
    with pytest.raises(IndexError, match=r"Sequential index: expected -3 <= index < 3, got 3"):
        seq[3] = head
    with pytest.raises(TypeError, match=r"Sequential\[0\]: expected a Module, got int"):
        seq[0] = 3
