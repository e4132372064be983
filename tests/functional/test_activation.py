"""functional.activation against torch: values and gradients, kinks, dtypes and large logits."""
import numpy as np
import pytest
import torch

from cnnumpy.functional import activation as F
from cnnumpy.functional.tuned import compiled as jit
from tests.util import assert_close, max_err, t

# name -> (forward, backward, torch function, does it take a dim)
FUNCS = {
    "relu": (F.relu, F.relu_backward, lambda x: torch.relu(x), False),
    "leaky_relu": (F.leaky_relu, F.leaky_relu_backward, torch.nn.functional.leaky_relu, False),
    "sigmoid": (F.sigmoid, F.sigmoid_backward, lambda x: torch.sigmoid(x), False),
    "tanh": (F.tanh, F.tanh_backward, lambda x: torch.tanh(x), False),
    "softmax": (F.softmax, F.softmax_backward, torch.softmax, True),
    "log_softmax": (F.log_softmax, F.log_softmax_backward, torch.log_softmax, True),
}


@pytest.fixture(params=["compiled", "numpy"])
def relu_way(request, monkeypatch):
    """Both ways of relu_backward: numba's loop (where numba is installed) and NumPy's passes."""
    monkeypatch.setattr(F, "COMPILED", request.param == "compiled")
    return request.param


