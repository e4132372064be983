"""functional.linear against torch.nn.functional.linear for any number of leading dimensions."""
import numpy as np
import pytest
import torch

from cnnumpy.functional.linear import linear, linear_backward
from tests.util import assert_close, t


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
def test_split_over_threads(monkeypatch, use_threads, threads, shape, out):
    """Split over threads (forced by SPLIT_WORK = 0; forward by output features, backward by input features), y, dx, dw, db
    equal the one-product result in float64,
    features fewer than threads included."""
    from cnnumpy.functional import linear as module
    rng = np.random.default_rng(len(shape) * threads + out)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((out, shape[-1])), rng.standard_normal(out)
    dout = rng.standard_normal(shape[:-1] + (out,))
    y0, c0 = linear(x, w, b)
    expected = (y0, *linear_backward(dout, c0))
    monkeypatch.setattr(module, "SPLIT_WORK", 0)
    use_threads(threads)
    y, cache = linear(x, w, b)
    got = (y, *linear_backward(dout, cache))
    for name, a, c in zip(("y", "dx", "dw", "db"), expected, got):
        assert c.shape == a.shape, name
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,out", [((3, 50), 9), ((2, 4, 30), 12), ((8, 30), 9), ((9, 30), 9), ((64, 20), 100)])
def test_transposed_product_equals_plain(monkeypatch, use_threads, bias, threads, shape, out):
    """With fewer rows than features (up to TRANSPOSED_ROWS), y is computed as (w @ x.T).T: float32 y equal to
    x @ w.T + b to rounding and torch's, with and without bias, split over threads or not. The shapes include
    rows == features (the plain product) and rows < features."""
    from cnnumpy.functional import linear as module
    rng = np.random.default_rng(out + len(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((out, shape[-1])).astype(np.float32)
    b = rng.standard_normal(out).astype(np.float32) if bias else None
    if threads > 1:
        monkeypatch.setattr(module, "SPLIT_WORK", 0)
    use_threads(threads)
    y, _ = linear(x, w, b)
    monkeypatch.setattr(module, "TRANSPOSED_ROWS", 0)
    plain, _ = linear(x, w, b)
    assert y.flags.c_contiguous and y.dtype == np.float32 and y.shape == shape[:-1] + (out,)
    np.testing.assert_allclose(y, plain, rtol=1e-5, atol=1e-5)
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
