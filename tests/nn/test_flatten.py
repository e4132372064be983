"""Flatten against torch.nn.Flatten: shapes for every start_dim/end_dim, gradients, and its error messages."""
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.nn.flatten import Flatten
from cnnumpy.nn.module import BackwardBeforeForward
from tests.parity import assert_matches_torch


def valid_dims(ndim):
    """Every (start_dim, end_dim) torch accepts for an input with ndim dimensions, negatives included."""
    n = max(ndim, 1)
    dims = range(-n, n)
    return [(s, e) for s in dims for e in dims if s % n <= e % n]


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (1, 3, 4), (2, 3, 1, 5), (3, 1, 2, 2, 2), (0, 3, 2)])
def test_parity_with_torch_for_every_valid_dim_pair(shape):
    """Output values, shape and the gradient's shape equal torch's for every valid (start_dim, end_dim)."""
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    for start, end in valid_dims(len(shape)):
        assert_matches_torch(Flatten(start, end), torch.nn.Flatten(start, end), x, tol=0.0, rng=rng,
                             label=f"Flatten({start}, {end}) of {shape}")


def test_default_flattens_all_but_the_batch():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    layer = Flatten()
    y = layer(x)
    assert y.shape == (2, 60) and y.dtype == np.float32
    np.testing.assert_array_equal(y[1], x[1].ravel())
    dx = layer.backward(np.ones((2, 60)))
    assert dx.shape == x.shape and dx.dtype == np.float32


@pytest.mark.parametrize("shape,start,end", [((2, 3, 2), 1, -1), ((2, 2, 2, 3), 1, 2), ((3, 4), 0, -1)])
def test_gradcheck(shape, start, end):
    x = np.random.default_rng(0).standard_normal(shape)
    errors = cnnumpy.gradcheck(Flatten(start, end), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-8, errors


def test_repr_as_torch():
    assert repr(Flatten()) == repr(torch.nn.Flatten())
    assert repr(Flatten(0, 2)) == repr(torch.nn.Flatten(0, 2))


# --- errors ----------------------------------------------------------------------------------------

def test_backward_before_forward():
    with pytest.raises(BackwardBeforeForward, match="Flatten.backward: expected forward"):
        Flatten().backward(np.ones((2, 3)))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 3), max_size=4).map(tuple), start=st.integers(-6, 6), end=st.integers(-6, 6))
def test_dims_out_of_range_or_reversed(shape, start, end):
    """Invalid dims raise where torch raises, naming the argument, the valid range or order, and the shape."""
    n = max(len(shape), 1)
    layer, x = Flatten(start, end), np.ones(shape)
    try:
        torch.nn.Flatten(start, end)(torch.ones(shape))
        torch_ok = True
    except (IndexError, RuntimeError):
        torch_ok = False
    if not -n <= start < n or not -n <= end < n:
        name, value = ("start_dim", start) if not -n <= start < n else ("end_dim", end)
        msg = re.escape(f"{name}: expected an int in [{-n}, {n - 1}] for an input of shape {shape}") + f".*got {value}"
        with pytest.raises(ValueError, match=msg):
            layer(x)
    elif start % n > end % n:
        msg = re.escape(f"start_dim: expected start_dim <= end_dim for an input of shape {shape}, "
                        f"got start_dim={start} (dim {start % n}) and end_dim={end} (dim {end % n})")
        with pytest.raises(ValueError, match=msg):
            layer(x)
    else:
        layer(x)
        assert torch_ok
        return
    assert not torch_ok


@settings(max_examples=20, deadline=None)
@given(arg=st.sampled_from(["start_dim", "end_dim"]), value=st.sampled_from([None, 1.0, "1", True]))
def test_dims_must_be_ints(arg, value):
    with pytest.raises(TypeError, match=re.escape(f"{arg}: expected an int, got {value!r}")):
        Flatten(**{arg: value})


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from(["int8", "int64", "uint8", "bool"]))
def test_non_float_input_is_a_type_error(dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype .*got {dtype}"):
        Flatten()(np.ones((2, 3), dtype=dtype))


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=4).map(tuple), extra=st.integers(1, 3))
def test_dout_of_the_wrong_shape(shape, extra):
    layer = Flatten()
    y = layer(np.ones(shape))
    wrong = (y.shape[0], y.shape[1] + extra)
    with pytest.raises(ValueError, match=re.escape(f"dout: expected shape {y.shape} (forward's output), got {wrong}")):
        layer.backward(np.ones(wrong))
