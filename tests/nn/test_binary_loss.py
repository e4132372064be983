"""BCELoss, BCEWithLogitsLoss: gradients, PyTorch parity over random configurations, extreme values, errors."""
import re
import warnings

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy.nn import BCELoss, BCEWithLogitsLoss
from tests.parity import assert_matches_torch

REDUCTIONS = ["mean", "sum", "none"]


def case(seed, logits):
    """Random shape, reduction, weight and pos_weight (broadcast over the leading axes, or full), targets hard or
    soft, inputs of any scale (logits) or in (0, 1) with exact 0s and 1s now and then (probabilities)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 5, int(rng.integers(1, 4))))
    kwargs = {"reduction": REDUCTIONS[seed % 3]}
    trailing = shape[-int(rng.integers(1, len(shape) + 1)):]
    if rng.random() < 0.5:
        kwargs["weight"] = rng.uniform(0, 2, trailing)
    if logits and rng.random() < 0.5:
        kwargs["pos_weight"] = rng.uniform(0.1, 5, shape[-1:])
    y = rng.random(shape) if rng.random() < 0.5 else (rng.random(shape) < 0.5).astype(float)
    if logits:
        x = rng.standard_normal(shape) * float(rng.choice([0.1, 1, 10, 1000]))
    else:
        x = rng.uniform(0.01, 0.99, shape)
        if rng.random() < 0.3:
            x = np.where(rng.random(shape) < 0.3, rng.choice([0.0, 1.0], shape), x)  # log clamped at -100
    return kwargs, x, y, f"seed {seed}: {shape} {kwargs}"


def torch_loss(cls, kwargs):
    return getattr(torch.nn, cls.__name__)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                              for k, v in kwargs.items()})


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 5e-6)])
@pytest.mark.parametrize("cls", [BCELoss, BCEWithLogitsLoss])
@pytest.mark.parametrize("seed", range(40))
def test_matches_torch(seed, cls, dtype, tol):
    kwargs, x, y, label = case(seed, cls is BCEWithLogitsLoss)
    got = assert_matches_torch(cls(**kwargs), torch_loss(cls, kwargs), x, dtype, tol=tol, args=(y.astype(dtype),),
                               label=label)
    assert np.isfinite(got["y"][0]).all() and np.isfinite(got["dx"][0]).all()


@pytest.mark.parametrize("cls", [BCELoss, BCEWithLogitsLoss])
@pytest.mark.parametrize("seed", range(12))
def test_gradcheck(seed, cls):
    kwargs, x, y, label = case(seed, cls is BCEWithLogitsLoss)
    x = np.clip(x, 0.05, 0.95) if cls is BCELoss else np.clip(x, -10, 10)
    errors = cnnumpy.gradcheck(cls(**kwargs), x, y)
    assert errors["x"] < 1e-6, (label, errors)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_1000_are_finite_and_exact(dtype):
    """sigmoid(1000) is 1 and log(1 - 1) = -inf; log sigmoid by min(x, 0) - log1p(exp(-|x|)) gives 1000 exactly."""
    x = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0], dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype)
    kwargs = {"reduction": "none", "pos_weight": np.array([3.0])}
    got = assert_matches_torch(BCEWithLogitsLoss(**kwargs), torch_loss(BCEWithLogitsLoss, kwargs), x,
                               args=(y,), tol=1e-6, dout=np.ones(5, dtype))
    np.testing.assert_allclose(got["y"][0], [1000, 3000, 0, 0, 3 * np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(got["dx"][0], [1, -3, 0, 0, -1.5], rtol=1e-6)


def test_probabilities_of_0_and_1_as_torch():
    """The log is clamped at -100 (loss 100, not inf) and the slope's denominator at 1e-12, as torch's."""
    bce = BCELoss(reduction="none")
    x, y = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(bce(x, y), [0, 0, 100, 100, np.log(2)])
    np.testing.assert_allclose(bce.backward(), [0, 0, -1e12, 1e12, -2])


def test_with_logits_is_bce_of_the_sigmoid():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 4)), rng.random((3, 4))
    np.testing.assert_allclose(BCEWithLogitsLoss()(x, y), BCELoss()(1 / (1 + np.exp(-x)), y), rtol=1e-13)


def test_state_dict_holds_the_weights_as_torch():
    w, pw = np.ones(3), np.full(3, 2.0)
    ours, theirs = BCEWithLogitsLoss(weight=w, pos_weight=pw), torch.nn.BCEWithLogitsLoss(torch.tensor(w),
                                                                                           pos_weight=torch.tensor(pw))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "pos_weight"]
    assert list(BCEWithLogitsLoss(pos_weight=pw).state_dict()) == ["pos_weight"] and BCELoss().state_dict() == {}
    assert repr(BCELoss()) == "BCELoss(reduction='mean')"


def test_errors():
    with pytest.raises(ValueError, match=re.escape("input: expected values in [0, 1] (probabilities; use "
                                                   "BCEWithLogitsLoss for logits), got 1.5 at position (1,)")):
        BCELoss()(np.array([0.5, 1.5]), np.zeros(2))
    with pytest.raises(ValueError, match=re.escape("input: expected values in [0, 1]") + ".*got nan at position"):
        BCELoss()(np.array([np.nan]), np.zeros(1))
    with pytest.raises(ValueError, match=re.escape("target: expected values in [0, 1] (probabilities; use "
                                                   "BCEWithLogitsLoss for logits), got -1.0 at position (0, 0)")):
        BCELoss()(np.zeros((1, 2)), -np.ones((1, 2)))
    with pytest.raises(ValueError, match=re.escape("weight: expected a shape that broadcasts to the input's shape "
                                                   "(2, 3) (one weight per element, or per trailing axis), got (2,)")):
        BCELoss(weight=np.ones(2))(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape("pos_weight: expected a shape that broadcasts to the input's "
                                                   "shape (2, 3) (e.g. (C,): one weight per class, last axis), "
                                                   "got (1, 2, 3)")):
        BCEWithLogitsLoss(pos_weight=np.ones((1, 2, 3)))(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="pos_weight: expected a numpy.ndarray, got list"):
        BCEWithLogitsLoss(pos_weight=[1.0])
    with pytest.raises(ValueError, match=re.escape("target: expected the input's shape (2,), got (2, 1)")):
        BCEWithLogitsLoss()(np.zeros(2), np.zeros((2, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BCEWithLogitsLoss()(np.array([1e4, -1e4]), np.array([0.0, 1.0]))  # no overflow warning either
