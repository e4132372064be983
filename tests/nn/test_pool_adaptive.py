"""AdaptiveMaxPool2d and AdaptiveAvgPool2d against torch.nn over many random sizes (output below, equal to and
above the input's, None entries), their indices, the numerical gradient, the methods against the readable loops,
and their error messages."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy.functional import methods
from cnnumpy.functional import pool as naive
from cnnumpy.nn import AdaptiveAvgPool2d, AdaptiveMaxPool2d
from tests.functional.test_pool import data
from tests.nn.test_pool import distinct, poison
from tests.parity import assert_matches_torch

MAX_METHODS = sorted(methods.pool_methods("adaptive_max_pool2d"))
AVG_METHODS = sorted(methods.pool_methods("adaptive_avg_pool2d"))
CLASSES = {"max": (AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d), "avg": (AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d)}


def random_case(seed):
    """(output_size as given, x): input 1..12 a side, output 1..15 (so below, equal to and above the input), an
    int, a pair or a pair with a None entry; data without ties, with integer ties or MNIST-like zeros."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 13)), int(rng.integers(1, 13)))
    x = data(rng, shape, ["normal", "int", "mnist"][seed % 3])

    def side():
        return int(rng.integers(1, 16))
    out = [side(), (side(), side()), (None, side()), (side(), None), 1, (None, None)][seed % 6]
    return out, x


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("op", ["max", "avg"])
def test_parity_with_torch_float64(op, seed):
    out, x = random_case(seed)
    ours, ref = CLASSES[op]
    for method in MAX_METHODS if op == "max" else AVG_METHODS:
        assert_matches_torch(ours(out, method=method), ref(out), x, tol=1e-12, ref_dtype=np.float64,
                             label=f"{method} output_size={out} x {x.shape}")


@pytest.mark.parametrize("seed", range(0, 60, 2))
@pytest.mark.parametrize("op", ["max", "avg"])
def test_parity_with_torch_float32(op, seed):
    """float32 in and out, within 1e-6 (relative to scale) of torch's float64 on the same values."""
    out, x = random_case(seed)
    ours, ref = CLASSES[op]
    assert_matches_torch(ours(out), ref(out), x.astype(np.float32), tol=1e-6, ref_dtype=np.float64,
                         label=f"output_size={out} x {x.shape}")


@pytest.mark.parametrize("seed", range(40))
def test_indices_equal_torch(seed):
    """return_indices=True: (y, indices), indices int64 and equal to torch's (first maximum on ties, as torch)."""
    out, x = random_case(seed)
    y_ref, i_ref = torch.nn.AdaptiveMaxPool2d(out, return_indices=True)(torch.tensor(x))
    for method in MAX_METHODS:
        y, index = AdaptiveMaxPool2d(out, return_indices=True, method=method)(x)
        assert index.dtype == np.int64 and y.dtype == x.dtype
        np.testing.assert_array_equal(index, i_ref.numpy(), err_msg=f"{method} {out} {x.shape}")
        np.testing.assert_array_equal(y, y_ref.numpy())


def test_return_indices_backward_takes_dout_of_y():
    x = distinct(np.random.default_rng(0), (2, 3, 5, 7))
    pool = AdaptiveMaxPool2d((2, 3), return_indices=True)
    y, index = pool(x)
    dout = np.random.default_rng(1).standard_normal(y.shape)
    plain = AdaptiveMaxPool2d((2, 3))
    plain(x)
    np.testing.assert_array_equal(pool.backward(dout), plain.backward(dout))
    expected = np.zeros((2, 3, 5 * 7))  # each dout at its index, summed where overlapping windows share one
    np.add.at(expected, (np.arange(2)[:, None, None], np.arange(3)[:, None], index.reshape(2, 3, -1)),
              dout.reshape(2, 3, -1))
    np.testing.assert_allclose(pool.backward(dout), expected.reshape(x.shape), rtol=1e-15)


@pytest.mark.parametrize("seed", range(20))
def test_nan_and_inf_stay_in_their_windows(seed):
    """A NaN or inf of x (it wins, as in torch: the last NaN of a window) or of dout reaches only its windows."""
    rng = np.random.default_rng(2000 + seed)
    out, x = random_case(seed)
    dtype, tol = [(np.float64, 1e-12), (np.float32, 1e-6)][seed % 2]
    x = x.astype(dtype)
    for method in MAX_METHODS:
        ours = AdaptiveMaxPool2d(out, method=method)
        label = f"{method} output_size={out} x {x.shape} {np.dtype(dtype)}"
        assert_matches_torch(ours, torch.nn.AdaptiveMaxPool2d(out), poison(rng, x, int(rng.integers(1, 4))),
                             tol=tol, ref_dtype=np.float64, label="NaN/inf in x, " + label)
        dout = poison(rng, rng.standard_normal(ours(x).shape), int(rng.integers(1, 4)))
        assert_matches_torch(ours, torch.nn.AdaptiveMaxPool2d(out), x, tol=tol, ref_dtype=np.float64, dout=dout,
                             label="NaN/inf in dout, " + label)


