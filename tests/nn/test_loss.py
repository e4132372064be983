"""CrossEntropyLoss / MSELoss: gradients, PyTorch parity, return types, errors."""
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.nn.loss import CrossEntropyLoss, MSELoss, NLLLoss
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


# --- weight, ignore_index, (N, C, d1, ...) logits, probability targets, unbatched (C,) -----------------------------

def class_case(seed, probabilities=None, nll=False):
    """A random configuration of CrossEntropyLoss (or NLLLoss): rank, sizes, target kind, weight, ignore_index
    (with hits), reduction, smoothing, logit scale. Returns (kwargs, x, target, label)."""
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 6))
    rank = int(rng.integers(0, 4))  # 0: unbatched (C,); 1: (N, C); 2, 3: (N, C, d1[, d2])
    shape = (c,) if rank == 0 else (int(rng.integers(1, 5)), c) + tuple(int(s) for s in rng.integers(1, 4, rank - 1))
    x = rng.standard_normal(shape) * float(rng.choice([0.1, 1, 5, 30]))
    probabilities = (not nll and rng.random() < 0.3) if probabilities is None else probabilities
    kwargs = {"reduction": REDUCTIONS[seed % 3]}
    if not nll:
        kwargs["label_smoothing"] = float(rng.choice([0.0, 0.1, rng.uniform(0, 1), 1.0]))
    if rng.random() < 0.6:
        kwargs["weight"] = rng.uniform(0.1, 3, c) * (rng.random(c) < 0.9)  # now and then a class of weight 0
    class_axis = 0 if rank == 0 else 1
    if probabilities:
        target = rng.dirichlet(np.ones(c), size=int(np.prod(shape)) // c).reshape(np.moveaxis(x, class_axis, -1).shape)
        target = np.moveaxis(target * float(rng.choice([1, 1, 0.5, 2])), -1, class_axis)  # need not sum to 1
    else:
        target = rng.integers(0, c, np.delete(np.array(shape), class_axis)).astype(rng.choice([np.int64, np.int32]))
        ignore = int(rng.choice([-100, -1, int(rng.integers(0, c))]))
        if ignore != -100 or rng.random() < 0.5:
            kwargs["ignore_index"] = ignore
        hits = rng.random(target.shape) < rng.choice([0, 0.3, 1.0])  # now and then every element is ignored
        target[hits] = kwargs.get("ignore_index", -100)
    return kwargs, x, target, f"seed {seed}: {shape}, {kwargs}"


def torch_loss(cls, kwargs):
    kw = dict(kwargs)
    if kw.get("weight") is not None:
        kw["weight"] = torch.tensor(kw["weight"])
    return getattr(torch.nn, cls.__name__)(**kw)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 5e-6)])
@pytest.mark.parametrize("seed", range(80))
def test_cross_entropy_configurations_match_torch(seed, dtype, tol):
    """Random ranks ((C,) to (N, C, d1, d2)), class-index and probability targets, weights, ignore_index hits
    (all of them now and then: "mean" is NaN, as torch's), reductions and smoothing: loss and dlogits."""
    kwargs, x, target, label = class_case(seed)
    ours = CrossEntropyLoss(**kwargs)
    with np.errstate(all="ignore"):
        got = assert_matches_torch(ours, torch_loss(CrossEntropyLoss, kwargs), x, dtype, tol=tol,
                                   args=(target.astype(dtype) if target.dtype.kind == "f" else target,), label=label)
    assert got["dx"][0].shape == x.shape


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 5e-6)])
@pytest.mark.parametrize("seed", range(40))
def test_nll_configurations_match_torch(seed, dtype, tol):
    kwargs, x, target, label = class_case(seed, nll=True)
    with np.errstate(all="ignore"):
        assert_matches_torch(NLLLoss(**kwargs), torch_loss(NLLLoss, kwargs), x, dtype, tol=tol, args=(target,),
                             label=label)


