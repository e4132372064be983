"""BatchNorm1d / BatchNorm2d: gradients, PyTorch parity in train and eval (running stats too), state_dict, errors."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.nn.module import BackwardBeforeForward
from cnnumpy.nn.norm import BatchNorm1d, BatchNorm2d
from tests.nn.test_linear import assert_parameter_dtype_is_checked
from tests.parity import assert_matches_torch
from tests.util import assert_close, t

CLASSES = {"1d": BatchNorm1d, "2d": BatchNorm2d}
TORCH = {"1d": torch.nn.BatchNorm1d, "2d": torch.nn.BatchNorm2d}


def input_shape(rng, kind, c, ndim=None, min_n=1):
    """A random input shape for BatchNorm1d ((N, C) or (N, C, L)) or BatchNorm2d ((N, C, H, W))."""
    if kind == "2d":
        return (int(rng.integers(min_n, 4)), c, int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    ndim = ndim or int(rng.choice([2, 3]))
    n = int(rng.integers(max(2, min_n), 6)) if ndim == 2 else int(rng.integers(min_n, 4))
    return (n, c) if ndim == 2 else (n, c, int(rng.integers(1, 5)))


def random_x(rng, shape, dtype=np.float64):
    """Offset and scaled per channel, so that the statistics are far from 0 and 1."""
    c = shape[1]
    spread = (1, c) + (1,) * (len(shape) - 2)
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, spread) + rng.normal(0, 3, spread)
    if x.size // c == 1:    # a single value per channel cannot be trained on: add a second sample
        x = np.concatenate([x, x + 1])
    return x.astype(dtype)


def randomize(bn, rng):
    """Give weight and bias random values, as after some training."""
    for p in bn.parameters():
        p.data[...] = rng.uniform(0.5, 2, p.shape) * rng.choice([-1, 1], p.shape)


def pair(kind, c, rng, dtype=np.float64, **kwargs):
    """Our module and torch's with equal parameters."""
    ours = CLASSES[kind](c, dtype=dtype, **kwargs)
    randomize(ours, rng)
    theirs = TORCH[kind](c, dtype=torch.float64 if dtype == np.float64 else torch.float32, **kwargs)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.from_numpy(p.data))
    return ours, theirs


def settings_for(seed):
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["1d", "2d"]))
    kwargs = {"momentum": [0.1, None, float(rng.uniform(0, 1))][seed % 3],
              "affine": bool(rng.random() < 0.75), "track_running_stats": bool(rng.random() < 0.8),
              "eps": float(rng.choice([1e-5, 1e-3]))}
    if kwargs["affine"]:
        kwargs["bias"] = bool(rng.random() < 0.8)
    return rng, kind, int(rng.integers(1, 5)), kwargs


@pytest.mark.parametrize("seed", range(30))
def test_matches_torch_float64_train_then_eval(seed):
    """Three training steps (batch shapes vary), then two in eval: outputs, all gradients, all buffers."""
    rng, kind, c, kwargs = settings_for(seed)
    ours, theirs = pair(kind, c, rng, **kwargs)
    ndim = int(rng.choice([2, 3]))
    for i in range(5):
        if i == 3:
            ours.eval()
        x = random_x(rng, input_shape(rng, kind, c, ndim))
        assert_matches_torch(ours, theirs, x, tol=1e-10, dout=rng.standard_normal(x.shape), load=i == 0,
                             label=f"step {i} ({kind}, {kwargs})")
        if kwargs["track_running_stats"]:
            assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == min(i + 1, 3)


@pytest.mark.parametrize("seed", range(12))
def test_matches_torch_float32(seed):
    """float32 in both, within 2e-5 relative to each result's scale (torch accumulates in its own order).

    At least 8 values per channel: with fewer, dx nearly cancels and float32 keeps little of it.
    """
    rng, kind, c, kwargs = settings_for(seed)
    ours, theirs = pair(kind, c, rng, np.float32, **kwargs)
    for i in range(4):
        if i == 3:
            ours.eval()
        shape = input_shape(rng, kind, c)
        x = random_x(rng, (8,) + shape[1:], np.float32)
        assert_matches_torch(ours, theirs, x, tol=2e-5, dout=rng.standard_normal(x.shape).astype(np.float32),
                             load=i == 0, label=f"step {i} ({kind}, {kwargs})")


GRAD_CASES = [("1d", (4, 3)), ("1d", (2, 2, 3)), ("2d", (2, 3, 2, 2)), ("2d", (3, 1, 1, 2)), ("2d", (1, 2, 2, 3))]


