"""functional.linear against torch.nn.functional.linear for any number of leading dimensions; its tuned twin
(functional.tuned.linear) against it, on every path its Tuning forces."""
import numpy as np
import pytest
import torch

from cnnumpy.functional.linear import linear, linear_backward
from cnnumpy.functional.tuned import linear as tuned
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close, assert_close_nonfinite, t


def random_case(seed):
    """(x shape, in, out, bias): 0 to 3 leading dims of sizes 1..5, in and out 1..9."""
    rng = np.random.default_rng(seed)
    lead = tuple(int(s) for s in rng.integers(1, 6, size=seed % 4))
    in_, out = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    return lead + (in_,), in_, out, bool(seed % 5)


def run(x, w, b, dout):
    """Ours and torch's (y, dx, dw, db)."""
    y, cache = linear(x, w, b)
    dx, dw, db = linear_backward(dout, cache)
    xt, wt = t(x, grad=True), t(w, grad=True)
    bt = t(b, grad=True) if b is not None else None
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(t(dout))
    return (y, dx, dw, db), (yt, xt.grad, wt.grad, bt.grad if bt is not None else None)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("seed", range(24))
def test_parity_with_torch(seed, dtype, tol):
    """float64 to 1e-13; float32 to 1e-5 of the largest value (sums of up to 100 float32 products)."""
    shape, in_, out, bias = random_case(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((out, in_)).astype(dtype)
    b = rng.standard_normal(out).astype(dtype) if bias else None
    dout = rng.standard_normal(shape[:-1] + (out,)).astype(dtype)
    ours, ref = run(x, w, b, dout)
    for name, a, r in zip(["y", "dx", "dw", "db"], ours, ref):
        if r is None:
            assert a is None, f"{name}: expected None without bias"
            continue
        assert a.dtype == dtype, f"{name}: dtype {a.dtype}, expected {np.dtype(dtype)}"
        assert_close(f"{name} x{shape} w{(out, in_)} bias={bias}", a, r, tol)


@pytest.mark.parametrize("shape,w_shape", [((0, 3), (4, 3)), ((2, 0), (4, 0)), ((2, 3), (0, 3))])
def test_empty_shapes_match_torch(shape, w_shape):
    x, w = np.ones(shape), np.ones(w_shape)
    b = np.arange(w_shape[0], dtype=np.float64)
    dout = np.ones(shape[:-1] + (w_shape[0],))
    ours, ref = run(x, w, b, dout)
    for name, a, r in zip(["y", "dx", "dw", "db"], ours, ref):
        assert a.shape == tuple(r.shape), f"{name}: shape {a.shape}, torch {tuple(r.shape)}"
        np.testing.assert_array_equal(a, r.detach().numpy())


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape,out", [((1, 7), 5), ((2, 7), 5), ((9, 3, 7), 4), ((64, 40), 30), ((0, 7), 5), ((5, 1), 3), ((4, 6), 1)])
def test_split_over_threads(use_threads, threads, shape, out):
    """The tuned pair split over threads (forced by linear_split_work=0; forward by output features, backward by
    input features): y, dx, dw, db equal the one-product result (the readable pair's, and the tuned pair's at
    these small sizes) in float64, features fewer than threads included."""
    rng = np.random.default_rng(len(shape) * threads + out)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((out, shape[-1])), rng.standard_normal(out)
    dout = rng.standard_normal(shape[:-1] + (out,))
    y0, c0 = linear(x, w, b)
    readable = (y0, *linear_backward(dout, c0))
    y1, c1 = tuned.linear(x, w, b)
    one_product = (y1, *tuned.linear_backward(dout, c1))
    split = Tuning(linear_split_work=0)
    use_threads(threads)
    y, cache = tuned.linear(x, w, b, tuning=split)
    got = (y, *tuned.linear_backward(dout, cache, tuning=split))
    for expected in (readable, one_product):
        for name, a, c in zip(("y", "dx", "dw", "db"), expected, got):
            assert c.shape == a.shape, name
            np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,out", [((3, 50), 9), ((2, 4, 30), 12), ((8, 30), 9), ((9, 30), 9), ((64, 20), 100)])
def test_transposed_product_equals_plain(use_threads, bias, threads, shape, out):
    """With fewer rows than features (up to linear_transposed_rows), the tuned y is computed as (w @ x.T).T:
    float32 y equal to x @ w.T + b to rounding (the tuned pair with linear_transposed_rows=0, and the readable
    one) and torch's, with and without bias, split over threads or not. The shapes include rows == features
    (the plain product) and rows < features."""
    rng = np.random.default_rng(out + len(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((out, shape[-1])).astype(np.float32)
    b = rng.standard_normal(out).astype(np.float32) if bias else None
    split = 0 if threads > 1 else Tuning().linear_split_work
    use_threads(threads)
    y, _ = tuned.linear(x, w, b, tuning=Tuning(linear_split_work=split))
    plain, _ = tuned.linear(x, w, b, tuning=Tuning(linear_split_work=split, linear_transposed_rows=0))
    assert y.flags.c_contiguous and y.dtype == np.float32 and y.shape == shape[:-1] + (out,)
    np.testing.assert_allclose(y, plain, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, linear(x, w, b)[0], rtol=1e-5, atol=1e-5)
    ref = torch.nn.functional.linear(t(x), t(w), t(b) if bias else None).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("asked", [(True, False, True), (True, False, False), (False, True, False),
                                   (False, False, True), (False, False, False)])
@pytest.mark.parametrize("seed", range(0, 24, 3))
def test_only_the_gradients_asked_for(seed, asked):
    """input_grad, weight_grad, bias_grad False (data input, frozen weight or bias): None there, the same
    values elsewhere."""
    shape, in_, out, bias = random_case(seed)
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape), rng.standard_normal((out, in_))
    b = rng.standard_normal(out) if bias else None
    y, cache = linear(x, w, b)
    dout = rng.standard_normal(y.shape)
    full = linear_backward(dout, cache)
    for name, want, a, c in zip(("dx", "dw", "db"), asked, full, linear_backward(dout, cache, *asked)):
        if not want or a is None:
            assert c is None, f"{name} was not asked for (or there is no bias) but came back"
        else:
            np.testing.assert_array_equal(c, a, err_msg=name)


# Every path of the tuned pair: one product or split over the threads, x @ w.T or (w @ x.T).T.
TUNED = {"default": Tuning(), "split": Tuning(linear_split_work=0), "plain": Tuning(linear_transposed_rows=0),
         "transposed": Tuning(linear_transposed_rows=1 << 30),
         "split transposed": Tuning(linear_split_work=0, linear_transposed_rows=1 << 30)}


def both(x, w, b, dout, tuning, asked=(True, True, True)):
    """(readable, tuned) results (y, dx, dw, db) of the same inputs."""
    y, cache = linear(x, w, b)
    ty, tcache = tuned.linear(x, w, b, tuning=tuning)
    return (y, *linear_backward(dout, cache, *asked)), (ty, *tuned.linear_backward(dout, tcache, *asked, tuning=tuning))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", TUNED)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("seed", range(12))
def test_tuned_equals_readable(use_threads, threads, tuning, dtype, tol, seed):
    """The tuned y, dx, dw, db equal the readable ones: same shapes and dtypes, float64 to 1e-12 and float32 to
    1e-5 of the largest value (the same sums in another order), None where the readable gives None; cases with
    more rows than features, as many, and fewer."""
    shape, in_, out, bias = random_case(seed)
    if seed % 3 == 0:  # rows > out features: the plain product unless forced
        shape = (70,) + shape[-1:]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((out, in_)).astype(dtype)
    b = rng.standard_normal(out).astype(dtype) if bias else None
    dout = rng.standard_normal(shape[:-1] + (out,)).astype(dtype)
    use_threads(threads)
    readable, fast = both(x, w, b, dout, TUNED[tuning])
    for name, a, c in zip(("y", "dx", "dw", "db"), readable, fast):
        if a is None:
            assert c is None, f"{name}: the readable pair gives None"
            continue
        assert c.shape == a.shape and c.dtype == a.dtype == dtype, \
            f"{name}: {c.shape} {c.dtype} vs {a.shape} {a.dtype}"
        assert_close(f"{name} x{shape} w{(out, in_)} bias={bias} {tuning}", c, a, tol)


@pytest.mark.parametrize("tuning", TUNED)
@pytest.mark.parametrize("asked", [(True, False, True), (False, True, False), (False, False, True),
                                   (False, False, False)])
def test_tuned_computes_only_the_gradients_asked_for(use_threads, tuning, asked):
    """input_grad, weight_grad, bias_grad False: None in the tuned pair exactly where the readable pair gives None,
    the readable values elsewhere."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((6, 5)), rng.standard_normal((8, 5)), rng.standard_normal(8)
    dout = rng.standard_normal((6, 8))
    use_threads(2)
    readable, fast = both(x, w, b, dout, TUNED[tuning], asked)
    for name, a, c in zip(("y", "dx", "dw", "db"), readable, fast):
        assert (a is None) == (c is None), f"{name}: readable {a is None and 'None'}, tuned {c is None and 'None'}"
        if a is not None:
            np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("tuning", TUNED)
@pytest.mark.parametrize("shape,w_shape", [((0, 3), (4, 3)), ((2, 0), (4, 0)), ((2, 3), (0, 3)), ((3,), (4, 3))])
def test_tuned_empty_and_unbatched_shapes(use_threads, tuning, shape, w_shape):
    """Empty rows, inputs or outputs and an x without leading dimensions: the readable pair's shapes and values."""
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    dout = rng.standard_normal(shape[:-1] + (w_shape[0],))
    use_threads(2)
    readable, fast = both(x, w, b, dout, TUNED[tuning])
    for name, a, c in zip(("y", "dx", "dw", "db"), readable, fast):
        assert c.shape == a.shape and c.dtype == a.dtype, f"{name}: {c.shape} {c.dtype} vs {a.shape} {a.dtype}"
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NaN made on purpose
@pytest.mark.parametrize("tuning", TUNED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tuned_nan_and_inf_as_readable_and_torch(use_threads, tuning, dtype):
    """NaN and +-inf in x, w and dout land where the readable pair and torch put them (inf * 0 and inf - inf are
    NaN), and the finite values agree."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((6, 5)).astype(dtype), rng.standard_normal((8, 5)).astype(dtype)
    b, dout = rng.standard_normal(8).astype(dtype), rng.standard_normal((6, 8)).astype(dtype)
    x[0, 1], x[2, 3], w[4, 0], dout[3, 2], dout[5, 6] = np.nan, np.inf, -np.inf, np.inf, np.nan
    x[1, 0] = 0.0  # inf * 0 in row 1 with w[4, 0] = -inf
    use_threads(2)
    readable, fast = both(x, w, b, dout, TUNED[tuning])
    _, ref = run(x, w, b, dout)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for name, a, c, r in zip(("y", "dx", "dw", "db"), readable, fast, ref):
        assert_close_nonfinite(f"{name} tuned vs readable", c, a, tol)
        assert_close_nonfinite(f"{name} readable vs torch", a, r, tol)