@pytest.mark.parametrize("seed", range(24))
def test_cross_entropy_and_nll_gradcheck(seed):
    """Central differences in float64 over the same random configurations (no element ignored everywhere: the
    NaN of an empty mean has no derivative to check)."""
    for cls in (CrossEntropyLoss, NLLLoss):
        kwargs, x, target, label = class_case(seed, nll=cls is NLLLoss)
        if target.dtype.kind != "f" and (target == kwargs.get("ignore_index", -100)).all():
            continue
        if kwargs.get("weight") is not None:
            kwargs["weight"] = kwargs["weight"] + 0.1  # a zero total weight has no derivative either
        errors = cnnumpy.gradcheck(cls(**kwargs), np.clip(x, -8, 8), target)
        assert errors["x"] < 1e-6, (label, errors)


def test_weighted_mean_divides_by_the_targets_weights():
    """torch's rule, written out: sum_n w[t_n] (-log p[n, t_n]) / sum_n w[t_n] over the elements not ignored."""
    rng = np.random.default_rng(3)
    z, t, w = rng.standard_normal((2, 4, 3, 3)), rng.integers(0, 4, (2, 3, 3)), rng.uniform(0.5, 2, 4)
    t[0, 0, 0] = t[1, 2, 1] = 2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    keep = t != 2
    logp_t = np.log(np.take_along_axis(p, t[:, None], axis=1)[:, 0])
    expected = (-w[t] * logp_t)[keep].sum() / w[t][keep].sum()
    np.testing.assert_allclose(CrossEntropyLoss(weight=w, ignore_index=2)(z, t), expected, rtol=1e-13)
    # and the gradient of an ignored pixel is 0 in every class
    ce = CrossEntropyLoss(weight=w, ignore_index=2)
    ce(z, t)
    assert (ce.backward()[0, :, 0, 0] == 0).all() and (ce.backward()[1, :, 2, 1] == 0).all()


