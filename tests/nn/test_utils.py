"""Gradient clipping against torch.nn.utils: clip_grad_norm_ and clip_grad_value_ over random cases, and errors."""
import math
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from cnnumpy import nn
from cnnumpy.nn import Parameter
from cnnumpy.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm

NORM_TYPES = [2.0, 1.0, math.inf, -math.inf, 0.0, 0.5, 3.0, -2.0, "inf"]
TOL = {np.float64: 1e-12, np.float32: 2e-6}


def random_case(seed, dtype):
    """(our parameters, torch's, kwargs): 1-5 parameters of random shapes (0-d too) and gradient scales,
    some frozen and some with grad None; max_norm around the total norm, so that about half the cases clip."""
    rng = np.random.default_rng(seed)
    ours, ref = [], []
    for _ in range(int(rng.integers(1, 6))):
        shape = tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(0, 4)))
        data = np.asarray(rng.standard_normal(shape), dtype)
        grad = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3), dtype)
        if rng.random() < 0.2:
            grad[...] = 0
        p, q = Parameter(data.copy()), torch.nn.Parameter(torch.tensor(data))
        kind = rng.choice(["trained", "frozen", "no grad"], p=[0.7, 0.15, 0.15])
        p.grad = None if kind == "no grad" else grad.copy()
        q.grad = torch.tensor(grad) if kind == "trained" else None
        if kind == "frozen":  # a gradient left in p.grad by a layer: it must neither count nor change
            p.requires_grad_(False)
            q.requires_grad_(False)
        ours.append(p)
        ref.append(q)
    norm_type = NORM_TYPES[int(rng.integers(len(NORM_TYPES)))]
    total = torch.nn.utils.get_total_norm([q.grad for q in ref if q.grad is not None], norm_type).item() \
        if any(q.grad is not None for q in ref) else 1.0
    max_norm = float(abs(total) * rng.uniform(0.2, 2.0))
    return ours, ref, dict(max_norm=max_norm, norm_type=norm_type)


def grads_match(ours, ref, tol):
    """Worst relative error between our grads and torch's; frozen and grad-None ones must be untouched."""
    worst = 0.0
    for p, q in zip(ours, ref):
        if q.grad is None:
            continue
        want = q.grad.numpy().astype(np.float64)
        assert p.grad.dtype == q.grad.numpy().dtype
        worst = max(worst, np.abs(p.grad - want).max() / max(np.abs(want).max(), 1e-30))
    return worst


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_clip_grad_norm_matches_torch(dtype):
    worst_norm = worst_grad = 0.0
    for seed in range(300):
        ours, ref, kwargs = random_case(seed, dtype)
        frozen = [(p, p.grad.copy()) for p in ours if p.grad is not None and not p.requires_grad]
        arrays = [p.grad for p in ours]
        n = clip_grad_norm_(ours, **kwargs)
        want = torch.nn.utils.clip_grad_norm_(ref, **kwargs)
        assert isinstance(n, np.floating) and n.dtype == want.numpy().dtype, (seed, type(n), want.dtype)
        worst_norm = max(worst_norm, abs(float(n) - want.item()) / max(abs(want.item()), 1e-30))
        worst_grad = max(worst_grad, grads_match(ours, ref, TOL[dtype]))
        assert all(p.grad is a for p, a in zip(ours, arrays)), "the grads must be scaled in place"
        for p, before in frozen:
            assert np.array_equal(p.grad, before), f"seed {seed}: a frozen parameter's grad changed"
    assert worst_norm <= TOL[dtype] and worst_grad <= TOL[dtype], \
        f"{np.dtype(dtype)}: worst relative error of the norm {worst_norm:.3e}, of the grads {worst_grad:.3e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_clip_grad_value_matches_torch(dtype):
    for seed in range(100):
        ours, ref, kwargs = random_case(seed, dtype)
        clip_value = kwargs["max_norm"] / 3
        frozen = [(p, p.grad.copy()) for p in ours if p.grad is not None and not p.requires_grad]
        assert clip_grad_value_(ours, clip_value) is None
        if any(q.grad is not None for q in ref):  # torch 2.13 fails with no grad at all; ours does nothing
            torch.nn.utils.clip_grad_value_(ref, clip_value)
        # clamping picks one of two values: equal, bit for bit
        for p, q in zip(ours, ref):
            if q.grad is not None:
                assert np.array_equal(p.grad, q.grad.numpy()) and p.grad.dtype == np.dtype(dtype), seed
        for p, before in frozen:
            assert np.array_equal(p.grad, before), f"seed {seed}: a frozen parameter's grad changed"


def test_below_max_norm_grads_are_unchanged():
    """The coefficient is clamped to 1: clipping never scales gradients up."""
    p = Parameter(np.zeros(3))
    p.grad = np.array([0.3, -0.4, 0.0])
    assert clip_grad_norm_(p, max_norm=10.0) == pytest.approx(0.5, rel=1e-15)
    assert np.array_equal(p.grad, [0.3, -0.4, 0.0])
    clip_grad_norm_(p, max_norm=0.25)
    np.testing.assert_allclose(p.grad, [0.15, -0.2, 0.0], rtol=1e-5)


