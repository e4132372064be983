"""InstanceNorm2d: gradients, PyTorch parity in train and eval (running statistics, momentum None, unbatched
input), float32, state_dicts both ways, repr, errors."""
import re
import warnings

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy.nn import InstanceNorm2d
from tests.nn.test_normalization import randomize, random_x
from tests.parity import assert_matches_torch
from tests.util import t


def case(seed, min_hw=2):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 5))
    kwargs = {"momentum": [0.1, None, float(rng.uniform(0, 1))][seed % 3], "affine": bool(rng.random() < 0.6),
              "track_running_stats": bool(rng.random() < 0.6), "eps": float(rng.choice([1e-5, 1e-3]))}
    if kwargs["affine"]:
        kwargs["bias"] = bool(rng.random() < 0.8)
    return rng, c, kwargs


def shape(rng, c, min_hw=3, unbatched=False):
    while True:
        hw = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        if hw[0] * hw[1] >= min_hw:
            return ((c,) if unbatched else (int(rng.integers(1, 4)), c)) + hw


def pair(c, kwargs, rng, dtype):
    ours = InstanceNorm2d(c, **kwargs, dtype=dtype)
    randomize(ours, rng, freeze=True)
    return ours, torch.nn.InstanceNorm2d(c, **kwargs)


@pytest.mark.parametrize("seed", range(30))
def test_matches_torch_float64_train_then_eval(seed):
    """Three training steps, then two in eval; a third of the inputs unbatched (C, H, W). At least 3 positions
    per plane (with 2, dx is a cancellation: see tests/nn/test_normalization.py::test_few_values_per_group)."""
    rng, c, kwargs = case(seed)
    ours, theirs = pair(c, kwargs, rng, np.float64)
    for i in range(5):
        if i == 3:
            ours.eval()
        x = random_x(rng, shape(rng, c, unbatched=rng.random() < 1 / 3))
        assert_matches_torch(ours, theirs, x, tol=1e-12, load=i == 0, rng=rng, label=f"step {i} {kwargs} x{x.shape}")
        if kwargs["track_running_stats"]:
            assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 0


@pytest.mark.parametrize("seed", range(12))
def test_matches_torch_float32(seed):
    """float32 in both, within 3e-5 of each result's scale, at least 8 positions per plane."""
    rng, c, kwargs = case(seed)
    ours, theirs = pair(c, kwargs, rng, np.float32)
    for i in range(3):
        if i == 2:
            ours.eval()
        x = random_x(rng, shape(rng, c, min_hw=8), np.float32)
        assert_matches_torch(ours, theirs, x, tol=3e-5, load=i == 0, rng=rng, label=f"step {i} {kwargs}")


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck(seed, training):
    rng, c, kwargs = case(seed)
    m = InstanceNorm2d(c, **kwargs)
    randomize(m, rng)
    m(random_x(rng, (2, c, 3, 3), np.float32))   # running statistics away from (0, 1)
    m.train(training)
    errors = cnnumpy.gradcheck(m, random_x(rng, shape(rng, c, unbatched=seed % 2 == 1)))
    assert set(errors) == {"x"} | {n for n, _ in m.named_parameters()}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"affine": True, "bias": False},
                                    {"track_running_stats": True}, {"affine": True, "track_running_stats": True,
                                                                    "momentum": None}])
def test_state_dict_both_ways_and_repr(kwargs):
    rng = np.random.default_rng(0)
    ours, theirs = InstanceNorm2d(3, **kwargs), torch.nn.InstanceNorm2d(3, **kwargs)
    assert repr(ours) == repr(theirs)
    for _ in range(2):
        x = random_x(rng, (2, 3, 4, 4), np.float32)
        theirs(t(x))
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(3).astype(np.float32)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    fresh = torch.nn.InstanceNorm2d(3, **kwargs)
    fresh.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}, strict=True)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy())
    x = random_x(rng, (2, 3, 4, 4), np.float32)
    ours.eval(), fresh.eval()
    np.testing.assert_allclose(ours(x), fresh(t(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_eval_without_running_stats_uses_the_input():
    x = random_x(np.random.default_rng(1), (2, 3, 4, 4))
    m = InstanceNorm2d(3)
    y = m(x)
    np.testing.assert_array_equal(m.eval()(x), y)
    np.testing.assert_allclose(y.mean(axis=(2, 3)), 0, atol=1e-12)


def test_dtype_kept():
    for dtype in (np.float32, np.float64):
        m = InstanceNorm2d(2, track_running_stats=True)
        m.to(dtype)
        y = m(random_x(np.random.default_rng(2), (2, 2, 3, 3), dtype))
        assert y.dtype == m.running_mean.dtype == m.backward(np.ones_like(y)).dtype == dtype


# --- errors --------------------------------------------------------------------------------------

def test_wrong_ndim():
    for bad in ((2, 3), (1, 2, 3, 4, 5)):
        message = f"x: expected 3 or 4 dimensions, (C, H, W) or (N, C, H, W), got {len(bad)} (shape {bad})"
        with pytest.raises(ValueError, match=re.escape(message)):
            InstanceNorm2d(2)(np.zeros(bad))


@pytest.mark.parametrize("kwargs", [{"affine": True}, {"track_running_stats": True}])
def test_wrong_channels_raise_when_per_channel(kwargs):
    with pytest.raises(ValueError, match=r"x: expected 3 channels \(num_features\) at dim 1, got shape \(2, 4, 3, 3\)"):
        InstanceNorm2d(3, **kwargs)(np.zeros((2, 4, 3, 3), np.float32))


def test_wrong_channels_warn_otherwise_as_torch():
    with pytest.warns(UserWarning, match="num_features is unused"):
        y = InstanceNorm2d(3)(np.ones((4, 3, 3), np.float32))
    assert y.shape == (4, 3, 3)


def test_one_position_when_normalising_by_the_input():
    with pytest.raises(ValueError, match=r"x: expected more than 1 spatial element .*got shape \(2, 3, 1, 1\)"):
        InstanceNorm2d(3)(np.zeros((2, 3, 1, 1), np.float32))
    m = InstanceNorm2d(3, track_running_stats=True).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m(np.zeros((2, 3, 1, 1), np.float32)).shape == (2, 3, 1, 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="momentum: expected a value in"):
        InstanceNorm2d(3, momentum=2)
    with pytest.raises(TypeError, match="track_running_stats: expected a bool, got 0"):
        InstanceNorm2d(3, track_running_stats=0)
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        InstanceNorm2d(3, affine=True)(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"x: expected a non-empty input, got shape \(0, 3, 2, 2\)"):
        InstanceNorm2d(3)(np.zeros((0, 3, 2, 2)))
