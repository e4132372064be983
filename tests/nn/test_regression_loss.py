"""L1Loss, SmoothL1Loss, HuberLoss: gradients, PyTorch parity over random configurations, errors."""
import re

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy.nn import HuberLoss, L1Loss, MSELoss, SmoothL1Loss
from tests.parity import assert_matches_torch

REDUCTIONS = ["mean", "sum", "none"]


def case(seed):
    """A random loss of the family with its options, and input and target (some elements equal: the kink)."""
    rng = np.random.default_rng(seed)
    cls = [L1Loss, SmoothL1Loss, HuberLoss, MSELoss][seed % 4]
    kwargs = {"reduction": REDUCTIONS[seed % 3]}
    if cls is SmoothL1Loss:
        kwargs["beta"] = float(rng.choice([0.0, 0.5, 1.0, 2.5]))
    if cls is HuberLoss:
        kwargs["delta"] = float(rng.choice([0.1, 1.0, 3.0]))
    shape = tuple(int(s) for s in rng.integers(1, 5, int(rng.integers(0, 5))))
    scale = float(rng.choice([0.1, 1, 10]))
    x, y = rng.standard_normal(shape) * scale, rng.standard_normal(shape) * scale
    y = np.where(rng.random(shape) < 0.2, x, y)  # torch's gradient at d = 0 is 0 for L1
    return cls, kwargs, x, y, f"seed {seed}: {cls.__name__}{kwargs} {shape}"


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 1e-6)])
@pytest.mark.parametrize("seed", range(48))
def test_matches_torch(seed, dtype, tol):
    cls, kwargs, x, y, label = case(seed)
    assert_matches_torch(cls(**kwargs), getattr(torch.nn, cls.__name__)(**kwargs), x, dtype, tol=tol,
                         args=(y.astype(dtype),), label=label)


@pytest.mark.parametrize("seed", range(16))
def test_gradcheck(seed):
    cls, kwargs, x, y, label = case(seed)
    y = x + np.where(np.abs(x - y) < 0.05, 0.3, y - x)  # keep off the kinks, where the slope jumps
    errors = cnnumpy.gradcheck(cls(**kwargs), x, np.asarray(y))
    assert errors["x"] < 1e-6, (label, errors)


def test_the_pieces_by_hand():
    d = np.array([-3.0, -0.5, 0.0, 0.25, 2.0])
    zero = np.zeros(5)
    sl1, hub = SmoothL1Loss(reduction="none", beta=1.0), HuberLoss(reduction="none", delta=2.0)
    np.testing.assert_allclose(sl1(d, zero), [2.5, 0.125, 0, 0.03125, 1.5])
    np.testing.assert_allclose(sl1.backward(), [-1, -0.5, 0, 0.25, 1])
    np.testing.assert_allclose(hub(d, zero), [4, 0.125, 0, 0.03125, 2])  # 2 (3 - 1); 0.5 d^2
    np.testing.assert_allclose(hub.backward(), [-2, -0.5, 0, 0.25, 2])
    # HuberLoss(delta) = delta * SmoothL1Loss(beta=delta)
    np.testing.assert_allclose(hub(d, zero), 2 * SmoothL1Loss(reduction="none", beta=2.0)(d, zero))
    l1 = L1Loss()
    assert l1(d, zero) == np.abs(d).mean() and SmoothL1Loss(beta=0.0)(d, zero) == l1(d, zero)


def test_repr_and_dtype():
    assert repr(SmoothL1Loss(beta=0.5)) == "SmoothL1Loss(reduction='mean', beta=0.5)"
    assert repr(HuberLoss(reduction="sum")) == "HuberLoss(reduction='sum', delta=1.0)"
    assert repr(L1Loss()) == "L1Loss(reduction='mean')"
    for cls in (L1Loss, SmoothL1Loss, HuberLoss):
        loss = cls()
        assert np.asarray(loss(np.ones(3, np.float32), np.zeros(3))).dtype == np.float32
        assert loss.backward().dtype == np.float32


def test_errors():
    with pytest.raises(ValueError, match=re.escape("beta: expected a float >= 0, got -1")):
        SmoothL1Loss(beta=-1)
    with pytest.raises(TypeError, match=re.escape("beta: expected a float, got '1' (str)")):
        SmoothL1Loss(beta="1")
    with pytest.raises(ValueError, match=re.escape("delta: expected a float > 0, got 0")):
        HuberLoss(delta=0)
    with pytest.raises(ValueError, match=re.escape("target: expected the input's shape (2, 3), got (3,)")):
        L1Loss()(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(TypeError, match="input: expected a floating dtype.*got int64"):
        HuberLoss()(np.zeros(3, np.int64), np.zeros(3))
    with pytest.raises(ValueError, match="reduction: expected one of 'mean', 'sum', 'none', got 'avg'"):
        HuberLoss(reduction="avg")
