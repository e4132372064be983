"""The Optimizer base: parameter groups, state_dict round trips, and the errors for bad params or state."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy import nn
from cnnumpy.nn import Parameter
from cnnumpy.optim.adam import Adam, AdamW
from cnnumpy.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
from cnnumpy.optim.rmsprop import RMSprop
from cnnumpy.optim.sgd import SGD
from tests.optim.util import SHAPES, compare, grads, npz_like, plain_types, same_state, split, twins

CONFIGS = [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (SGD, dict(lr=0.1)),
    (Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (AdamW, dict(lr=0.01, maximize=True)),
    (RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
]
GROUPS = [{"lr": 0.05}, {"weight_decay": 0.2}]


def run(opt, params, rng, steps, sched=None):
    for step in range(steps):
        for p, g in zip(params, grads(rng, step)):
            p.grad = g
        opt.step()
        if sched is not None:
            sched.step()


@pytest.mark.parametrize("cls, kwargs", CONFIGS, ids=lambda c: getattr(c, "__name__", str(c)))
@pytest.mark.parametrize("with_sched", [False, True], ids=["alone", "with OneCycleLR"])
def test_state_dict_round_trip_is_bit_exact(cls, kwargs, with_sched):
    """Save after 4 steps, load into a fresh optimizer (and scheduler) through a pickle-free
    checkpoint's types, go on for 6 steps: the same arrays, bit for bit, as 10 steps in one go."""
    def make(params):
        opt = cls(split(params, GROUPS), **kwargs)
        return opt, (OneCycleLR(opt, [0.1, 0.02], total_steps=10, three_phase=True) if with_sched else None)

    straight, _ = twins(0)
    opt, sched = make(straight)
    run(opt, straight, np.random.default_rng(1), 10, sched)

    first, _ = twins(0)
    opt, sched = make(first)
    rng = np.random.default_rng(1)
    run(opt, first, rng, 4, sched)
    saved = npz_like(opt.state_dict()), npz_like(sched.state_dict()) if sched else None

    resumed = [Parameter(p.data.copy()) for p in first]
    opt, sched = make(resumed)
    opt.load_state_dict(saved[0])
    if sched:
        sched.load_state_dict(saved[1])
    # the same generator goes on, so steps 4..9 see the same gradients as in the straight run
    for step in range(4, 10):
        for p, g in zip(resumed, grads(rng, step)):
            p.grad = g
        opt.step()
        if sched:
            sched.step()
    for a, b in zip(straight, resumed):
        assert np.array_equal(a.data, b.data), f"worst difference {np.abs(a.data - b.data).max():.3e}"


@pytest.mark.parametrize("cls, kwargs", CONFIGS, ids=lambda c: getattr(c, "__name__", str(c)))
def test_state_dict_structure(cls, kwargs):
    params, _ = twins(0)
    opt = cls(split(params, GROUPS), **kwargs)
    CosineAnnealingLR(opt, T_max=5)
    run(opt, params, np.random.default_rng(0), 1)
    sd = opt.state_dict()
    assert plain_types(sd), sd
    assert list(sd) == ["state", "param_groups"]
    # at step 0 the vector (index 1) had no gradient, so it has no state yet; plain SGD keeps none
    assert sorted(sd["state"]) == ([] if kwargs == {"lr": 0.1} else [0, 2, 3])
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sd["param_groups"][0]["lr"] == 0.05 and sd["param_groups"][0]["initial_lr"] == 0.05
    for i, entry in sd["state"].items():
        for k, v in entry.items():
            assert isinstance(v, int) if k == "step" else v.shape == SHAPES[i]


def test_state_dict_is_a_snapshot():
    p = Parameter(np.zeros(3))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    sd = opt.state_dict()
    opt.step()
    assert np.all(sd["state"][0]["momentum_buffer"] == 1.0)


def test_state_dict_matches_torch_keys():
    """Same top-level structure and, apart from torch's device options, the same group keys."""
    ours, ref = twins(0)
    for cls, ref_cls in [(SGD, torch.optim.SGD), (Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW),
                         (RMSprop, torch.optim.RMSprop)]:
        a, b = cls(ours).state_dict(), ref_cls(ref).state_dict()
        device_options = {"foreach", "capturable", "differentiable", "fused"}
        assert list(a) == list(b)
        assert list(a["param_groups"][0]) == [k for k in b["param_groups"][0] if k not in device_options]
        assert a["param_groups"][0]["params"] == b["param_groups"][0]["params"]


def test_load_state_dict_keeps_parameter_dtype():
    p64 = Parameter(np.zeros(3))
    opt = Adam([p64])
    p64.grad = np.ones(3)
    opt.step()
    p32 = Parameter(np.zeros(3, np.float32))
    fresh = Adam([p32])
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state[p32]["exp_avg"].dtype == np.float32 and fresh.state[p32]["step"] == 1


def test_model_parameters_and_param_groups():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 1, 1))
    opt = SGD(model.parameters(), lr=0.1)
    assert len(opt.param_groups) == 1 and len(opt.param_groups[0]["params"]) == 4
    opt = SGD([{"params": model[0].parameters()}, {"params": model[1].weight, "lr": 0.5}], lr=0.1)
    assert [len(g["params"]) for g in opt.param_groups] == [2, 1]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    opt.add_param_group({"params": [model[1].bias], "momentum": 0.9})
    assert opt.param_groups[2]["momentum"] == 0.9 and opt.param_groups[2]["lr"] == 0.1


