"""SGD against torch.optim.SGD, its dtype and in-place behaviour, a quadratic it must minimize, and its errors."""
import itertools
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy.nn import Parameter
from cnnumpy.optim.sgd import SGD
from tests.optim.util import compare, same_state, twins

OPTIONS = [dict(lr=0.05, momentum=m, dampening=d, weight_decay=wd, nesterov=n, maximize=mx)
           for m, d, wd, n, mx in itertools.product([0, 0.9], [0, 0.3], [0, 0.01], [False, True], [False, True])
           if not (n and (m == 0 or d != 0))]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=str)
def test_parity_with_torch(kwargs):
    worst, opt, ref = compare(SGD, torch.optim.SGD, kwargs, steps=6)
    assert worst < 1e-12, f"{kwargs}: worst relative error {worst:.3e}"
    same_state(opt, ref)


def test_param_groups_with_their_own_options():
    groups = [{"lr": 0.2, "momentum": 0.5}, {"weight_decay": 0.1, "nesterov": True, "momentum": 0.9}]
    worst, opt, _ = compare(SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.3), groups=groups, steps=8)
    assert worst < 1e-12, f"worst relative error {worst:.3e}"
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.5, 0.9]


def test_changing_lr_between_steps_matches_torch():
    ours, ref = twins(3)
    opt, ref_opt = SGD(ours, lr=0.1, momentum=0.9), torch.optim.SGD(ref, lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    for step in range(5):
        for p, q in zip(ours, ref):
            g = rng.standard_normal(p.shape)
            p.grad, q.grad = g, torch.tensor(g)
        opt.param_groups[0]["lr"] = ref_opt.param_groups[0]["lr"] = 0.1 / (step + 1)
        opt.step()
        ref_opt.step()
    for p, q in zip(ours, ref):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12)


def test_float32_stays_float32_and_matches_torch():
    worst, opt, _ = compare(SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True),
                            dtype=np.float32)
    assert worst < 1e-5, f"float32: worst relative error {worst:.3e}"
    for group in opt.param_groups:
        for p in group["params"]:
            assert p.data.dtype == np.float32 and opt.state[p]["momentum_buffer"].dtype == np.float32


def test_update_is_in_place_and_grad_is_not_touched():
    p = Parameter(np.ones((2, 2), np.float32))
    data = p.data
    p.grad = np.full((2, 2), 0.5, np.float32)
    SGD([p], lr=0.1, momentum=0.9).step()
    assert p.data is data and np.allclose(data, 0.95)
    assert np.all(p.grad == 0.5)


def test_minimizes_a_quadratic():
    """f(x) = x^T A x / 2 - b^T x has its minimum at A^-1 b; grad f = A x - b."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((5, 5))
    a, b = q @ q.T + np.eye(5), rng.standard_normal(5)
    for kwargs in (dict(lr=0.05), dict(lr=0.05, momentum=0.9, nesterov=True)):
        x = Parameter(np.zeros(5))
        opt = SGD([x], **kwargs)
        for _ in range(2000):
            opt.zero_grad()
            x.grad += a @ x.data - b
            opt.step()
        err = np.abs(x.data - np.linalg.solve(a, b)).max()
        assert err < 1e-8, f"{kwargs}: distance to the minimum {err:.3e}"


def test_closure_and_zero_grad():
    p = Parameter(np.ones(3))
    opt = SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        p.grad += 2 * p.data
        return float(np.sum(p.data ** 2))

    assert opt.step(closure) == 3.0
    assert np.all(p.data == 0.0)
    opt.zero_grad()
    assert np.all(p.grad == 0) and p.grad.shape == (3,)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["lr", "momentum", "weight_decay"]),
       st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
def test_negative_hyperparameters(name, value):
    with pytest.raises(ValueError, match=re.escape(f"{name}: expected a value >= 0, got {value}")):
        SGD([Parameter(np.zeros(2))], **{name: value})


@pytest.mark.parametrize("kwargs", [dict(nesterov=True), dict(nesterov=True, momentum=0.9, dampening=0.1)])
def test_nesterov_needs_momentum_and_no_dampening(kwargs):
    with pytest.raises(ValueError, match="nesterov: expected momentum > 0 and dampening == 0"):
        SGD([Parameter(np.zeros(2))], **kwargs)


def test_group_options_are_checked_too():
    with pytest.raises(ValueError, match="lr: expected a value >= 0, got -0.1"):
        SGD([{"params": [Parameter(np.zeros(2))], "lr": -0.1}])


@pytest.mark.parametrize("lr", ["0.1", None, True])
def test_non_number_lr(lr):
    with pytest.raises(TypeError, match="lr: expected a float"):
        SGD([Parameter(np.zeros(2))], lr=lr)