def random_case(name, seed):
    """(input shape, extra args): 1 to 4 dims of sizes 1..6, any valid dim (negative too), any leaky slope."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 5))))
    args = ()
    if name == "leaky_relu":
        args = (float(rng.choice([0.01, 0.2, -0.5, 1.5])),)
    if FUNCS[name][3]:
        args = (int(rng.integers(-len(shape), len(shape))),)
    return shape, args


def run(name, x, dout, args):
    """Ours and torch's (y, dx) for input x and upstream gradient dout."""
    f, f_backward, ref, _ = FUNCS[name]
    y, cache = f(x, *args)
    dx = f_backward(dout, cache)
    xt = t(x, grad=True)
    yt = ref(xt, *args)
    yt.backward(t(dout))
    return y, dx, yt, xt.grad


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_parity_with_torch_float64(name, seed):
    shape, args = random_case(name, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.choice([0.1, 1, 10])
    dout = rng.standard_normal(shape)
    y, dx, yt, dxt = run(name, x, dout, args)
    assert y.dtype == dx.dtype == np.float64
    assert_close(f"{name}{args} y {shape}", y, yt, 1e-14)
    assert_close(f"{name}{args} dx {shape}", dx, dxt, 1e-13)


def assert_scaled(name, ours, ref, scale, tol):
    """Worst absolute error at most tol * scale, for float32 checks where the reference's own size is the
    wrong yardstick: tanh' = 1 - y^2 of a saturated y is a difference of nearly equal float32 numbers."""
    diff, _ = max_err(ours, ref)
    assert diff <= tol * scale, f"{name}: worst abs error {diff:.3e} > {tol:.0e} * scale {scale:.3e}"


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_parity_with_torch_float32(name, seed):
    """float32 in, float32 out, within 2e-6 of torch's float32 and of float64 (the truth), on the natural
    scales: max(1, max|y|) for y, max|dout| for dx (every derivative here is at most 1 in size)."""
    shape, args = random_case(name, 100 + seed)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)
    y, dx, yt, dxt = run(name, x, dout, args)
    assert y.dtype == dx.dtype == np.float32
    _, _, y64, dx64 = run(name, x.astype(np.float64), dout.astype(np.float64), args)
    for label, y_ref, dx_ref in [("torch float32", yt, dxt), ("float64", y64, dx64)]:
        assert_scaled(f"{name}{args} y {shape} vs {label}", y, y_ref, max(1, np.abs(y64.detach().numpy()).max()), 2e-6)
        assert_scaled(f"{name}{args} dx {shape} vs {label}", dx, dx_ref, np.abs(dout).max(), 2e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_large_inputs_are_finite_and_match_torch(name, dtype):
    """Logits of +-1e4: no overflow (numpy would raise here), finite values and gradients equal to torch's."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 7)) * 1e4).astype(dtype)
    x[0] = [1e4, -1e4, 1e4, 0, -1e4, 3e4, -3e4]
    dout = rng.standard_normal((4, 7)).astype(dtype)
    args = (1,) if FUNCS[name][3] else ()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, dx, yt, dxt = run(name, x, dout, args)
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert_close(f"{name} y", y, yt, tol)
    assert_close(f"{name} dx", dx, dxt, tol)


def test_sigmoid_saturates_exactly():
    y, _ = F.sigmoid(np.array([-1e4, -800.0, 0.0, 800.0, 1e4]))
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize("name,slope", [("relu", 0.0), ("leaky_relu", 0.01), ("leaky_relu", 0.3), ("leaky_relu", -2.0)])
def test_gradient_at_zero_is_torchs(name, slope, relu_way):
    """At x == 0 exactly torch uses the left slope: 0 for relu, negative_slope for leaky_relu."""
    x = np.array([-1.0, -0.0, 0.0, 1.0])
    dout = np.array([2.0, 3.0, 5.0, 7.0])
    args = (slope,) if name == "leaky_relu" else ()
    _, dx, _, dxt = run(name, x, dout, args)
    np.testing.assert_array_equal(dx, dxt.numpy())
    np.testing.assert_array_equal(dx, [2.0 * slope, 3.0 * slope, 5.0 * slope, 7.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_ignores_infinite_dout_where_inactive(relu_way, dtype):
    """dx = 0 where x <= 0 even when dout is inf (a product would give NaN); torch does the same."""
    x, dout = np.array([-1.0, 0.0, 2.0], dtype), np.array([np.inf, -np.inf, 3.0], dtype)
    _, dx, _, dxt = run("relu", x, dout, ())
    np.testing.assert_array_equal(dx, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(dx, dxt.numpy())


@pytest.mark.parametrize("seed", range(6))
def test_relu_backward_ways_agree_exactly(seed):
    """numba's loop and NumPy's passes give the same bits, with NaN and zeros in x and inf and NaN in dout,
    float32 and float64, on arrays of any layout (dout transposed, so not contiguous)."""
    rng = np.random.default_rng(seed)
    dtype = (np.float32, np.float64)[seed % 2]
    shape = tuple(int(n) for n in rng.integers(1, 9, size=int(rng.integers(1, 5))))
    x = np.where(rng.random(shape) < 0.2, 0.0, rng.standard_normal(shape)).astype(dtype)
    dout = rng.standard_normal(shape[::-1]).astype(dtype).T
    specials = rng.random(shape)
    x[specials < 0.05] = np.nan
    dout[(specials > 0.9) & (specials < 0.95)] = np.inf
    dout[specials > 0.95] = np.nan
    _, cache = F.relu(x)
    ways = {}
    for compiled in (True, False):
        F.COMPILED = compiled
        try:
            ways[compiled] = F.relu_backward(dout, cache)
        finally:
            F.COMPILED = True
    np.testing.assert_array_equal(ways[True], ways[False])
    assert ways[True].dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(dout))
    np.testing.assert_array_equal(ways[True], xt.grad.numpy())


def test_relu_backward_compiles_only_what_numba_takes(monkeypatch):
    """float32 and float64 run numba's loop where numba is installed; float16 runs NumPy's passes."""
    calls = []
    loops = F._loops
    monkeypatch.setattr(F, "_loops", lambda: calls.append(1) or loops())
    for dtype in (np.float32, np.float64, np.float16):
        x = np.array([-1.0, 2.0, np.nan], dtype)
        dx = F.relu_backward(np.array([np.inf, 3.0, 4.0], dtype), F.relu(x)[1])
        np.testing.assert_array_equal(dx, np.array([0.0, 3.0, 4.0], dtype))
        assert dx.dtype == dtype
    assert len(calls) == (2 if jit.has_numba() else 0)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_nan_propagates_as_in_torch(name):
    x = np.array([[np.nan, 1.0, -2.0], [0.5, -0.5, 3.0]])
    args = (1,) if FUNCS[name][3] else ()
    y, _ = FUNCS[name][0](x, *args)
    yt = FUNCS[name][2](t(x), *args).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yt))
    assert_close(name, np.nan_to_num(y), np.nan_to_num(yt), 1e-15)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_sums_to_one_and_log_softmax_is_its_log(dim):
    x = np.random.default_rng(dim % 2).standard_normal((5, 6)) * 50
    y, _ = F.softmax(x, dim)
    ly, _ = F.log_softmax(x, dim)
    assert_close("sum of softmax", y.sum(axis=dim), np.ones(y.shape[1 - dim % 2]), 1e-15)
    assert_close("exp(log_softmax)", np.exp(ly), y, 1e-14)



@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(0,), (1,), (5,), (4, 3, 7, 5)])
def test_relu_split_over_threads(monkeypatch, use_threads, threads, shape, relu_way):
    """relu split over threads (forced by SPLIT_BYTES = 0) equals torch, NaN in x and inf in dout included."""
    from cnnumpy.functional import activation
    rng = np.random.default_rng(threads)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    if x.size > 3:
        x.flat[0], x.flat[1], dout.flat[2], dout.flat[3] = np.nan, 0.0, np.inf, -np.inf
    monkeypatch.setattr(activation, "SPLIT_BYTES", 0)
    use_threads(threads)
    y, cache = F.relu(x)
    dx = F.relu_backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.relu(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())
