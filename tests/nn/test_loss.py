"""CrossEntropyLoss / MSELoss: gradients, PyTorch parity, return types, errors."""
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.nn.loss import CrossEntropyLoss, MSELoss
from cnnumpy.nn.module import BackwardBeforeForward
from tests.parity import assert_matches_torch

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("n,k", [(1, 1), (1, 4), (5, 3), (3, 7)])
def test_cross_entropy_gradcheck(n, k, eps, reduction):
    rng = np.random.default_rng(n * 10 + k)
    errors = cnnumpy.gradcheck(CrossEntropyLoss(reduction=reduction, label_smoothing=eps), rng.standard_normal((n, k)) * 3,
                               rng.integers(0, k, n))
    assert errors["x"] < 1e-6, errors


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(1,), (4, 3), (2, 3, 2)])
def test_mse_gradcheck(shape, reduction):
    rng = np.random.default_rng(len(shape))
    errors = cnnumpy.gradcheck(MSELoss(reduction=reduction), rng.standard_normal(shape), rng.standard_normal(shape))
    assert errors["x"] < 1e-6, errors


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("seed", range(20))
def test_cross_entropy_module_matches_torch(seed, dtype, tol):
    """Random N, K, logit scale, reduction and smoothing; float64 to 1e-13, float32 to 2e-6 relative."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 17)), int(rng.integers(1, 12))
    logits = (rng.standard_normal((n, k)) * float(rng.choice([0.1, 3, 30]))).astype(dtype)
    target = rng.integers(0, k, n).astype(rng.choice([np.int64, np.int32, np.uint8]))
    reduction = REDUCTIONS[seed % 3]
    eps = float(rng.choice([0.0, 0.1, rng.uniform(0, 1)]))
    ours = CrossEntropyLoss(reduction=reduction, label_smoothing=eps)
    got = assert_matches_torch(ours, torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=eps), logits,
                               tol=tol, args=(target,), rng=rng, label=f"({reduction}, eps={eps})")
    assert_backward_defaults_to_ones(ours, got)


def assert_backward_defaults_to_ones(loss, got):
    """backward() without dout is backward(1) for every output, as torch's loss.backward()."""
    np.testing.assert_array_equal(loss.backward(), loss.backward(np.ones_like(got["y"][0])))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_of_logits_1e4(dtype, reduction):
    """Logits of magnitude 1e4: finite and equal to torch (float32 to 1e-6, float64 to 1e-15 relative)."""
    rng = np.random.default_rng(1)
    logits = (rng.uniform(-1e4, 1e4, (8, 6))).astype(dtype)
    target = rng.integers(0, 6, 8)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    ref = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1)
    got = assert_matches_torch(CrossEntropyLoss(reduction=reduction, label_smoothing=0.1), ref, logits, tol=tol, args=(target,), rng=rng)
    assert np.all(np.isfinite(got["y"][0])) and np.all(np.isfinite(got["dx"][0]))


NON_FINITE = {  # row 0's logits; the target is class 0 (rows 1-3 stay finite)
    "target -inf": [-np.inf, 1, 2], "other -inf": [0, -np.inf, 2], "target +inf": [np.inf, 1, 2],
    "other +inf": [0, np.inf, 2], "two +inf": [np.inf, np.inf, 2], "all -inf": [-np.inf] * 3,
    "NaN": [np.nan, 1, 2], "float32 overflow": [-3e38, 0, 3e38], "float32 overflow at the max": [3e38, 0, -3e38],
    "large": [-1e30, 1e30, 0], "two targets -inf": None,
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("case", NON_FINITE)
def test_cross_entropy_of_infinite_logits_like_torch(case, dtype, tol, eps, reduction):
    """-inf, +inf, NaN and float32-overflowing logits, with and without smoothing, every reduction: the loss
    (inf, NaN or finite) and the gradient equal torch's in the same dtype, NaN and inf at the same places.
    E.g. a target logit of -inf: loss inf, gradient softmax - onehot (finite); before, 0 * -inf made the loss NaN."""
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((4, 3))
    target = np.array([0, 1, 2, 0])
    if NON_FINITE[case] is None:
        logits[0, 0] = logits[2, 2] = -np.inf
    else:
        logits[0] = NON_FINITE[case]
    ref = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=eps)
    with np.errstate(all="ignore"):  # NaN made by inf - inf, as in torch
        assert_matches_torch(CrossEntropyLoss(reduction=reduction, label_smoothing=eps), ref, logits, dtype, tol=tol, args=(target,), rng=rng,
                             label=f"{case} ({reduction}, eps={eps})")


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_infinite_logits_warn_of_nothing(eps):
    """A target logit of -inf, and float32 logits whose shift overflows to -inf, are no invalid operations:
    the loss is inf (or finite) without NumPy's RuntimeWarning, as torch says nothing either."""
    for row in ([-np.inf, 1, 2], [-3e38, 0, 3e38]):
        ours = CrossEntropyLoss(label_smoothing=eps)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert ours(np.array([row], np.float32), np.array([0])) == np.inf
            assert np.isfinite(ours.backward()).all()


