"""Linear against torch.nn.Linear: values, gradients, state_dict, default init, and its error messages."""
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.nn.linear import Linear
from cnnumpy.nn.module import BackwardBeforeForward
from tests.parity import assert_matches_torch
from tests.util import assert_close, t


def random_linear(seed):
    """(kwargs, input shape): 2-D (N, in) or 4-D (N, A, B, in) inputs, also 1-D and 3-D; batch 1 or more;
    odd and even feature counts 1..17; bias 3 times in 4."""
    rng = np.random.default_rng(seed)
    in_, out = int(rng.integers(1, 18)), int(rng.integers(1, 18))
    lead = [(int(rng.choice([1, 2, 7])),), (int(rng.choice([1, 3])), 2, 3), (), (2, int(rng.integers(1, 5)))][seed % 4]
    return dict(in_features=in_, out_features=out, bias=bool(seed % 4 != 3 or rng.random() < 0.5)), lead + (in_,)


def check_parity(kwargs, shape, dtype, tol, seed):
    ours = Linear(**kwargs, dtype=dtype)
    rng = np.random.default_rng(seed)
    assert_matches_torch(ours, torch.nn.Linear(**kwargs), rng.standard_normal(shape).astype(dtype), tol=tol, rng=rng,
                         label=f"{kwargs} {shape}")
    if not kwargs["bias"]:
        assert ours.bias is None and list(ours.state_dict()) == ["weight"]


@pytest.mark.parametrize("seed", range(40))
def test_parity_with_torch_float64(seed):
    kwargs, shape = random_linear(seed)
    check_parity(kwargs, shape, np.float64, 1e-13, seed)


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_parity_with_torch_float32(seed):
    """float32 end to end: output and grads within 1e-5 of torch's float32, relative to the largest value."""
    kwargs, shape = random_linear(seed)
    check_parity(kwargs, shape, np.float32, 1e-5, seed)


@pytest.mark.parametrize("kwargs,shape", [
    (dict(in_features=3, out_features=2), (4, 3)),
    (dict(in_features=1, out_features=1), (1, 1)),
    (dict(in_features=4, out_features=3, bias=False), (4,)),
    (dict(in_features=2, out_features=3), (2, 2, 2)),
    (dict(in_features=3, out_features=2), (1, 2, 2, 3)),
])
def test_gradcheck(kwargs, shape):
    layer = Linear(**kwargs, rng=0)
    x = np.random.default_rng(1).standard_normal(shape)
    errors = cnnumpy.gradcheck(layer, x)
    expected = {"x", "weight"} | ({"bias"} if kwargs.get("bias", True) else set())
    assert set(errors) == expected and max(errors.values()) < 1e-8, f"{kwargs} {shape}: {errors}"


def test_grads_accumulate_as_in_torch():
    """Two backward passes without zero_grad: both sums of gradients as torch's."""
    ours, ref = Linear(3, 2, dtype=np.float64), torch.nn.Linear(3, 2)
    x = np.random.default_rng(0).standard_normal((4, 3))
    for step in range(2):
        assert_matches_torch(ours, ref, x, tol=1e-14, dout=np.ones((4, 2)), load=step == 0, zero_grad=step == 0,
                             label=f"step {step}")
    ours.zero_grad()
    assert not ours.weight.grad.any() and not ours.bias.grad.any()


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors is a no-op")
@pytest.mark.parametrize("in_,out", [(0, 3), (3, 0)])
def test_zero_features_as_torch(in_, out):
    """A layer with no inputs outputs its bias; with no outputs it outputs nothing."""
    assert_matches_torch(Linear(in_, out, dtype=np.float64), torch.nn.Linear(in_, out), np.ones((2, in_)), tol=0.0,
                         dout=np.ones((2, out)))


@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_round_trip_with_torch(bias):
    """Our state_dict loads into torch.nn.Linear (strict) and torch's loads into ours: same keys, same outputs."""
    ours = Linear(5, 3, bias=bias, rng=0)
    ref = torch.nn.Linear(5, 3, bias=bias)
    ref.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()}, strict=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    assert_close("y after loading into torch", ours(x), ref(t(x)), 1e-6)

    fresh = torch.nn.Linear(5, 3, bias=bias)
    missing, unexpected = ours.load_state_dict(fresh.state_dict(), strict=True)
    assert missing == [] and unexpected == []
    assert ours.weight.dtype == np.float32
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())
    assert_close("y after loading from torch", ours(x), fresh(t(x)), 1e-6)


