"""CosineAnnealingLR and OneCycleLR: OneCycle's lr and momentum against torch's, with every optimizer; the
arguments they refuse (CosineAnnealingLR's lrs against torch's: test_base.py)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy.nn import Parameter
from cnnumpy.optim import lr_scheduler as ours_lr
from cnnumpy.optim.optimizer import Optimizer
from tests.optim.lr_scheduler.util import ONE_CYCLE
from tests.optim.util import OPTIMIZERS, follow, pair

ref_lr = torch.optim.lr_scheduler


@pytest.mark.parametrize("kwargs", ONE_CYCLE, ids=str)
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_one_cycle_matches_torch(opt_name, kwargs):
    opt, ref_opt = pair(opt_name)
    sched, ref = ours_lr.OneCycleLR(opt, **kwargs), ref_lr.OneCycleLR(ref_opt, **kwargs)
    worst_lr, worst_m = follow(sched, ref, opt, ref_opt, ref.total_steps)
    assert worst_lr <= 1e-12 and worst_m <= 1e-12, f"{kwargs}: worst lr {worst_lr:.3e}, momentum {worst_m:.3e}"
    for g, h in zip(opt.param_groups, ref_opt.param_groups):
        for k in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            assert g.get(k) == h.get(k), k
    # torch's limit: total_steps steps after construction, then an error
    with pytest.raises(ValueError, match=f"tried to step {ref.total_steps + 1} times, but total_steps is"):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step"):
        ref.step()


@settings(max_examples=25, deadline=None)
@given(st.floats(allow_nan=False).filter(lambda p: not 0 <= p <= 1))
def test_pct_start_outside_0_1(pct):
    with pytest.raises(ValueError, match=r"pct_start: expected a value in \[0, 1\]"):
        ours_lr.OneCycleLR(pair()[0], 0.1, total_steps=10, pct_start=pct)


BAD = [
    (lambda o: ours_lr.CosineAnnealingLR(o, 10, eta_min=-1.0), ValueError, "eta_min: expected a value >= 0"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1), ValueError, "total_steps: expected total_steps, or both epochs"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, epochs=3), ValueError, "steps_per_epoch=None"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, total_steps=0), ValueError, "total_steps: expected an int >= 1, got 0"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3), ValueError, "epochs: expected an int >= 1"),
    (lambda o: ours_lr.OneCycleLR(o, [0.1], total_steps=5), ValueError,
     r"max_lr: expected a number or 2 numbers \(one per param group\), got 1 values"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, total_steps=5, anneal_strategy="cosine"), ValueError,
     "anneal_strategy: expected 'cos' or 'linear', got 'cosine'"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, total_steps=5, div_factor=0), ValueError,
     "div_factor: expected a value > 0, got 0"),
    (lambda o: ours_lr.OneCycleLR(o, -0.1, total_steps=5), ValueError, "max_lr: expected a value >= 0"),
]


@pytest.mark.parametrize("make, error, message", BAD)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(pair()[0])


def test_cycle_momentum_needs_momentum():
    class Plain(Optimizer):
        """An optimizer with no momentum option."""

        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def _check(self, group):
            pass

    opt = Plain([Parameter(np.zeros(1))])
    with pytest.raises(ValueError, match="cycle_momentum: expected an optimizer with momentum or betas, got Plain"):
        ours_lr.OneCycleLR(opt, 0.1, total_steps=5)
    ours_lr.OneCycleLR(opt, 0.1, total_steps=5, cycle_momentum=False)

