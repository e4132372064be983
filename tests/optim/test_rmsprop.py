"""RMSprop against torch.optim.RMSprop, its dtype behaviour and its errors."""
import itertools
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy.nn import Parameter
from cnnumpy.optim.rmsprop import RMSprop
from tests.optim.util import compare, same_state

OPTIONS = [dict(lr=0.01, alpha=a, eps=e, weight_decay=wd, momentum=m, centered=c, maximize=mx)
           for a, e, wd, m, c, mx in itertools.product([0.99, 0.5], [1e-8, 0.1], [0, 0.1], [0, 0.8],
                                                       [False, True], [False, True])]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=str)
def test_parity_with_torch(kwargs):
    worst, opt, ref = compare(RMSprop, torch.optim.RMSprop, kwargs, steps=6)
    assert worst < 1e-12, f"{kwargs}: worst relative error {worst:.3e}"
    same_state(opt, ref)


def test_param_groups_with_their_own_options():
    groups = [{"lr": 0.05, "centered": True}, {"momentum": 0.9, "alpha": 0.9}]
    worst, opt, _ = compare(RMSprop, torch.optim.RMSprop, dict(lr=0.001), groups=groups, steps=8)
    assert worst < 1e-12, f"worst relative error {worst:.3e}"
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.001]


def test_float32_stays_float32_and_matches_torch():
    worst, opt, _ = compare(RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True),
                            dtype=np.float32)
    assert worst < 1e-5, f"float32: worst relative error {worst:.3e}"
    for p, state in opt.state.items():
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for k, v in state.items() if k != "step")


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["lr", "alpha", "eps", "momentum", "weight_decay"]),
       st.floats(max_value=-1e-9, allow_infinity=False))
def test_negative_hyperparameters(name, value):
    with pytest.raises(ValueError, match=re.escape(f"{name}: expected a value >= 0, got {value}")):
        RMSprop([Parameter(np.zeros(2))], **{name: value})