@pytest.mark.parametrize("seed", range(30))
def test_methods_agree_with_the_loops(seed):
    """Every method of the registry gives the readable loops' y, indices and dx, bit for bit (float64)."""
    out, x = random_case(seed)
    sizes = tuple(s if o is None else o for o, s in zip(out if isinstance(out, tuple) else (out, out), x.shape[2:]))
    y0, c0 = naive.adaptive_max_pool2d(x, sizes)
    dout = np.random.default_rng(seed).standard_normal(y0.shape)
    dx0 = naive.adaptive_max_pool2d_backward(dout, c0)
    for name in MAX_METHODS:
        module = methods.POOL[name].module
        y, cache = module.adaptive_max_pool2d(x, sizes)
        np.testing.assert_array_equal(y, y0, err_msg=name)
        np.testing.assert_array_equal(module.adaptive_max_pool2d_indices(cache),
                                      naive.adaptive_max_pool2d_indices(c0), err_msg=name)
        np.testing.assert_allclose(module.adaptive_max_pool2d_backward(dout, cache), dx0, rtol=1e-15, atol=0,
                                   err_msg=name)


@pytest.mark.parametrize("method", MAX_METHODS)
@pytest.mark.parametrize("out, shape", [(1, (2, 3, 4, 5)), ((2, 3), (1, 2, 5, 7)), ((None, 4), (2, 1, 3, 3)),
                                        ((5, 6), (1, 2, 3, 4))])
def test_adaptive_max_gradcheck(method, out, shape):
    x = distinct(np.random.default_rng(3), shape)
    errors = cnnumpy.gradcheck(AdaptiveMaxPool2d(out, method=method), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-6


@pytest.mark.parametrize("method", AVG_METHODS)
def test_adaptive_avg_gradcheck_output_larger_than_input(method):
    x = np.random.default_rng(4).standard_normal((2, 2, 3, 4))
    errors = cnnumpy.gradcheck(AdaptiveAvgPool2d((7, 5), method=method), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-6


def test_modules_look_like_torch():
    for out in (2, (None, 3), (4, None), (3, 5)):
        for ours, ref in ((AdaptiveMaxPool2d(out), torch.nn.AdaptiveMaxPool2d(out)),
                          (AdaptiveMaxPool2d(out, True), torch.nn.AdaptiveMaxPool2d(out, True)),
                          (AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out))):
            assert repr(ours) == repr(ref)[:-1] + ", method='auto')"
            assert ours.output_size == ref.output_size and ours.parameters() == [] and ours.state_dict() == {}
    assert AdaptiveMaxPool2d(2, True).return_indices is True
    assert AdaptiveMaxPool2d((None, 3)).compute_output_shape((2, 3, 9, 4)) == (2, 3, 9, 3)


def test_dtype_kept():
    for dtype in (np.float32, np.float64):
        pool = AdaptiveMaxPool2d(3)
        y = pool(np.ones((1, 2, 5, 5), dtype))
        assert y.dtype == dtype and pool.backward(np.ones(y.shape)).dtype == dtype


# --- bad input ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("out, error, message", [
    ((2, 3, 4), ValueError, r"output_size: expected an int or a pair of ints or None, got \(2, 3, 4\)"),
    (0, ValueError, r"output_size: expected values in \[1, \d+\], got 0"),
    (2.5, TypeError, r"output_size: expected an int or a pair of ints or None, got 2.5 \(float\)"),
    ((True, 2), TypeError, r"output_size: expected an int or a pair of ints or None, got \(True, 2\) \(bool\)"),
])
def test_bad_output_size(out, error, message):
    with pytest.raises(error, match=message):
        AdaptiveMaxPool2d(out)


def test_bad_return_indices_and_method():
    with pytest.raises(TypeError, match=r"return_indices: expected a bool, got 1 \(int\)"):
        AdaptiveMaxPool2d(2, return_indices=1)
    with pytest.raises(ValueError, match=r"method: expected one of \['auto', 'im2col', 'naive'\], got 'numba'"):
        AdaptiveMaxPool2d(2, method="numba")


def test_bad_input():
    pool = AdaptiveMaxPool2d(2)
    with pytest.raises(ValueError, match=r"x: expected 4 dimensions \(N, C, H, W\) or 3 \(C, H, W\), got 2"):
        pool(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="x: expected a floating dtype.*got int64"):
        pool(np.zeros((1, 1, 3, 3), np.int64))
    with pytest.raises(ValueError, match=r"x: expected a non-empty batch, got shape \(1, 1, 0, 3\)"):
        pool(np.zeros((1, 1, 0, 3)))
    pool(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 1, 2, 2\) \(forward's output\), got \(1, 1, 3, 3\)"):
        pool.backward(np.zeros((1, 1, 3, 3)))
