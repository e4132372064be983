"""Padding's tuned twins (functional.tuned.padding) against the readable functions of functional.padding, in
float64, on every path: all planes in one call or split over one thread or two, paddings that pad, crop or
both."""
import numpy as np
import pytest

from cnnumpy.functional import padding as F
from cnnumpy.functional.tuned import padding as tuned
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close

TUNINGS = {"default": Tuning(), "split": Tuning(act_split_bytes=0)}
SHAPES = [(2, 3, 5, 7), (3, 4, 6), (5, 4), (1, 1, 1, 9, 8), (0, 3, 4, 4)]


def cases(seed, shape, crop):
    """Random paddings (left, right, top, bottom) valid for reflection (each < its side), negative ones if crop."""
    rng = np.random.default_rng(seed)
    h, w = shape[-2:]
    pads = [int(rng.integers(-(n // 2) if crop else 0, n)) for n in (w, w, h, h)]
    return tuple(pads)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("crop", [False, True], ids=["pad", "crop"])
def test_tuned_padding_equals_readable(use_threads, threads, tuning, shape, crop):
    use_threads(threads)
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    for seed in range(6):
        padding = cases(seed, shape, crop)
        for name, args in (("constant_pad2d", (padding, 0.5)), ("reflection_pad2d", (padding,))):
            y, cache = getattr(F, name)(x, *args)
            ty, tcache = getattr(tuned, name)(x, *args, tuning=TUNINGS[tuning])
            assert ty.dtype == np.float64 and ty.shape == y.shape, (name, padding)
            np.testing.assert_array_equal(ty, y, err_msg=f"{name} {padding}")
            dout = rng.standard_normal(y.shape)
            dx = getattr(F, name + "_backward")(dout, cache)
            tdx = getattr(tuned, name + "_backward")(dout, tcache, tuning=TUNINGS[tuning])
            assert tdx.dtype == np.float64 and tdx.shape == x.shape
            assert_close(f"{name} dx {padding}", tdx, dx, 1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ">f4"])
def test_dtype_kept(dtype):
    """Any float dtype stays its kind (native byte order out), not upcast, values equal to the readable ones."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(dtype)
    for name, args in (("constant_pad2d", ((1, 2, 3, 1), 0.25)), ("reflection_pad2d", ((3, 1, 0, 2),))):
        y, _ = getattr(F, name)(x, *args)
        ty, cache = getattr(tuned, name)(x, *args)
        assert ty.dtype == np.dtype(dtype).newbyteorder("=")
        np.testing.assert_array_equal(ty, y)
        dx = getattr(tuned, name + "_backward")(ty, cache)
        assert dx.dtype == ty.dtype and dx.shape == x.shape


def test_noncontiguous_input():
    x = np.random.default_rng(1).standard_normal((4, 3, 6, 10))[:, ::2, :, 1::2]
    for name, args in (("constant_pad2d", ((2, -1, 1, 0), 0.0)), ("reflection_pad2d", ((2, 1, 3, 4),))):
        np.testing.assert_array_equal(getattr(tuned, name)(x, *args)[0], getattr(F, name)(x, *args)[0])
