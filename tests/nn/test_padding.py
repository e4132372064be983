"""ZeroPad2d, ConstantPad2d, ReflectionPad2d against torch.nn: random paddings (negative ones crop), gradients,
output shapes, reprs and error messages."""
import re

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from tests.parity import assert_matches_torch


def random_case(rng, reflect):
    shape = tuple(int(n) for n in rng.integers(1, 6, 4))
    if rng.integers(2):
        shape = shape[1:]  # unbatched (C, H, W), as torch accepts
    h, w = shape[-2:]
    if reflect:
        pad = [int(rng.integers(-n + 1 if rng.integers(4) == 0 else 0, n)) for n in (w, w, h, h)]
        if h + pad[2] + pad[3] < 1 or w + pad[0] + pad[1] < 1:
            pad = [max(p, 0) for p in pad]
    else:
        pad = [int(rng.integers(-n // 2 if rng.integers(4) == 0 else 0, 4)) for n in (w, w, h, h)]
    return shape, tuple(pad)


def layers(kind, pad, value):
    if kind == "zero":
        return nn.ZeroPad2d(pad), torch.nn.ZeroPad2d(pad)
    if kind == "constant":
        return nn.ConstantPad2d(pad, value), torch.nn.ConstantPad2d(pad, value)
    return nn.ReflectionPad2d(pad), torch.nn.ReflectionPad2d(pad)


@pytest.mark.parametrize("kind", ["zero", "constant", "reflection"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parity_with_torch_over_random_paddings(kind, dtype):
    rng = np.random.default_rng(7)
    for case in range(60):
        shape, pad = random_case(rng, kind == "reflection")
        value = float(rng.standard_normal())
        ours, theirs = layers(kind, pad, value)
        x = rng.standard_normal(shape)
        got = assert_matches_torch(ours, theirs, x, dtype, rng=rng, label=f"{kind} {pad} on {shape}")
        assert ours.compute_output_shape(shape) == got["y"][0].shape


@pytest.mark.parametrize("layer", [nn.ZeroPad2d((1, 0, 2, 1)), nn.ConstantPad2d(2, -1.5),
                                   nn.ConstantPad2d((-1, 2, 1, -2), 3.0), nn.ReflectionPad2d((2, 1, 0, 3)),
                                   nn.ReflectionPad2d((-1, 2, 3, -1))])
def test_gradcheck(layer):
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 5))
    errors = cnnumpy.gradcheck(layer, x)
    assert errors["x"] < 1e-6, errors


def test_reflection_is_a_mirror_without_repeating_the_edge():
    y = nn.ReflectionPad2d((2, 2, 0, 0))(np.array([[[[1.0, 2.0, 3.0]]]]))
    np.testing.assert_array_equal(y[0, 0, 0], [3, 2, 1, 2, 3, 2, 1])
    layer = nn.ReflectionPad2d((2, 2, 0, 0))
    layer(np.zeros((1, 1, 1, 3)))
    # each pixel collects dout from each of its copies: 1 and 3 twice, 2 three times
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 7)))[0, 0, 0], [2, 3, 2])


def test_repr_as_torch():
    for ours, theirs in [(nn.ZeroPad2d(2), torch.nn.ZeroPad2d(2)),
                         (nn.ConstantPad2d((1, 2, 3, 4), 3.5), torch.nn.ConstantPad2d((1, 2, 3, 4), 3.5)),
                         (nn.ReflectionPad2d(1), torch.nn.ReflectionPad2d(1))]:
        assert repr(ours) == repr(theirs)


def test_dtype_kept():
    for layer in (nn.ZeroPad2d(1), nn.ReflectionPad2d(1)):
        y = layer(np.ones((1, 1, 3, 3), dtype=np.float32))
        assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("padding", [(1, 2), (1, 2, 3), 1.5, (1, 2, 3, "4"), (True, 1, 1, 1)])
def test_padding_must_be_an_int_or_four(padding):
    with pytest.raises(TypeError, match=re.escape(f"padding: expected an int or a 4-tuple of ints (left, right, "
                                                  f"top, bottom), got {padding!r}")):
        nn.ZeroPad2d(padding)


def test_value_must_be_a_number():
    with pytest.raises(TypeError, match=r"value: expected a float, got '1' \(str\)"):
        nn.ConstantPad2d(1, "1")


@pytest.mark.parametrize("pad,dim,sizes", [((3, 0, 0, 0), 3, (3, 0)), ((0, 3, 0, 0), 3, (0, 3)),
                                           ((0, 0, 2, 0), 2, (2, 0)), ((0, 0, 0, 5), 2, (0, 5))])
def test_reflection_padding_must_be_less_than_the_size(pad, dim, sizes):
    """torch's condition: each amount < the size of its axis."""
    x = np.ones((1, 1, 2, 3))
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        torch.nn.ReflectionPad2d(pad)(torch.ones(1, 1, 2, 3))
    msg = f"padding: expected amounts less than the size {x.shape[dim]} of dim {dim} of x (shape (1, 1, 2, 3)) " \
          f"for reflection, got {sizes}"
    with pytest.raises(ValueError, match=re.escape(msg)):
        nn.ReflectionPad2d(pad)(x)
    with pytest.raises(ValueError, match=re.escape(msg.replace("of x", "of input_shape"))):
        nn.ReflectionPad2d(pad).compute_output_shape((1, 1, 2, 3))


def test_cropping_more_than_the_axis():
    with pytest.raises(RuntimeError):
        torch.nn.ZeroPad2d((-5, 0, 0, 0))(torch.ones(1, 1, 3, 4))
    with pytest.raises(ValueError, match=re.escape("padding: expected negative amounts that crop at most the 4 "
                                                   "elements of dim 3 of x (shape (1, 1, 3, 4)), got (-5, 0)")):
        nn.ZeroPad2d((-5, 0, 0, 0))(np.ones((1, 1, 3, 4)))


def test_reflection_output_must_not_be_empty():
    with pytest.raises(ValueError, match=r"padding: expected a non-empty output for x of shape \(1, 1, 3, 4\), "
                                         r"got output shape \(1, 1, 3, 0\)"):
        nn.ReflectionPad2d((-2, -2, 0, 0))(np.ones((1, 1, 3, 4)))


def test_input_must_have_3_or_4_dims():
    with pytest.raises(ValueError, match=re.escape("x: expected 3 or 4 dimensions, got 2 (shape (3, 4))")):
        nn.ZeroPad2d(1)(np.ones((3, 4)))


def test_integer_input_and_wrong_dout():
    with pytest.raises(TypeError, match="x: expected a floating dtype"):
        nn.ZeroPad2d(1)(np.ones((1, 1, 2, 2), dtype=int))
    layer = nn.ReflectionPad2d(1)
    layer(np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=re.escape("dout: expected shape (1, 1, 4, 4) (forward's output), got (1, 1, 2, 2)")):
        layer.backward(np.ones((1, 1, 2, 2)))