@pytest.mark.parametrize("kind,shape", GRAD_CASES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck(kind, shape, training, affine):
    rng = np.random.default_rng(len(shape) + shape[0])
    bn = CLASSES[kind](shape[1], affine=affine)
    randomize(bn, rng)
    for _ in range(2):      # move the running statistics away from (0, 1) for the eval check
        bn(random_x(rng, shape, np.float32))
    bn.train(training)
    errors = cnnumpy.gradcheck(bn, random_x(rng, shape))
    assert set(errors) == ({"x", "weight", "bias"} if affine else {"x"})
    assert max(errors.values()) < 1e-6, errors


def test_momentum_none_is_the_cumulative_average():
    """running_mean after k batches = (initial 0 + every batch mean) / ... exactly the average of the k means."""
    rng = np.random.default_rng(0)
    bn = BatchNorm1d(3, momentum=None, dtype=np.float64)
    means, variances = [], []
    for _ in range(4):
        x = random_x(rng, (5, 3))
        bn(x)
        means.append(x.mean(axis=0))
        variances.append(x.var(axis=0, ddof=1))
    np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean(variances, axis=0), rtol=1e-12)
    assert int(bn.num_batches_tracked) == 4


def test_eval_without_running_stats_uses_the_batch():
    rng = np.random.default_rng(1)
    x = random_x(rng, (4, 2, 3, 3))
    bn = BatchNorm2d(2, track_running_stats=False, dtype=np.float64)
    y_train = bn(x)
    bn.eval()
    np.testing.assert_array_equal(bn(x), y_train)
    assert list(bn.state_dict()) == ["weight", "bias"]


def test_state_dict_keys_and_round_trip_with_torch():
    rng = np.random.default_rng(2)
    ours, theirs = pair("2d", 3, rng, np.float32)
    for _ in range(3):
        x = random_x(rng, (4, 3, 2, 2), np.float32)
        ours(x)
        theirs(t(x))
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                                        "num_batches_tracked"]
    assert state["num_batches_tracked"].dtype == np.int64 and state["num_batches_tracked"].shape == ()
    fresh = torch.nn.BatchNorm2d(3)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    for k, v in fresh.state_dict().items():
        assert_close(k, v, theirs.state_dict()[k], 1e-6)
    back = BatchNorm2d(3)
    back.load_state_dict(theirs.state_dict())
    assert int(back.num_batches_tracked) == 3 and back.num_batches_tracked.dtype == np.int64
    x = random_x(rng, (2, 3, 2, 2), np.float32)
    assert_close("eval output after loading torch's state", back.eval()(x), theirs.eval()(t(x)), 1e-6)
    affine_false = BatchNorm1d(4, affine=False).state_dict()
    assert list(affine_false) == list(torch.nn.BatchNorm1d(4, affine=False).state_dict())


def test_to_float64_converts_floating_buffers_only():
    bn = BatchNorm2d(2)
    bn(random_x(np.random.default_rng(3), (2, 2, 2, 2), np.float32))
    bn.to(np.float64)
    assert bn.running_mean.dtype == bn.running_var.dtype == bn.weight.dtype == np.float64
    assert isinstance(bn.num_batches_tracked, np.ndarray) and bn.num_batches_tracked.dtype == np.int64
    y = bn(random_x(np.random.default_rng(4), (2, 2, 2, 2)))
    assert y.dtype == np.float64 and bn.running_mean.dtype == np.float64
    assert int(bn.num_batches_tracked) == 2 and bn.num_batches_tracked.shape == ()


def test_repr_matches_torch():
    for kwargs in ({}, {"momentum": None, "affine": False}, {"track_running_stats": False, "bias": False}):
        assert repr(BatchNorm2d(3, **kwargs)) == repr(torch.nn.BatchNorm2d(3, **kwargs))


# --- errors --------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["1d", "2d"]), ndim=st.integers(1, 6))
def test_wrong_ndim_names_expected_and_actual(kind, ndim):
    ok = (2, 3) if kind == "1d" else (4,)
    if ndim in ok:
        return
    x = np.zeros((2, 3) + (2,) * (ndim - 2) if ndim >= 2 else (3,), dtype=np.float32)
    with pytest.raises(ValueError) as e:
        CLASSES[kind](3)(x)
    msg = str(e.value)
    assert msg.startswith("x:") and f"got {ndim}" in msg and str(x.shape) in msg
    assert all(str(n) in msg for n in ok)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["1d", "2d"]), c=st.integers(1, 6), got=st.integers(1, 6))
def test_wrong_channels_names_expected_and_actual(kind, c, got):
    if c == got:
        return
    shape = (2, got) if kind == "1d" else (2, got, 2, 2)
    with pytest.raises(ValueError) as e:
        CLASSES[kind](c)(np.zeros(shape, dtype=np.float32))
    assert f"expected {c} " in str(e.value) and str(shape) in str(e.value)


