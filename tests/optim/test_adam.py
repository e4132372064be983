"""Adam and AdamW against torch.optim, their dtype behaviour and their errors."""
import itertools
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy.nn import Parameter
from cnnumpy.optim.adam import Adam, AdamW
from tests.optim.util import compare, same_state

# eps=0.1 makes its placement (after the bias correction of sqrt(v)) visible in the result
OPTIONS = [dict(lr=0.01, betas=b, eps=e, weight_decay=wd, amsgrad=a, maximize=m)
           for b, e, wd, a, m in itertools.product([(0.9, 0.999), (0.5, 0.8)], [1e-8, 0.1], [0, 0.1],
                                                   [False, True], [False, True])]
PAIRS = [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=str)
@pytest.mark.parametrize("ours_cls, ref_cls", PAIRS, ids=["Adam", "AdamW"])
def test_parity_with_torch(ours_cls, ref_cls, kwargs):
    worst, opt, ref = compare(ours_cls, ref_cls, kwargs, steps=6)
    assert worst < 1e-12, f"{ours_cls.__name__} {kwargs}: worst relative error {worst:.3e}"
    same_state(opt, ref)


@pytest.mark.parametrize("ours_cls, ref_cls", PAIRS, ids=["Adam", "AdamW"])
def test_param_groups_with_their_own_options(ours_cls, ref_cls):
    groups = [{"lr": 0.05, "betas": (0.8, 0.99)}, {"weight_decay": 0.2, "amsgrad": True}]
    worst, opt, _ = compare(ours_cls, ref_cls, dict(lr=0.001), groups=groups, steps=8)
    assert worst < 1e-12, f"worst relative error {worst:.3e}"
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.001]


def test_adamw_defaults_match_torch():
    p = Parameter(np.zeros(2))
    ours = AdamW([p]).param_groups[0]
    ref = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))]).param_groups[0]
    assert {k: ours[k] for k in ours if k != "params"} == {k: ref[k] for k in ours if k != "params"}
    assert ours["weight_decay"] == 0.01 and ours["decoupled_weight_decay"] is True


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_float32_stays_float32_and_matches_torch(cls):
    ref_cls = dict(PAIRS)[cls]
    worst, opt, _ = compare(cls, ref_cls, dict(lr=0.01, weight_decay=0.1, amsgrad=True), dtype=np.float32)
    assert worst < 1e-5, f"float32: worst relative error {worst:.3e}"
    for p, state in opt.state.items():
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for k, v in state.items() if k != "step")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1), st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0))
       .filter(lambda b: b == b and abs(b) != float("inf")))
def test_betas_outside_0_1(index, beta):
    betas = [0.9, 0.999]
    betas[index] = beta
    expected = f"betas[{index}]: expected a value" + (" >= 0" if beta < 0 else " in [0, 1)")
    with pytest.raises(ValueError, match=re.escape(f"{expected}, got {beta}")):
        Adam([Parameter(np.zeros(2))], betas=tuple(betas))


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["lr", "eps", "weight_decay"]), st.floats(max_value=-1e-9, allow_infinity=False))
def test_negative_hyperparameters(name, value):
    with pytest.raises(ValueError, match=re.escape(f"{name}: expected a value >= 0, got {value}")):
        AdamW([Parameter(np.zeros(2))], **{name: value})


@pytest.mark.parametrize("betas", [0.9, (0.9,), (0.9, 0.99, 0.999)])
def test_betas_must_be_a_pair(betas):
    with pytest.raises(ValueError, match="betas: expected a pair"):
        Adam([Parameter(np.zeros(2))], betas=betas)