def test_none_reduction_takes_an_upstream_gradient():
    rng = np.random.default_rng(2)
    logits, target, dout = rng.standard_normal((4, 3)), rng.integers(0, 3, 4), rng.standard_normal(4)
    ours, ref = CrossEntropyLoss(reduction="none"), torch.nn.CrossEntropyLoss(reduction="none")
    assert_matches_torch(ours, ref, logits, tol=1e-14, args=(target,), dout=dout)
    with pytest.raises(ValueError, match=r"dout: expected shape \(4,\) \(forward's output\), got \(3,\)"):
        ours.backward(np.ones(3))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-14), (np.float32, 1e-6)])
@pytest.mark.parametrize("seed", range(9))
def test_mse_module_matches_torch(seed, dtype, tol):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 5))))
    x, y = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    reduction = REDUCTIONS[seed % 3]
    ours = MSELoss(reduction=reduction)
    got = assert_matches_torch(ours, torch.nn.MSELoss(reduction=reduction), x, tol=tol, args=(y,), rng=rng,
                               label=reduction)
    assert_backward_defaults_to_ones(ours, got)


def test_mse_float32_target_for_float64_input():
    x = np.arange(4.0)
    out = MSELoss()(x, np.zeros(4, dtype=np.float32))
    assert np.asarray(out).dtype == np.float64 and out == (0 + 1 + 4 + 9) / 4


def test_repr():
    assert repr(CrossEntropyLoss(reduction="sum", label_smoothing=0.1)) == "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"
    assert repr(MSELoss()) == "MSELoss(reduction='mean')"


# --- errors --------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(1, 6), bad=st.integers(-1000, 1000), where=st.integers(0, 5))
def test_target_out_of_range_says_which_value(n, k, bad, where):
    if 0 <= bad < k or bad == -100:  # -100: the default ignore_index
        return
    target = np.zeros(n, dtype=np.int64)
    target[where % n] = bad
    with pytest.raises(ValueError) as e:
        CrossEntropyLoss()(np.zeros((n, k)), target)
    assert str(e.value) == f"target: expected class indices in [0, {k}), got {bad} at position {where % n}"


@settings(max_examples=15, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64, np.bool_, np.complex64]))
def test_target_not_integer(dtype):
    with pytest.raises(TypeError, match=rf"target: expected an integer dtype \(class indices\), got {np.dtype(dtype)}"):
        CrossEntropyLoss()(np.zeros((2, 3)), np.zeros(2, dtype=dtype))
    with pytest.raises(TypeError, match="target: expected a numpy.ndarray of class indices, got list"):
        CrossEntropyLoss()(np.zeros((2, 3)), [0, 1])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), shape=st.lists(st.integers(0, 5), max_size=3))
def test_target_wrong_shape(n, shape):
    shape = tuple(shape)
    if shape == (n,):
        return
    with pytest.raises(ValueError) as e:
        CrossEntropyLoss()(np.zeros((n, 3)), np.zeros(shape, dtype=np.int64))
    assert str(e.value) == f"target: expected shape ({n},) (one class index per row of logits), got {shape}"


@settings(max_examples=20, deadline=None)
@given(ndim=st.integers(0, 5), dtype=st.sampled_from([np.float32, np.int64]))
def test_logits_wrong_ndim_or_dtype(ndim, dtype):
    logits = np.zeros((2,) * ndim, dtype=dtype)
    if dtype == np.int64:
        with pytest.raises(TypeError, match="logits: expected a floating dtype.*got int64"):
            CrossEntropyLoss()(logits, np.zeros(2, dtype=np.int64))
    elif ndim == 0:
        with pytest.raises(ValueError, match=re.escape("logits: expected 1 or more dimensions ((C,), (N, C) or "
                                                       "(N, C, d1, ...)), got 0 (shape ())")):
            CrossEntropyLoss()(logits, np.zeros(2, dtype=np.int64))
    elif ndim != 2:  # (C,) takes a 0-d target, (N, C, d1, ...) one of shape (N, d1, ...)
        expected = () if ndim == 1 else (2,) * (ndim - 1)
        with pytest.raises(ValueError, match=re.escape(f"target: expected shape {expected} (")):
            CrossEntropyLoss()(logits, np.zeros(2, dtype=np.int64))