def test_unbatched_input_is_a_batch_of_one():
    rng = np.random.default_rng(4)
    z, q = rng.standard_normal(5), rng.dirichlet(np.ones(5))
    for target in (np.array(3), q):
        for reduction in REDUCTIONS:
            one, batch = CrossEntropyLoss(reduction=reduction), CrossEntropyLoss(reduction=reduction)
            out, ref = one(z, target), batch(z[None], target[None])
            assert np.shape(out) == () and np.isclose(out, np.asarray(ref).reshape(()))
            np.testing.assert_allclose(one.backward(), batch.backward()[0], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segmentation_logits_of_1e4_are_finite_like_torch(dtype):
    rng = np.random.default_rng(5)
    z = rng.uniform(-1e4, 1e4, (2, 3, 4, 4)).astype(dtype)
    t = rng.integers(0, 3, (2, 4, 4))
    t[0, 0] = -100
    kwargs = dict(weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1)
    got = assert_matches_torch(CrossEntropyLoss(**kwargs), torch_loss(CrossEntropyLoss, kwargs), z, tol=2e-6,
                               args=(t,))
    assert np.isfinite(got["y"][0]).all() and np.isfinite(got["dx"][0]).all()


def test_state_dict_and_repr_of_class_losses():
    w = np.array([1.0, 2.0])
    ce = CrossEntropyLoss(weight=w, ignore_index=0)
    assert list(ce.state_dict()) == ["weight"] == list(torch.nn.CrossEntropyLoss(torch.tensor(w)).state_dict())
    assert CrossEntropyLoss().state_dict() == {} and NLLLoss().state_dict() == {}
    w[0] = 9  # the module keeps a copy
    assert ce.weight[0] == 1
    assert repr(ce) == "CrossEntropyLoss(reduction='mean', label_smoothing=0.0, ignore_index=0)"
    assert repr(NLLLoss(reduction="sum")) == "NLLLoss(reduction='sum')"


@pytest.mark.parametrize("size_average,reduce,expected", [(None, None, "mean"), (True, None, "mean"),
                                                          (False, None, "sum"), (None, False, "none"),
                                                          (False, False, "none"), (False, True, "sum")])
def test_deprecated_size_average_and_reduce_as_torch(size_average, reduce, expected):
    for cls in (CrossEntropyLoss, NLLLoss, MSELoss):
        if size_average is None and reduce is None:
            assert cls().reduction == "mean"
            continue
        with pytest.warns(UserWarning, match=f"please use reduction='{expected}' instead"):
            assert cls(size_average=size_average, reduce=reduce).reduction == expected
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert getattr(torch.nn, cls.__name__)(size_average=size_average, reduce=reduce).reduction == expected


# --- errors of the new arguments ----------------------------------------------------------------------------------

def test_reduction_by_position_is_caught():
    """torch's order is (weight, size_average, ...): CrossEntropyLoss("sum") would be a weight of "sum"."""
    with pytest.raises(TypeError, match=re.escape("weight: expected a numpy.ndarray or None, got 'sum' (str); the "
                                                  "reduction is a keyword argument, as in torch: reduction='sum'")):
        CrossEntropyLoss("sum")
    with pytest.raises(TypeError, match=re.escape("size_average: expected a bool or None (deprecated: use "
                                                  "reduction), got 'sum'; the reduction is a keyword argument: "
                                                  "reduction='sum'")):
        MSELoss("sum")
    with pytest.raises(TypeError, match=re.escape("reduce: expected a bool or None (deprecated: use reduction), "
                                                  "got 1")):
        NLLLoss(reduce=1)


@pytest.mark.parametrize("cls", [CrossEntropyLoss, NLLLoss])
def test_class_weight_errors(cls):
    name = "the logits" if cls is CrossEntropyLoss else "the input"
    with pytest.raises(ValueError, match=re.escape(f"weight: expected shape (3,) (one weight per class of {name}), "
                                                   "got (2,)")):
        cls(weight=np.ones(2))(np.zeros((4, 3)), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=re.escape("weight: expected 1 dimensions, got 2 (shape (1, 3))")):
        cls(weight=np.ones((1, 3)))
    with pytest.raises(TypeError, match="weight: expected a numpy.ndarray, got list"):
        cls(weight=[1.0, 2.0])
    with pytest.raises(TypeError, match="weight: expected a floating dtype .*got int64"):
        cls(weight=np.ones(3, np.int64))
    with pytest.raises(TypeError, match=re.escape("ignore_index: expected an int, got 1.0 (float)")):
        cls(ignore_index=1.0)


def test_class_target_shape_errors():
    ce = CrossEntropyLoss()
    with pytest.raises(ValueError, match=re.escape("target: expected shape () (one class index for unbatched logits "
                                                   "of shape (3,)), got (1,)")):
        ce(np.zeros(3), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match=re.escape("target: expected shape (2, 4, 5) (logits's shape (2, 3, 4, 5) "
                                                   "without its class axis 1), got (2, 3, 4, 5)")):
        ce(np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 4, 5), np.int64))
    t = np.zeros((2, 4), np.int64)
    t[1, 2] = 3
    with pytest.raises(ValueError, match=re.escape("target: expected class indices in [0, 3), got 3 at position "
                                                   "(1, 2)")):
        ce(np.zeros((2, 3, 4)), t)
    with pytest.raises(ValueError, match=re.escape("logits: expected a non-empty array, got shape (2, 3, 0)")):
        ce(np.zeros((2, 3, 0)), np.zeros((2, 0), np.int64))
    with pytest.raises(TypeError, match=re.escape("target: expected an integer dtype (class indices), got float64; "
                                                  "class probabilities: a floating target of logits's shape (2, 3)")):
        ce(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match=re.escape("target: expected an integer dtype (class indices), got float64") + "$"):
        NLLLoss()(np.zeros((2, 3)), np.zeros((2, 3)))


def test_ignore_index_with_probability_targets():
    """torch refuses a non-negative ignore_index with class-probability targets; the default -100 is fine."""
    z, q = np.zeros((2, 3)), np.full((2, 3), 1 / 3)
    assert np.isclose(CrossEntropyLoss()(z, q), np.log(3))
    with pytest.raises(ValueError, match=re.escape("ignore_index: expected a negative value with class-probability "
                                                   "targets (torch does not support ignoring them), got 0")):
        CrossEntropyLoss(ignore_index=0)(z, q)
