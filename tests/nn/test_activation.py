"""Activation modules against torch.nn, the numerical gradient, and their error messages."""
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.nn.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from cnnumpy.nn.module import BackwardBeforeForward
from tests.parity import assert_matches_torch

# name -> (our class, torch class, does it take a dim)
LAYERS = {
    "ReLU": (ReLU, torch.nn.ReLU, False),
    "LeakyReLU": (LeakyReLU, torch.nn.LeakyReLU, False),
    "Sigmoid": (Sigmoid, torch.nn.Sigmoid, False),
    "Tanh": (Tanh, torch.nn.Tanh, False),
    "Softmax": (Softmax, torch.nn.Softmax, True),
    "LogSoftmax": (LogSoftmax, torch.nn.LogSoftmax, True),
}


def make(name, **kwargs):
    ours, ref, _ = LAYERS[name]
    return ours(**kwargs), ref(**kwargs)


def random_case(name, seed):
    """(kwargs, input shape): 2-D (N, K) or 4-D (N, C, H, W) half the time each, else 1..5 dims;
    batch 1 or more, odd sizes, any valid dim (negative too), several leaky slopes."""
    rng = np.random.default_rng(seed)
    kind = seed % 3
    if kind == 0:
        shape = (int(rng.choice([1, 2, 5])), int(rng.integers(1, 12)))
    elif kind == 1:
        shape = (int(rng.choice([1, 3])),) + tuple(int(s) for s in rng.integers(1, 6, size=3))
    else:
        shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 6))))
    kwargs = {}
    if name == "LeakyReLU":
        kwargs["negative_slope"] = float(rng.choice([0.01, 0.1, 0.5, -0.3, 2.0]))
    if LAYERS[name][2]:
        kwargs["dim"] = int(rng.integers(-len(shape), len(shape)))
    return kwargs, shape


def away_from_kinks(x):
    """Move every entry at least 0.1 away from 0, where relu and leaky_relu have no derivative."""
    return np.sign(x + (x == 0)) * (0.1 + np.abs(x))


@pytest.mark.parametrize("shape,dim", [((4,), 0), ((2, 5), 1), ((3, 4), 0), ((1, 3, 2, 2), 1), ((2, 2, 3, 2), -1)])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradcheck(name, shape, dim):
    kwargs = {"dim": dim} if LAYERS[name][2] else {}
    if name == "LeakyReLU":
        kwargs["negative_slope"] = 0.2
    x = away_from_kinks(np.random.default_rng(len(shape)).standard_normal(shape))
    errors = cnnumpy.gradcheck(LAYERS[name][0](**kwargs), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-8, f"{name}{kwargs} {shape}: {errors}"


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parity_with_torch_float64(name, seed):
    kwargs, shape = random_case(name, seed)
    rng = np.random.default_rng(seed)
    assert_matches_torch(*make(name, **kwargs), rng.standard_normal(shape) * 4, tol={"y": 1e-14, "dx": 1e-13},
                         rng=rng, label=f"{name}{kwargs} {shape}")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parity_with_torch_float32(name, seed):
    """float32 in, float32 out (dx too, even for a float64 dout), within 2e-6 of torch's float32 and of
    float64 on the natural scales, max(1, max|y|) for y and max|dout| for dx: tanh' = 1 - y^2 of a saturated
    y is a difference of nearly equal float32 numbers, which the reference's own size would not allow for."""
    kwargs, shape = random_case(name, 50 + seed)
    ours, ref = make(name, **kwargs)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dout = rng.standard_normal(shape)
    for ref_dtype in [np.float32, np.float64]:
        assert_matches_torch(ours, ref, x, tol=2e-6, dout=dout, ref_dtype=ref_dtype,
                             scale={"y": lambda y: max(1, np.abs(y).max()), "dx": np.abs(dout).max()},
                             label=f"{name}{kwargs} {shape} vs torch {np.dtype(ref_dtype)}")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_logits_of_1e4_match_torch(name):
    kwargs = {"dim": 1} if LAYERS[name][2] else {}
    x = np.random.default_rng(1).standard_normal((3, 10)) * 1e4
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = assert_matches_torch(*make(name, **kwargs), x, tol=1e-14, dout=np.ones((3, 10)), label=name)
    assert np.isfinite(got["y"][0]).all() and np.isfinite(got["dx"][0]).all()


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_float32_logits_whose_shift_overflows_match_torch(name):
    """float32 logits -3e38 and 3e38: the shift x - max overflows to -inf, whose exp 0 and log -inf are the
    right limits; y and dx equal torch's in float32, without NumPy's overflow warning."""
    x = np.array([[-3e38, 0, 3e38], [1, 2, 3]], np.float32)
    dout = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert_matches_torch(*make(name, dim=1), x, tol=1e-6, dout=dout, label=name)


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_zero_dim_input_as_torch(name, dim):
    """torch treats a 0-d tensor as 1-d: softmax of a scalar is 1, log_softmax 0; the shape stays ()."""
    kwargs = {"dim": dim} if LAYERS[name][2] else {}
    got = assert_matches_torch(*make(name, **kwargs), np.array(-0.7), tol=1e-15, dout=np.array(1.0), label=name)
    assert got["y"][0].shape == got["dx"][0].shape == ()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_repr_and_state_dict_as_torch(name):
    kwargs = {"dim": -1} if LAYERS[name][2] else {}
    ours, ref = make(name, **kwargs)
    assert repr(ours) == repr(ref)
    assert ours.state_dict() == {} and ours.parameters() == []


def test_backward_is_fresh_each_forward():
    """backward uses the last forward's cache: a second forward replaces the first."""
    layer = Sigmoid()
    layer(np.zeros(3))
    y = layer(np.full(3, 2.0))
    np.testing.assert_allclose(layer.backward(np.ones(3)), y * (1 - y), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_non_native_byte_order_works(name, dtype):
    """x and dout in the other byte order (>f4 on a little-endian machine): forward and backward give exactly
    the values of the native arrays, in the same precision (ReLU's backward raised NumPy's byte-order TypeError)."""
    kwargs = {"dim": 1} if LAYERS[name][2] else {}
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((2, 3, 4)).astype(dtype), rng.standard_normal((2, 3, 4)).astype(dtype)
    swapped = np.dtype(dtype).newbyteorder()
    native, other = LAYERS[name][0](**kwargs), LAYERS[name][0](**kwargs)
    y, y_other = native(x), other(x.astype(swapped))
    dx, dx_other = native.backward(dout), other.backward(dout.astype(swapped))
    for what, a, b in (("y", y_other, y), ("dx", dx_other, dx)):
        assert a.dtype.kind == "f" and a.dtype.itemsize == np.dtype(dtype).itemsize, f"{name} {what}: {a.dtype}"
        np.testing.assert_array_equal(a, b, err_msg=f"{name} {what}")


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LAYERS))
def test_backward_before_forward(name):
    kwargs = {"dim": 0} if LAYERS[name][2] else {}
    with pytest.raises(BackwardBeforeForward, match=f"{name}.backward: expected forward"):
        LAYERS[name][0](**kwargs).backward(np.ones(3))


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(LAYERS)), dtype=st.sampled_from(["int8", "int64", "uint8", "bool", "complex128"]))
def test_non_float_input_is_a_type_error(name, dtype):
    layer = LAYERS[name][0](**({"dim": 0} if LAYERS[name][2] else {}))
    with pytest.raises(TypeError, match=f"x: expected a floating dtype .*got {dtype}"):
        layer(np.zeros(3, dtype=dtype))


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(sorted(LAYERS)), value=st.sampled_from([[1.0, 2.0], 1.5, (0.5,)]))
def test_non_array_input_is_a_type_error(name, value):
    layer = LAYERS[name][0](**({"dim": 0} if LAYERS[name][2] else {}))
    with pytest.raises(TypeError, match=f"x: expected a numpy.ndarray, got {type(value).__name__}"):
        layer(value)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["Softmax", "LogSoftmax"]),
       shape=st.lists(st.integers(1, 3), min_size=0, max_size=4).map(tuple), dim=st.integers(-8, 8))
