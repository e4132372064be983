"""pool_numba (compiled max pooling) against the naive loops and torch: the same y and dx bit for bit, ties,
NaN and -inf, the written-out 2x2 loops and the general ones, float32, and the split over threads."""
import numpy as np
import pytest
import torch.nn.functional as F

from cnnumpy.functional import pool as pool_naive
from cnnumpy.functional.tuned import compiled, pool_numba
from cnnumpy.functional.tuned.config import Tuning
from tests.functional.test_pool import data, forward_backward, random_case, tiles_case
from tests.util import t


def assert_same_as_naive(x, args, seed, tuning=None):
    y1, dx1 = forward_backward(pool_naive, "max_pool2d", x, args, seed)
    y2, dx2 = forward_backward(pool_numba, "max_pool2d", x, args, seed, tuning)
    assert y2.dtype == dx2.dtype == x.dtype
    np.testing.assert_array_equal(y2, y1, err_msg=f"y, args {args}")
    np.testing.assert_array_equal(dx2, dx1, err_msg=f"dx, args {args}")


def two_by_two(seed):
    """2x2 windows of stride 2: even and odd sizes (floor mode drops the last row or column; ceil mode adds a
    window there, which the general loops take), on the three kinds of data."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 12)), int(rng.integers(2, 12)))
    x = data(rng, shape, ["normal", "int", "mnist"][seed % 3])
    return x, ((2, 2), (2, 2), (0, 0), (1, 1), bool(seed % 2))


@pytest.mark.parametrize("seed", range(40))
def test_general_loops_agree_with_naive(seed):
    """Any window (padding, dilation, ceil mode, overlapping windows): exactly the naive y and dx."""
    x, args = random_case(seed, "max")
    assert_same_as_naive(x, args, seed)


@pytest.mark.parametrize("seed", range(30))
def test_tiles_agree_with_naive(seed):
    x, args = tiles_case(seed)
    assert_same_as_naive(x, args, seed)


@pytest.mark.parametrize("seed", range(30))
def test_two_by_two_loops_agree_with_naive(seed):
    x, args = two_by_two(seed)
    y, cache = pool_numba.max_pool2d(x, *args)
    odd_ceil = args[-1] and (x.shape[2] % 2 or x.shape[3] % 2)
    assert (cache[2] is None) == (not odd_ceil)  # the written-out loops, unless ceil mode adds a window
    assert_same_as_naive(x, args, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("args", [((2, 2), (2, 2), (0, 0), (1, 1), False), ((3, 2), (2, 2), (1, 1), (1, 1), True)])
def test_ties_nan_and_inf_like_torch(dtype, args):
    """Windows of zeros, ties inside windows, several NaNs in one window (the last wins), a NaN alone and an
    all -inf window: y and dx exactly as torch's, through the 2x2 loops and the general ones."""
    x = np.zeros((2, 3, 8, 6), dtype)
    x[0, 0, 2:6, 1:5] = np.arange(16).reshape(4, 4) % 3
    x[1, 2] = np.arange(6) % 2
    x[1, 0, 0, 0] = x[1, 0, 1, 0] = x[1, 0, 1, 1] = np.nan
    x[1, 1, 5, 4] = np.nan
    x[0, 1, :4, :4] = -np.inf
    xt = t(x, grad=True)
    yt = F.max_pool2d(xt, *args)
    dout = np.random.default_rng(0).standard_normal(yt.shape).astype(dtype)
    yt.backward(t(dout))
    y, cache = pool_numba.max_pool2d(x, *args)
    dx = pool_numba.max_pool2d_backward(dout, cache)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("seed", range(0, 30, 5))
def test_split_over_threads(use_threads, threads, seed):
    """Split by batch over threads (forced by pool_split_bytes = 0), batches smaller than the thread count included:
    exactly the naive y and dx, for 2x2 windows and others."""
    use_threads(threads)
    for x, args in (two_by_two(seed), random_case(seed, "max")):
        assert_same_as_naive(x, args, seed, Tuning(pool_split_bytes=0))


def test_non_contiguous_input_and_dout():
    """A strided view as x and as dout: the loops get contiguous copies, results as for the copies."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 10, 12))[:, :, ::2, ::2]
    y, cache = pool_numba.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    dout = rng.standard_normal((2, 3, 3, 2)).transpose(0, 1, 3, 2)
    dx = pool_numba.max_pool2d_backward(dout, cache)
    y0, cache0 = pool_naive.max_pool2d(np.ascontiguousarray(x), (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dx, pool_naive.max_pool2d_backward(np.ascontiguousarray(dout), cache0))


@pytest.mark.parametrize("module, layer, instead", [("pool", "MaxPool2d", "im2col"),
                                                    ("conv", "Conv2d", "im2col")])
def test_without_numba_the_error_says_what_to_do(monkeypatch, module, layer, instead):
    """With numba not importable, loading the compiled loops raises an ImportError naming the layer, the extra
    to install and the method to use instead; with it, the module of loops comes back."""
    import sys

    assert compiled.kernels(module, layer, instead).__name__ == f"cnnumpy.functional.tuned.loops.{module}"
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(ImportError, match=rf"{layer}\(method='numba'\) needs numba: pip install 'cnnumpy\[numba\]' "
                                          rf"\(or use method='{instead}'\)"):
        compiled.kernels(module, layer, instead)