def test_repr_lists_the_groups():
    text = repr(SGD([Parameter(np.zeros(1))], lr=0.25))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "lr: 0.25" in text


BAD_PARAMS = [
    ([], ValueError, "params: expected at least one Parameter, got an empty list"),
    (Parameter(np.zeros(2)), TypeError, "got a single Parameter"),
    (5, TypeError, "params: expected an iterable of Parameters or of dicts"),
    ([np.zeros(2)], TypeError, r"param_groups\[0\]\['params'\]\[0\]: expected a cnnumpy.nn.Parameter, got ndarray"),
    ([{"lr": 0.1}], ValueError, r"param_groups\[0\]: expected a 'params' key"),
    ([{"params": {Parameter(np.zeros(2))}}], TypeError, "got a set"),
]


@pytest.mark.parametrize("params, error, message", BAD_PARAMS)
def test_bad_params(params, error, message):
    with pytest.raises(error, match=message):
        SGD(params, lr=0.1)


def test_a_parameter_twice():
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="appears twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[1\]: a parameter .* appears twice"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_wrong_gradient_shape():
    p = Parameter(np.zeros((2, 3)))
    p.grad = np.zeros(3)
    with pytest.raises(ValueError, match=r"grad: expected shape \(2, 3\), got \(3,\)"):
        SGD([p], lr=0.1).step()


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4))
def test_load_state_dict_with_other_sizes(saved_n, own_n):
    saved = SGD([Parameter(np.zeros(2)) for _ in range(saved_n)], lr=0.1).state_dict()
    opt = SGD([Parameter(np.zeros(2)) for _ in range(own_n)], lr=0.1)
    if saved_n == own_n:
        opt.load_state_dict(saved)
    else:
        with pytest.raises(ValueError, match=rf"param_groups'\]\[0\]: expected {own_n} parameters, got {saved_n}"):
            opt.load_state_dict(saved)


def test_load_state_dict_errors():
    p = Parameter(np.zeros(2))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(2)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="expected 2 parameter groups, got 1"):
        SGD([{"params": [Parameter(np.zeros(2))]}, {"params": [Parameter(np.zeros(2))]}], lr=0.1).load_state_dict(sd)
    message = r"\['momentum_buffer'\]: expected shape \(3,\) \(the parameter's\), got \(2,\)"
    with pytest.raises(ValueError, match=message):
        SGD([Parameter(np.zeros(3))], lr=0.1).load_state_dict(sd)
    with pytest.raises(KeyError, match="expected keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    sd["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr: expected a value >= 0, got -1.0"):
        opt.load_state_dict(sd)
    sd["param_groups"][0]["lr"] = 0.1
    sd["state"] = {5: sd["state"][0]}
    with pytest.raises(ValueError, match="key 5 is not the index of a parameter"):
        opt.load_state_dict(sd)


FROZEN_CONFIGS = [
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1, maximize=True)),
    (SGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.1)),
    (Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.5, 0.8), weight_decay=0.1, maximize=True)),
    (AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01, weight_decay=0.1)),
]
FREEZING = {
    "frozen from the start": {0: {0, 2}},
    # torch keeps a parameter's state while it is frozen and goes on from it once unfrozen;
    # one frozen before its first step has no state until it is unfrozen, then starts fresh
    "frozen and unfrozen mid-run": {0: {3}, 2: {0}, 4: set(), 5: {1, 3}, 7: {2}},
}


@pytest.mark.parametrize("freezing", FREEZING.values(), ids=list(FREEZING))
@pytest.mark.parametrize("cls, ref_cls, kwargs", FROZEN_CONFIGS, ids=lambda c: getattr(c, "__name__", str(c)))
def test_frozen_parameters_are_skipped_as_in_torch(cls, ref_cls, kwargs, freezing):
    """requires_grad False: no decay, no momentum, no state, whatever p.grad holds; torch skips a
    parameter whose grad is None, which is what a frozen parameter's grad is there."""
    worst, opt, ref = compare(cls, ref_cls, kwargs, groups=GROUPS, steps=9, frozen=freezing)
    assert worst < 1e-12, f"{cls.__name__} {kwargs}: worst relative error {worst:.3e}"
    same_state(opt, ref)


def test_frozen_layer_of_a_model():
    """Module.requires_grad_(False) on the first layer of a real model: it stays put while the rest trains
    as torch's does, through real forward and backward passes."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
    for cls, ref_cls, kwargs in FROZEN_CONFIGS:
        model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64), nn.Tanh(), nn.Linear(4, 3, dtype=np.float64))
        ref = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()
        ref.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
        model[0].requires_grad_(False)
        ref[0].requires_grad_(False)
        start = model[0].weight.data.copy(), model[0].bias.data.copy()
        opt, ref_opt = cls(model.parameters(), **kwargs), ref_cls(ref.parameters(), **kwargs)
        loss_fn = nn.MSELoss()
        for _ in range(5):
            opt.zero_grad()
            loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()
            ref_opt.zero_grad()
            torch.nn.functional.mse_loss(ref(torch.tensor(x)), torch.tensor(y)).backward()
            ref_opt.step()
        assert np.array_equal(model[0].weight.data, start[0]) and np.array_equal(model[0].bias.data, start[1])
        assert model[0].weight not in opt.state
        for k, v in model.state_dict().items():
            want = ref.state_dict()[k].numpy()
            err = np.abs(v - want).max() / np.abs(want).max()
            assert err < 1e-12, f"{cls.__name__} {kwargs} {k}: worst relative error {err:.3e}"
