"""functional.activation against torch: values and gradients, kinks, dtypes and large logits; and ReLU's tuned twin
(functional.tuned.activation) against the readable pair, on every path its Tuning forces."""
import functools

import numpy as np
import pytest
import torch

from cnnumpy.functional import activation as F
from cnnumpy.functional.tuned import compiled
from cnnumpy.functional.tuned import activation as tuned
from cnnumpy.functional.tuned.config import Tuning
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


# The ways of relu_backward: the readable one, and the tuned one through numba's loop (where numba is installed)
# or NumPy's passes. Each one's Tuning (None: the readable pair).
RELU_WAYS = {"readable": None, "compiled": Tuning(relu_compiled=True), "numpy": Tuning(relu_compiled=False)}


def relu_pair(tuning):
    """(relu, relu_backward): the readable pair for tuning None, else the tuned one run with that tuning."""
    if tuning is None:
        return F.relu, F.relu_backward
    return functools.partial(tuned.relu, tuning=tuning), functools.partial(tuned.relu_backward, tuning=tuning)


@pytest.fixture(params=list(RELU_WAYS))
def relu_way(request):
    """Every way of relu and relu_backward, as the pair of functions (see RELU_WAYS)."""
    return relu_pair(RELU_WAYS[request.param])


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


def run(name, x, dout, args, pair=None):
    """Ours and torch's (y, dx) for input x and upstream gradient dout; pair: relu's (forward, backward) to use
    instead of the readable one."""
    f, f_backward, ref, _ = FUNCS[name]
    if name == "relu" and pair is not None:
        f, f_backward = pair
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
    _, dx, _, dxt = run(name, x, dout, args, relu_way)
    np.testing.assert_array_equal(dx, dxt.numpy())
    np.testing.assert_array_equal(dx, [2.0 * slope, 3.0 * slope, 5.0 * slope, 7.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_ignores_infinite_dout_where_inactive(relu_way, dtype):
    """dx = 0 where x <= 0 even when dout is inf (a product would give NaN); torch does the same."""
    x, dout = np.array([-1.0, 0.0, 2.0], dtype), np.array([np.inf, -np.inf, 3.0], dtype)
    _, dx, _, dxt = run("relu", x, dout, (), relu_way)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(dx, dxt.numpy())


@pytest.mark.parametrize("seed", range(6))
def test_relu_backward_ways_agree_exactly(seed):
    """The readable relu_backward, numba's loop and NumPy's passes give the same bits, with NaN and zeros in x and
    inf and NaN in dout, float32 and float64, on arrays of any layout (dout transposed, so not contiguous)."""
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
    ways = {name: relu_pair(tuning)[1](dout, cache) for name, tuning in RELU_WAYS.items()}
    np.testing.assert_array_equal(ways["compiled"], ways["numpy"])
    np.testing.assert_array_equal(ways["readable"], ways["numpy"])
    assert ways["compiled"].dtype == ways["numpy"].dtype == ways["readable"].dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(dout))
    np.testing.assert_array_equal(ways["compiled"], xt.grad.numpy())


def test_relu_backward_compiles_only_what_numba_takes(monkeypatch):
    """float32 and float64 run numba's loop where numba is installed; float16 runs NumPy's passes."""
    calls = []
    loops = tuned._loops
    monkeypatch.setattr(tuned, "_loops", lambda: calls.append(1) or loops())  # a spy: counts, changes nothing
    for dtype in (np.float32, np.float64, np.float16):
        x = np.array([-1.0, 2.0, np.nan], dtype)
        dx = tuned.relu_backward(np.array([np.inf, 3.0, 4.0], dtype), tuned.relu(x)[1])
        np.testing.assert_array_equal(dx, np.array([0.0, 3.0, 4.0], dtype))
        assert dx.dtype == dtype
    assert len(calls) == (2 if compiled.has_numba() else 0)
    tuned.relu_backward(np.ones(3), np.ones(3), tuning=Tuning(relu_compiled=False))
    assert len(calls) == (2 if compiled.has_numba() else 0), "relu_compiled=False still ran numba's loop"


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


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(0,), (1,), (5,), (4, 3, 7, 5)])
def test_relu_split_over_threads(use_threads, threads, shape, compiled):
    """The tuned relu split over threads (forced by relu_split_bytes=0) equals torch, NaN in x and inf in dout
    included, through numba's loop and NumPy's passes."""
    rng = np.random.default_rng(threads)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    if x.size > 3:
        x.flat[0], x.flat[1], dout.flat[2], dout.flat[3] = np.nan, 0.0, np.inf, -np.inf
    tuning = Tuning(relu_split_bytes=0, relu_compiled=compiled)
    use_threads(threads)
    y, cache = tuned.relu(x, tuning=tuning)
    dx = tuned.relu_backward(dout, cache, tuning=tuning)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.relu(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())


# Every path of the tuned relu: one pass or split over the threads, numba's loop or NumPy's passes.
TUNED_RELU = [Tuning(), Tuning(relu_compiled=False), Tuning(relu_split_bytes=0),
              Tuning(relu_split_bytes=0, relu_compiled=False)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", TUNED_RELU, ids=lambda c: f"split{c.relu_split_bytes}-compiled{c.relu_compiled}")
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f4", ">f8"])
@pytest.mark.parametrize("seed", range(5))
def test_tuned_relu_equals_readable(use_threads, threads, tuning, dtype, seed):
    """The tuned relu and relu_backward give the readable pair's values exactly (a selection: exact in any dtype;
    NumPy's product may give dx = -0 where the readable gives 0, equal values), its dtypes (native byte order out,
    also for big-endian in), NaN and -0 in x, +-inf and NaN in dout included, contiguous or not, 0-d and empty
    arrays included."""
    rng = np.random.default_rng(seed)
    shape = [(), (0, 3), (7,), (3, 5, 4), (2, 3, 8, 8)][seed]
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = 0.0
    dout = rng.standard_normal(shape[::-1]).T  # not contiguous when 2-d or more
    if x.size > 4:
        x.flat[:3] = np.nan, -0.0, np.inf
        dout.flat[1:5] = np.inf, -np.inf, np.nan, np.inf
    x, dout = x.astype(dtype), dout.astype(dtype)
    use_threads(threads)
    y, cache = F.relu(x)
    dx = F.relu_backward(dout, cache)
    ty, tcache = tuned.relu(x, tuning=tuning)
    tdx = tuned.relu_backward(dout, tcache, tuning=tuning)
    for name, ours, ref in (("y", ty, y), ("dx", tdx, dx)):
        assert ours.shape == np.shape(ref) and ours.dtype == ref.dtype and ours.dtype.isnative, \
            f"{name}: {ours.shape} {ours.dtype}, readable {np.shape(ref)} {ref.dtype}"
        np.testing.assert_array_equal(ours, ref, err_msg=name)