def test_default_init_matches_torch_bounds():
    """U(-1/sqrt(in), 1/sqrt(in)) for weight and bias, as torch: all inside the bound, spread right up to it,
    mean ~0 and std ~bound/sqrt(3), like torch's own draw of the same layer."""
    in_, out = 50, 400
    bound = 1 / np.sqrt(in_)
    ours = Linear(in_, out, rng=0)
    torch.manual_seed(0)
    ref = torch.nn.Linear(in_, out)
    for name, n in [("weight", in_ * out), ("bias", out)]:
        w = getattr(ours, name).data
        w_ref = getattr(ref, name).detach().numpy()
        assert w.dtype == np.float32
        assert np.abs(w).max() <= bound and np.abs(w_ref).max() <= bound
        # the max of n uniform draws is within bound * 10/n of the bound with probability 1 - e^-10
        assert np.abs(w).max() >= bound * (1 - 10 / n), f"{name}: max |w| {np.abs(w).max():.4f}, bound {bound:.4f}"
        assert abs(w.mean()) < 5 * bound / np.sqrt(3 * n), f"{name}: mean {w.mean():.4f}"
        std = bound / np.sqrt(3)
        # the sample std of n uniform draws has relative spread ~0.45/sqrt(n): allow ~4.5 of those
        assert abs(w.std() / std - 1) < 2 / np.sqrt(n) and abs(w_ref.std() / std - 1) < 2 / np.sqrt(n), \
            f"{name}: std {w.std():.4f} (torch {w_ref.std():.4f}), expected {std:.4f}"