def test_single_parameter_list_generator_and_model():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.grad = rng.standard_normal(p.shape).astype(np.float32)
    model[0].requires_grad_(False)
    want = np.sqrt(sum(np.sum(p.grad.astype(np.float64) ** 2) for p in model[2].parameters()))
    n = clip_grad_norm_((p for p in model.parameters()), max_norm=1e9)
    assert n.dtype == np.float32 and n == pytest.approx(want, rel=1e-6)
    assert clip_grad_norm_(model.parameters(), 1e9) == n
    assert clip_grad_norm_(model[2].weight, 1e9) == pytest.approx(np.linalg.norm(model[2].weight.grad), rel=1e-6)


def test_nothing_to_clip():
    """No grads (all frozen, or an empty list) give torch's float32 zero; an empty generator warns as torch."""
    p = Parameter(np.ones(2)).requires_grad_(False)
    p.grad = np.ones(2)
    n = clip_grad_norm_([p], 1.0)
    assert n == 0.0 and n.dtype == np.float32 and np.array_equal(p.grad, [1.0, 1.0])
    assert clip_grad_norm_([], 1.0) == 0.0
    with pytest.warns(UserWarning, match="`parameters` is an empty generator, no gradient clipping will occur"):
        clip_grad_norm_((q for q in []), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip_grad_norm_([], 1.0)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_non_finite_norm(bad, norm_type):
    """error_if_nonfinite=True raises as torch; False scales by the non-finite norm as torch does."""
    g = np.array([1.0, bad, -2.0])
    p, q = Parameter(np.zeros(3)), torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    p.grad, q.grad = g.copy(), torch.tensor(g)
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped") as ours:
        clip_grad_norm_(p, 1.0, norm_type, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped") as theirs:
        torch.nn.utils.clip_grad_norm_(q, 1.0, norm_type, error_if_nonfinite=True)
    assert str(ours.value) == str(theirs.value)
    assert np.array_equal(p.grad, g, equal_nan=True), "the grads must be left alone when raising"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warnings for inf * 0 or nan
        n = clip_grad_norm_(p, 1.0, norm_type)
    want = torch.nn.utils.clip_grad_norm_(q, 1.0, norm_type)
    assert np.array_equal(n, want.numpy(), equal_nan=True)
    assert np.array_equal(p.grad, q.grad.numpy(), equal_nan=True), (p.grad, q.grad)


def test_get_total_norm_mixed_dtypes_as_torch():
    """float32 and float64 grads together: the norm in float64, as torch's stack of the two."""
    a, b = np.ones(3, np.float32), np.full(2, 2.0)
    n = get_total_norm([a, b])
    want = torch.nn.utils.get_total_norm([torch.tensor(a), torch.tensor(b)])
    assert n.dtype == want.numpy().dtype == np.float64 and float(n) == pytest.approx(want.item(), rel=1e-15)


def test_empty_gradient_with_inf_norm():
    p = Parameter(np.zeros(0))
    p.grad = np.zeros(0)
    with pytest.raises(RuntimeError, match="cannot compute the inf norm of an empty gradient"):
        clip_grad_norm_(p, 1.0, math.inf)
    assert clip_grad_norm_(p, 1.0) == 0.0


BAD = [
    (lambda p: clip_grad_norm_(np.zeros(3), 1.0), TypeError,
     "parameters: expected a Parameter or an iterable of Parameters (e.g. model.parameters()), got ndarray"),
    (lambda p: clip_grad_norm_(5, 1.0), TypeError, "parameters: expected a Parameter or an iterable"),
    (lambda p: clip_grad_norm_([p, np.zeros(2)], 1.0), TypeError,
     "parameters[1]: expected a cnnumpy.nn.Parameter, got ndarray"),
    (lambda p: clip_grad_norm_([p], -1.0), ValueError, "max_norm: expected a value >= 0, got -1.0"),
    (lambda p: clip_grad_norm_([p], "1"), TypeError, "max_norm: expected a float, got '1'"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type="two"), ValueError, "norm_type: expected a float or 'inf', got 'two'"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type=math.nan), ValueError, "norm_type: expected a float or 'inf'"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type=None), TypeError, "norm_type: expected a float, got None"),
    (lambda p: clip_grad_value_([p], -0.5), ValueError, "clip_value: expected a value >= 0, got -0.5"),
    (lambda p: clip_grad_value_([p], None), TypeError, "clip_value: expected a float, got None"),
    (lambda p: clip_grad_value_({"w": p}, 0.5), TypeError, "parameters: expected a Parameter or an iterable"),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[m for _, _, m in BAD])
def test_bad_arguments(call, error, message):
    p = Parameter(np.zeros(2))
    with pytest.raises(error, match=re.escape(message)):
        call(p)


def test_exported_as_in_torch():
    """`from cnnumpy import nn` then nn.utils.clip_grad_norm_, as torch.nn.utils (a fresh interpreter: here
    the import at the top of this file has already made nn.utils an attribute)."""
    code = "from cnnumpy import nn; nn.utils.clip_grad_norm_; nn.utils.clip_grad_value_"
    subprocess.run([sys.executable, "-c", code], check=True)