@settings(max_examples=15, deadline=None)
@given(dtype=st.sampled_from([np.int32, np.int64, np.bool_, np.complex64]))
def test_non_float_input(dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype.*got {np.dtype(dtype)}"):
        BatchNorm2d(2)(np.zeros((2, 2, 2, 2), dtype=dtype))


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_parameter_dtype(kind):
    """dtype=np.int32 built float32 parameters, dtype="x" was NumPy's error without the argument's name."""
    assert_parameter_dtype_is_checked(lambda dtype: CLASSES[kind](3, dtype=dtype))
    assert BatchNorm2d(3, affine=False, dtype=np.float64).running_mean.dtype == np.float64
    with pytest.raises(TypeError, match="dtype: expected a floating dtype such as np.float32 or np.float64, got int32"):
        CLASSES[kind](3, affine=False, dtype=np.int32)  # buffers only


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}])
def test_dtype_differs_from_the_module(kwargs):
    with pytest.raises(TypeError, match="x: expected dtype float32.*got float64"):
        BatchNorm1d(2, **kwargs)(np.zeros((3, 2)))


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(["1d", "2d"]), track=st.booleans(), c=st.integers(1, 4))
def test_one_value_per_channel_in_training(kind, track, c):
    shape = (1, c) if kind == "1d" else (1, c, 1, 1)
    bn = CLASSES[kind](c, track_running_stats=track)
    x = np.ones(shape, dtype=np.float32)
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training, got shape \(1, "):
        bn(x)
    bn.eval()
    if track:    # eval uses the running statistics: one sample is fine
        np.testing.assert_allclose(bn(x), x / np.sqrt(1 + 1e-5), rtol=1e-6)
    else:
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            bn(x)


def test_empty_batch():
    with pytest.raises(ValueError, match=r"non-empty batch, got shape \(0, 3\)"):
        BatchNorm1d(3)(np.zeros((0, 3), dtype=np.float32))


@settings(max_examples=30, deadline=None)
@given(value=st.one_of(st.integers(-3, 0), st.floats(allow_nan=False), st.text(max_size=2), st.booleans()),
       name=st.sampled_from(["num_features", "eps", "momentum", "affine", "track_running_stats", "bias"]))
def test_bad_hyper_parameters(name, value):
    ok = {"num_features": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
          "eps": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
          "momentum": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1,
          "affine": lambda v: isinstance(v, bool), "track_running_stats": lambda v: isinstance(v, bool),
          "bias": lambda v: isinstance(v, bool)}
    kwargs = {"num_features": 2, name: value}
    if ok[name](value):
        BatchNorm2d(**kwargs)
        return
    with pytest.raises((TypeError, ValueError)) as e:
        BatchNorm2d(**kwargs)
    msg = str(e.value)
    assert msg.startswith(f"{name}: expected") and (repr(value) in msg or str(value) in msg), msg


def test_backward_before_forward_and_wrong_dout():
    bn = BatchNorm2d(2)
    with pytest.raises(BackwardBeforeForward, match="BatchNorm2d.backward"):
        bn.backward(np.zeros((2, 2, 2, 2), dtype=np.float32))
    bn(np.ones((2, 2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 2, 2, 2\).*got \(2, 2, 2\)"):
        bn.backward(np.zeros((2, 2, 2), dtype=np.float32))


@pytest.mark.parametrize("seed", range(12))
def test_eval_mode_keeps_x_alone_and_backward_normalises_it_then(seed):
    """Eval mode's forward is one pass, y = x * s + t (functional.tuned.norm.batch_norm_eval, compiled or NumPy),
    keeping x alone; backward then normalises x: y, dx, dgamma and dbeta equal the readable batch_norm's
    (training=False) to float64 rounding, and the compiled pass equals NumPy's, activations included."""
    from cnnumpy.functional import norm as readable
    from cnnumpy.functional.tuned import norm as tuned
    from cnnumpy.functional.tuned.config import DEFAULT
    rng = np.random.default_rng(seed)
    two_d = seed % 2 == 0
    shape = (3, 4, 5, 6) if two_d else (5, 4)
    bn = (BatchNorm2d if two_d else BatchNorm1d)(4, affine=seed % 3 != 2).double()
    bn.running_mean = rng.standard_normal(4)
    bn.running_var = rng.uniform(0.5, 2.0, 4)
    if bn.weight is not None:
        bn.weight.data[...] = rng.standard_normal(4)
        bn.bias.data[...] = rng.standard_normal(4)
    bn.eval()
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    y = bn(x)
    assert bn.cache[0] == "eval"
    w = None if bn.weight is None else bn.weight.data
    b = None if bn.bias is None else bn.bias.data
    ref, fcache = readable.batch_norm(x, bn.running_mean, bn.running_var, w, b, bn.eps, training=False)
    np.testing.assert_allclose(y, ref, rtol=1e-13, atol=1e-13)
    bn.zero_grad()
    dx = bn.backward(dout)
    rdx, rdw, rdb = readable.batch_norm_backward(dout, fcache)
    np.testing.assert_allclose(dx, rdx, rtol=1e-13, atol=1e-13)
    if bn.weight is not None:
        np.testing.assert_allclose(bn.weight.grad, rdw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(bn.bias.grad, rdb, rtol=1e-12, atol=1e-12)
    x32 = x.astype(np.float32)
    args = (x32, *(v.astype(np.float32) for v in (bn.running_mean, bn.running_var)))
    for act in (None, "relu", "relu6", "leaky_relu"):
        fast = tuned.batch_norm_eval(*args, act=act, slope=0.2)
        plain = tuned.batch_norm_eval(*args, act=act, slope=0.2, tuning=replace(DEFAULT, bn_compiled=False))
        np.testing.assert_allclose(fast, plain, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="act: expected None or one of"):
        tuned.batch_norm_eval(*args, act="gelu")