def test_dim_out_of_range(name, shape, dim):
    """A dim valid for the input works; any other names dim, the valid range and the shape, as torch does."""
    n = max(len(shape), 1)
    layer = LAYERS[name][0](dim=dim)
    x = np.ones(shape)
    if -n <= dim < n:
        assert layer(x).shape == shape
    else:
        msg = re.escape(f"dim: expected an int in [{-n}, {n - 1}] for an input of shape {shape}")
        with pytest.raises(ValueError, match=msg + f".*got {dim}"):
            layer(x)
        with pytest.raises(IndexError, match="Dimension out of range"):
            LAYERS[name][1](dim=dim)(torch.ones(shape))


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_empty_axis_is_an_error(name):
    with pytest.raises(ValueError, match=re.escape("x: expected a non-empty axis dim=-1, got shape (2, 0)")):
        LAYERS[name][0](dim=-1)(np.ones((2, 0)))
    assert LAYERS[name][0](dim=1)(np.ones((0, 4))).shape == (0, 4)


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(["Softmax", "LogSoftmax"]), dim=st.sampled_from([1.0, "1", True, (0,)]))
def test_dim_must_be_an_int(name, dim):
    with pytest.raises(TypeError, match=re.escape(f"dim: expected an int, got {dim!r}")):
        LAYERS[name][0](dim=dim)


@settings(max_examples=20, deadline=None)
@given(slope=st.sampled_from([None, "0.1", True, [0.1], 1j]))
def test_negative_slope_must_be_a_number(slope):
    with pytest.raises(TypeError, match=re.escape(f"negative_slope: expected a float, got {slope!r}")):
        LeakyReLU(slope)
    with pytest.raises(ValueError, match=r"negative_slope: expected a float, got 1000+, too large for one"):
        LeakyReLU(10 ** 400)  # an int beyond the float range: not float()'s OverflowError


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(LAYERS)), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       extra=st.integers(1, 3))
def test_dout_of_the_wrong_shape(name, shape, extra):
    layer = LAYERS[name][0](**({"dim": 0} if LAYERS[name][2] else {}))
    layer(np.ones(shape))
    wrong = shape[:-1] + (shape[-1] + extra,)
    msg = re.escape(f"dout: expected shape {shape} (forward's output), got {wrong}")
    with pytest.raises(ValueError, match=msg):
        layer.backward(np.ones(wrong))


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", [(5,), (2, 5), (3, 4, 5), (2, 3, 4, 5)])
def test_softmax_without_dim_picks_torchs_axis_and_warns(name, shape):
    nn = cnnumpy.nn
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.warns(UserWarning, match=r"an implicit dim is deprecated \(as in torch\); dim=[01] is used"):
        y = getattr(nn, name)()(x)
    with pytest.warns(UserWarning):
        expected = getattr(torch.nn, name)()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-14)
    assert repr(getattr(nn, name)()) == repr(getattr(torch.nn, name)())