def test_init_is_reproducible_and_keeps_dtype():
    a, b = Linear(4, 3, rng=7), Linear(4, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    cnnumpy.manual_seed(3)
    c = Linear(4, 3, dtype=np.float64)
    cnnumpy.manual_seed(3)
    d = Linear(4, 3)
    assert c.weight.dtype == c.bias.dtype == np.float64 and d.weight.dtype == np.float32
    np.testing.assert_array_equal(c.weight.data.astype(np.float32), d.weight.data)


def test_repr_as_torch():
    assert repr(Linear(3, 4)) == repr(torch.nn.Linear(3, 4))
    assert repr(Linear(3, 4, bias=False)) == repr(torch.nn.Linear(3, 4, bias=False))


# --- errors ----------------------------------------------------------------------------------------

def test_backward_before_forward():
    with pytest.raises(BackwardBeforeForward, match="Linear.backward: expected forward"):
        Linear(2, 3).backward(np.ones((1, 3), np.float32))


@settings(max_examples=40, deadline=None)
@given(in_=st.integers(1, 6), lead=st.lists(st.integers(1, 3), max_size=3), last=st.integers(0, 8))
def test_wrong_feature_count(in_, lead, last):
    """The message names in_features and the input's shape; a right shape works."""
    layer = Linear(in_, 2, rng=0)
    x = np.ones(tuple(lead) + (last,), np.float32)
    if last == in_:
        assert layer(x).shape == tuple(lead) + (2,)
    else:
        msg = re.escape(f"x: expected shape (..., {in_}) (last dimension = in_features = {in_}), got shape {x.shape}")
        with pytest.raises(ValueError, match=msg):
            layer(x)


def test_zero_dim_input():
    with pytest.raises(ValueError, match=re.escape("x: expected shape (..., 3) (last dimension = in_features = 3), "
                                                   "got shape ()")):
        Linear(3, 2)(np.array(1.0, np.float32))


@settings(max_examples=25, deadline=None)
@given(dtype=st.sampled_from(["int8", "int32", "int64", "uint8", "bool"]))
def test_non_float_input_is_a_type_error(dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype .*got {dtype}"):
        Linear(3, 2)(np.ones((2, 3), dtype=dtype))


@settings(max_examples=10, deadline=None)
@given(params=st.sampled_from([np.float32, np.float64]), data=st.sampled_from([np.float16, np.float32, np.float64]))
def test_dtype_different_from_the_parameters(params, data):
    layer = Linear(3, 2, dtype=params)
    x = np.ones((2, 3), dtype=data)
    if params == data:
        assert layer(x).dtype == params
    else:
        msg = re.escape(f"x: expected dtype {np.dtype(params)} (the parameters' dtype), got {np.dtype(data)}")
        with pytest.raises(TypeError, match=msg):
            layer(x)


@settings(max_examples=30, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), delta=st.integers(-1, 2).filter(bool))
def test_dout_of_the_wrong_shape(lead, delta):
    layer = Linear(3, 4)
    layer(np.ones(lead + (3,), np.float32))
    wrong = lead + (4 + delta,)
    msg = re.escape(f"dout: expected shape {lead + (4,)} (forward's output), got {wrong}")
    with pytest.raises(ValueError, match=msg):
        layer.backward(np.ones(wrong, np.float32))


@settings(max_examples=30, deadline=None)
@given(arg=st.sampled_from(["in_features", "out_features"]), value=st.sampled_from([-1, -5, 2.0, "3", None, True]))
def test_bad_feature_counts(arg, value):
    kwargs = {"in_features": 2, "out_features": 2, arg: value}
    if isinstance(value, int) and not isinstance(value, bool):
        with pytest.raises(ValueError, match=f"{arg}: expected an int >= 0, got {value}"):
            Linear(**kwargs)
    else:
        with pytest.raises(TypeError, match=re.escape(f"{arg}: expected an int, got {value!r}")):
            Linear(**kwargs)


BAD_DTYPES = [  # (dtype given, the message's tail)
    (np.int32, "such as np.float32 or np.float64, got int32"), (np.uint8, "such as np.float32 or np.float64, got uint8"),
    (bool, "such as np.float32 or np.float64, got bool"), (np.complex64, "such as np.float32 or np.float64, got complex64"),
    (object, "such as np.float32 or np.float64, got object"), (str, "such as np.float32 or np.float64, got <U0"),
    ("x", "such as np.float32 or np.float64, got 'x' (not a NumPy dtype)"),
    ([1], "such as np.float32 or np.float64, got [1] (not a NumPy dtype)"),
    (torch.float32, "such as np.float32 or np.float64, got torch.float32 (not a NumPy dtype)"),
    (np.dtype(np.float32).newbyteorder(), "in the machine's byte order, got {} (float32 in non-native byte order); "
                                          "use np.float32"),
    (np.dtype(np.float64).newbyteorder(), "in the machine's byte order, got {} (float64 in non-native byte order); "
                                          "use np.float64"),
]


def assert_parameter_dtype_is_checked(make):
    """make(dtype) builds a layer: every non-floating, unknown or non-native dtype is the same TypeError naming
    `dtype`, the expected and the given value (through nn.check.float_dtype); None is float32, torch's default."""
    for dtype, tail in BAD_DTYPES:
        shown = np.dtype(dtype).str if isinstance(dtype, np.dtype) else None
        with pytest.raises(TypeError, match=re.escape("dtype: expected a floating dtype " + tail.format(shown))):
            make(dtype)
    for dtype in (np.float16, np.float32, "float64", np.longdouble):
        assert all(p.dtype == dtype for p in make(dtype).parameters())
    assert all(p.dtype == np.float32 for p in make(None).parameters())


def test_parameter_dtype():
    assert_parameter_dtype_is_checked(lambda dtype: Linear(2, 3, dtype=dtype))


def test_input_in_non_native_byte_order_gets_a_sensible_hint():
    """The dtype error spells a non-native dtype as '>f4 (float32 in non-native byte order)' and suggests only
    conversions that exist: not model.to(np.>f4)."""
    swapped = np.dtype(np.float32).newbyteorder()
    msg = (f"x: expected dtype float32 (the parameters' dtype), got {swapped.str} (float32 in non-native byte "
           f"order); convert the input with x.astype(np.float32)")
    with pytest.raises(TypeError, match=re.escape(msg) + "$"):
        Linear(3, 2)(np.ones((2, 3), swapped))
    model = Linear(3, 2)  # parameters in the other order, set by hand (Module.to refuses to make them)
    for p in model.parameters():
        p.data = p.data.astype(swapped)
    msg = (f"x: expected dtype {swapped.str} (float32 in non-native byte order) (the parameters' dtype), got "
           f"float64; convert the model with model.to(np.float64)")
    with pytest.raises(TypeError, match=re.escape(msg) + "$"):
        model(np.ones((2, 3)))
    with pytest.raises(TypeError, match=re.escape("convert the model with model.to(np.float32) and the input with "
                                                  "x.astype(np.float32)") + "$"):
        model(np.ones((2, 3), np.dtype(np.float64).newbyteorder()))
