"""Module, Parameter and Sequential: traversal, modes, dtype conversion and PyTorch-compatible state dicts."""
import numpy as np
import pytest
import torch

from cnnumpy import nn


class Scale(nn.Module):
    """y = a * x with a learnable scalar and a buffer: enough to exercise every traversal."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(np.array([2.0], np.float32))
        self.register_buffer("calls", np.zeros((), np.int64))
        self.register_buffer("mean", np.zeros(1, np.float32))

    def forward(self, x):
        self.cache = x
        self.calls += 1
        return self.a.data * x

    def backward(self, dout):
        x = self.saved()
        self.a.grad += np.sum(dout * x).reshape(1)
        return self.a.data * dout


def nested():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(Scale(), nn.Conv2d(2, 1, 1, bias=False)))


def test_named_parameters_and_state_dict_keys():
    model = nested()
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.0.a", "1.1.weight"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.0.a", "1.0.calls", "1.0.mean", "1.1.weight"]
    assert len(model.parameters()) == 4 and len(model) == 2
    assert isinstance(model[1][0], Scale) and model[-1] is model[1]
    with pytest.raises(IndexError, match="Sequential index: expected -2 <= index < 2, got 2"):
        model[2]


def test_state_dict_is_a_copy_and_loads_back():
    model = nested()
    state = model.state_dict()
    state["0.weight"][...] = 7
    assert not (model[0].weight.data == 7).any()
    other = nested()
    other.load_state_dict(model.state_dict())
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_load_state_dict_errors():
    model = nested()
    state = model.state_dict()
    del state["0.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['0.bias'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["0.bias"] and unexpected == ["extra"]
    state = model.state_dict()
    state["0.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"state_dict\['0.weight'\]: expected shape \(2, 1, 3, 3\), got \(3, 3\)"):
        model.load_state_dict(state)


def test_state_dict_round_trip_with_torch():
    ours = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sequential(nn.Conv2d(4, 2, 3, groups=2)))
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Sequential(torch.nn.Conv2d(4, 2, 3, groups=2)))
    ref.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})  # strict by default
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(ours(x), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    fresh = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sequential(nn.Conv2d(4, 2, 3, groups=2)))
    fresh.load_state_dict(ref.state_dict())
    np.testing.assert_array_equal(fresh(x), ours(x))


def test_train_eval_propagate():
    model = nested()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_to_float64_converts_parameters_and_float_buffers_only():
    model = nested().to(np.float64)
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model[1][0].mean.dtype == np.float64
    assert model[1][0].calls.dtype == np.int64
    x = np.ones((1, 1, 5, 5))
    assert model(x).dtype == np.float64
    assert model.float()(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="dtype: expected a floating dtype .* got int32"):
        model.to(np.int32)


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


def test_parameter_grad_matches_data():
    p = nn.Parameter(np.ones((2, 3), np.float64))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float64 and not p.grad.any()
    assert nn.Parameter([1, 2]).dtype == np.float32
