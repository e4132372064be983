"""Upsample and functional.interpolate against torch: nearest and bilinear (align_corners False and True), sizes
and scale factors (float or pair), gradients, output shapes, reprs and error messages."""
import re

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from cnnumpy.functional import interpolate, interpolate_backward
from tests.parity import assert_matches_torch

SCALES = [0.5, 0.7, 0.9, 1.1, 4 / 3, 1.5, 1.7, 2.0, 2.2, 2.5, 3.0, 1 / 3]


def random_case(rng):
    """(input shape, Upsample's keyword arguments): a size or a scale (float or pair), a mode, align_corners."""
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4))) + tuple(int(n) for n in rng.integers(1, 10, 2))
    mode = ["nearest", "bilinear"][rng.integers(2)]
    kwargs = {"mode": mode, "align_corners": None if mode == "nearest" else [None, False, True][rng.integers(3)]}
    kind = rng.integers(4)
    if kind == 0:
        kwargs["size"] = int(rng.integers(1, 16))
    elif kind == 1:
        kwargs["size"] = tuple(int(n) for n in rng.integers(1, 16, 2))
    else:
        while True:
            scale = float(rng.choice(SCALES)) if kind == 2 else tuple(float(s) for s in rng.choice(SCALES, 2))
            pair = scale if isinstance(scale, tuple) else (scale, scale)
            if all(int(n * s) >= 1 for n, s in zip(shape[2:], pair)):
                break
        kwargs["scale_factor"] = scale
    return shape, kwargs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parity_with_torch_over_random_configurations(dtype):
    rng = np.random.default_rng(11)
    for case in range(150):
        shape, kwargs = random_case(rng)
        ours = nn.Upsample(**kwargs)
        got = assert_matches_torch(ours, torch.nn.Upsample(**kwargs), rng.standard_normal(shape), dtype, rng=rng,
                                   label=f"{kwargs} on {shape}")
        assert ours.compute_output_shape(shape) == got["y"][0].shape


def test_functional_interpolate_matches_torch_and_its_backward_is_the_transpose():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 5, 4))
    for kwargs in [dict(scale_factor=1.5, mode="bilinear"), dict(size=(7, 3), mode="nearest"),
                   dict(size=9, mode="bilinear", align_corners=True), dict(scale_factor=(0.5, 2.5))]:
        y, cache = interpolate(x, **kwargs)
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.nn.functional.interpolate(xt, **kwargs)
        dout = rng.standard_normal(y.shape)
        yt.backward(torch.tensor(dout))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-12)
        dx = interpolate_backward(dout, cache)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)
        # the adjoint identity <A x, dout> = <x, Aᵀ dout>
        assert abs(np.vdot(y, dout) - np.vdot(x, dx)) < 1e-10


def test_nearest_picks_floor_of_i_times_in_over_out():
    x = np.arange(5.0).reshape(1, 1, 1, 5)
    y = nn.Upsample(size=(1, 7))(x)
    np.testing.assert_array_equal(y[0, 0, 0], np.floor(np.arange(7) * 5 / 7))


def test_bilinear_align_corners_keeps_the_corners():
    x = np.random.default_rng(0).standard_normal((1, 1, 3, 4))
    y = nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True)(x)
    np.testing.assert_allclose(y[..., [0, -1], :][..., [0, -1]], x[..., [0, -1], :][..., [0, -1]], atol=1e-15)


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(scale_factor=(1.5, 0.7)), dict(size=(5, 3)),
                                    dict(size=4, mode="bilinear"), dict(scale_factor=1.3, mode="bilinear"),
                                    dict(size=(2, 7), mode="bilinear", align_corners=True)])
def test_gradcheck(kwargs):
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 3))
    errors = cnnumpy.gradcheck(nn.Upsample(**kwargs), x)
    assert errors["x"] < 1e-6, errors


def test_repr_as_torch():
    for kwargs in [dict(scale_factor=2), dict(size=3, mode="bilinear"), dict(scale_factor=(2, 3.0)),
                   dict(size=(3, 4), mode="bilinear", align_corners=True)]:
        assert repr(nn.Upsample(**kwargs)) == repr(torch.nn.Upsample(**kwargs))


def test_recompute_scale_factor_resizes_to_the_integer_size():
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 3))
    kwargs = dict(scale_factor=1.3, mode="bilinear", recompute_scale_factor=True)
    assert_matches_torch(nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs), x)


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(), dict(size=2, scale_factor=2.0)])
def test_exactly_one_of_size_and_scale_factor(kwargs):
    with pytest.raises(ValueError, match="size, scale_factor: expected exactly one of them, got size="):
        nn.Upsample(**kwargs)


@pytest.mark.parametrize("size", [0, (2,), (2, 0), 2.5, (2, 3, 4), True])
def test_bad_size(size):
    with pytest.raises(ValueError, match=re.escape(f"size: expected an int >= 1 or a pair of them (H_out, W_out), "
                                                   f"got {size!r}")):
        nn.Upsample(size=size)


@pytest.mark.parametrize("scale", [0.0, -1.0, (2.0,), (1.0, 2.0, 3.0), "2", (2.0, None)])
def test_bad_scale_factor(scale):
    with pytest.raises(ValueError, match=re.escape(f"scale_factor: expected a float > 0 or a pair of them, got {scale!r}")):
        nn.Upsample(scale_factor=scale)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode: expected 'nearest' or 'bilinear', got 'bicubic'"):
        nn.Upsample(scale_factor=2, mode="bicubic")


def test_align_corners_with_nearest():
    with pytest.raises(ValueError, match="align_corners: expected None with mode 'nearest'"):
        nn.Upsample(scale_factor=2, align_corners=True)
    with pytest.raises(TypeError, match="align_corners: expected None, True or False, got 1"):
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=1)


def test_recompute_with_size():
    with pytest.raises(ValueError, match="recompute_scale_factor: expected None or False with an explicit size"):
        nn.Upsample(size=2, recompute_scale_factor=True)


def test_empty_output():
    with pytest.raises(ValueError, match=re.escape("scale_factor: expected an output of at least 1x1 for x of shape "
                                                   "(1, 1, 3, 3), got 0x0 from scale_factor=0.2")):
        nn.Upsample(scale_factor=0.2)(np.ones((1, 1, 3, 3)))


def test_input_must_be_4d_and_floating():
    with pytest.raises(ValueError, match=re.escape("x: expected 4 dimensions (N, C, H, W), got 3 (shape (1, 3, 3))")):
        nn.Upsample(scale_factor=2)(np.ones((1, 3, 3)))
    with pytest.raises(TypeError, match="x: expected a floating dtype"):
        nn.Upsample(scale_factor=2)(np.ones((1, 1, 3, 3), dtype=int))


def test_wrong_dout():
    layer = nn.Upsample(scale_factor=2)
    layer(np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=re.escape("dout: expected shape (1, 1, 4, 4) (forward's output), got (1, 1, 2, 2)")):
        layer.backward(np.ones((1, 1, 2, 2)))