def test_empty_logits():
    with pytest.raises(ValueError, match=r"logits: expected a non-empty \(N, K\) array, got shape \(0, 3\)"):
        CrossEntropyLoss()(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))


@settings(max_examples=30, deadline=None)
@given(eps=st.one_of(st.floats(allow_nan=True), st.text(max_size=2), st.none()))
def test_bad_label_smoothing(eps):
    if isinstance(eps, float) and 0 <= eps <= 1:
        assert CrossEntropyLoss(label_smoothing=eps).label_smoothing == eps
        return
    with pytest.raises((TypeError, ValueError)) as e:
        CrossEntropyLoss(label_smoothing=eps)
    msg = str(e.value)
    assert msg.startswith("label_smoothing: expected") and (str(eps) in msg or repr(eps) in msg), msg


@settings(max_examples=20, deadline=None)
@given(reduction=st.one_of(st.text(max_size=5), st.none(), st.integers()),
       cls=st.sampled_from([CrossEntropyLoss, MSELoss]))
def test_unknown_reduction(reduction, cls):
    if reduction in REDUCTIONS:
        return
    with pytest.raises(ValueError) as e:
        cls(reduction=reduction)
    assert str(e.value) == f"reduction: expected one of 'mean', 'sum', 'none', got {reduction!r}"


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cls", [CrossEntropyLoss, MSELoss])
def test_backward_of_a_non_numeric_dout_names_it(cls, reduction):
    """Strings, bools, complex numbers, objects and ragged lists as dout: a TypeError naming dout, what it takes
    and what it got (it was NumPy's "could not convert string to float" from inside the functional backward)."""
    loss = cls(reduction=reduction)
    loss(np.zeros((2, 3)), np.array([0, 1]) if cls is CrossEntropyLoss else np.ones((2, 3)))
    shape = loss.cache[1]
    expected = re.escape(f"dout: expected a real number or an array of real numbers of shape {shape} "
                         f"(forward's output), got ")
    for dout, got in (("a", "'a' (str)"), (True, "True (bool)"), (1j, "1j (complex)"),
                      (np.array("a"), "ndarray of dtype <U1"), (np.full(shape, "a"), "ndarray of dtype <U1"),
                      (np.ones(shape, complex), "ndarray of dtype complex128"), (np.ones(shape, bool), "ndarray of dtype bool"),
                      (np.full(shape, None), "ndarray of dtype object"), ({1: 2}, "{1: 2} (dict)"),
                      ([[1.0], 1.0], "[[1.0], 1.0]")):
        with pytest.raises(TypeError, match=expected + re.escape(got) + "$"):
            loss.backward(dout)
    # numbers and arrays of real numbers are fine
    assert np.isfinite(loss.backward(np.ones(shape, np.int64))).all()
    assert np.isfinite(loss.backward(np.ones(shape, np.float32).tolist() if shape else 2)).all()


@pytest.mark.parametrize("cls", [CrossEntropyLoss, MSELoss])
def test_reduction_must_be_a_str(cls):
    for reduction in (np.array(["mean", "sum"]), np.array("mean"), ["mean"]):
        with pytest.raises(ValueError, match="reduction: expected one of 'mean', 'sum', 'none', got "):
            cls(reduction=reduction)


@pytest.mark.parametrize("cls", [CrossEntropyLoss, MSELoss])
def test_backward_before_forward(cls):
    with pytest.raises(BackwardBeforeForward, match=f"{cls.__name__}.backward: expected forward"):
        cls().backward()


@settings(max_examples=20, deadline=None)
@given(a=st.lists(st.integers(1, 4), min_size=1, max_size=3), b=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_mse_shapes_must_match(a, b):
    a, b = tuple(a), tuple(b)
    if a == b:
        return
    with pytest.raises(ValueError) as e:
        MSELoss()(np.zeros(a), np.zeros(b))
    assert str(e.value) == f"target: expected the input's shape {a}, got {b}"


def test_mse_non_float():
    with pytest.raises(TypeError, match="input: expected a floating dtype.*got int64"):
        MSELoss()(np.zeros(3, dtype=np.int64), np.zeros(3))
    with pytest.raises(TypeError, match="target: expected a floating dtype.*got int64"):
        MSELoss()(np.zeros(3), np.zeros(3, dtype=np.int64))
