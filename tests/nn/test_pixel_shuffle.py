"""PixelShuffle and PixelUnshuffle against torch.nn: random shapes and factors, gradients, shapes, errors."""
import re

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from tests.parity import assert_matches_torch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parity_with_torch_over_random_shapes(dtype):
    rng = np.random.default_rng(3)
    for case in range(40):
        r = int(rng.integers(1, 4))
        lead = tuple(int(n) for n in rng.integers(1, 3, rng.integers(0, 3)))  # (*), any number of batch axes
        c, h, w = (int(n) for n in rng.integers(1, 4, 3))
        small = lead + (c * r * r, h, w)
        big = lead + (c, h * r, w * r)
        for ours, theirs, shape in [(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), small),
                                    (nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), big)]:
            got = assert_matches_torch(ours, theirs, rng.standard_normal(shape), dtype, tol=0.0, rng=rng,
                                       label=f"{ours!r} on {shape}")
            assert ours.compute_output_shape(shape) == got["y"][0].shape


def test_shuffle_places_channel_blocks_as_subpixels():
    x = np.arange(8.0).reshape(1, 8, 1, 1)  # 2 channels of 2x2 sub-pixels
    y = nn.PixelShuffle(2)(x)
    np.testing.assert_array_equal(y[0], [[[0, 1], [2, 3]], [[4, 5], [6, 7]]])
    np.testing.assert_array_equal(nn.PixelUnshuffle(2)(y), x)


@pytest.mark.parametrize("layer,shape", [(nn.PixelShuffle(2), (2, 8, 3, 2)), (nn.PixelUnshuffle(3), (1, 2, 3, 6))])
def test_gradcheck(layer, shape):
    errors = cnnumpy.gradcheck(layer, np.random.default_rng(0).standard_normal(shape))
    assert errors["x"] < 1e-6, errors


def test_repr_as_torch():
    assert repr(nn.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))
    assert repr(nn.PixelUnshuffle(3)) == repr(torch.nn.PixelUnshuffle(3))


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,arg", [(nn.PixelShuffle, "upscale_factor"), (nn.PixelUnshuffle, "downscale_factor")])
def test_factor_must_be_a_positive_int(cls, arg):
    with pytest.raises(TypeError, match=re.escape(f"{arg}: expected an int, got 2.0 (float)")):
        cls(2.0)
    with pytest.raises(ValueError, match=re.escape(f"{arg}: expected an int >= 1, got 0")):
        cls(0)


def test_shuffle_channels_must_divide():
    with pytest.raises(ValueError, match=re.escape("x: expected channels (dim -3) divisible by upscale_factor² = 4, "
                                                   "got shape (1, 6, 2, 2)")):
        nn.PixelShuffle(2)(np.ones((1, 6, 2, 2)))


def test_unshuffle_height_and_width_must_divide():
    with pytest.raises(ValueError, match=re.escape("input_shape: expected height and width (dims -2, -1) divisible "
                                                   "by downscale_factor = 2, got shape (1, 1, 4, 3)")):
        nn.PixelUnshuffle(2).compute_output_shape((1, 1, 4, 3))


@pytest.mark.parametrize("cls", [nn.PixelShuffle, nn.PixelUnshuffle])
def test_at_least_three_dims(cls):
    with pytest.raises(ValueError, match=re.escape("x: expected at least 3 dimensions (*, C, H, W), got 2 (shape (4, 4))")):
        cls(1)(np.ones((4, 4)))
