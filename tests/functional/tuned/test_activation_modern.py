"""The modern activations' tuned twins (functional.tuned.activation_modern) against the readable pairs of
functional.activation, in float64, on every path their Tuning forces: one chunk or many, the calling thread or
several, the fast sums of products or the exact selections (a chunk with inf or NaN), numba's erf or NumPy's."""
import functools

import numpy as np
import pytest

from cnnumpy.functional import activation as F
from cnnumpy.functional.tuned import activation_modern as tuned
from cnnumpy.functional.tuned import compiled
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close_nonfinite

# name -> extra arguments of the forward (the cases each function is run with)
CASES = [("relu6", ()), ("hardsigmoid", ()), ("hardswish", ()), ("silu", ()), ("gelu", ("none",)),
         ("gelu", ("tanh",)), ("elu", ()), ("elu", (0.3,)), ("elu", (-1.5, 2.0)), ("selu", ()), ("softplus", ()),
         ("softplus", (2.0, 1.5)), ("softplus", (-0.5, 3.0)), ("mish", ())]

# Every path: the defaults; tiny chunks split over the threads; NumPy's erf; tiny chunks without threads
TUNINGS = {"default": Tuning(), "threads": Tuning(act_split_bytes=0, act_chunk_bytes=96),
           "numpy-erf": Tuning(act_compiled=False, act_split_bytes=0, act_chunk_bytes=200),
           "one-thread-chunks": Tuning(act_chunk_bytes=64)}

# where each function has a kink, a threshold or a saturation: the values on both sides and on it
KINKS = [0.0, -0.0, 3.0, -3.0, 6.0, 1.5, 0.75, -0.75, 0.84375 * 2 ** 0.5, 1.25 * 2 ** 0.5, 6 * 2 ** 0.5,
         2 ** 0.5 / 0.35, 20.0, 40.0, 1e-300, -1e-300, 1e300, -1e300, 800.0, -800.0]


def data(seed, shape, special):
    """x and dout of shape: normal values at several scales, the kinks, and (special) NaN and +-inf in both."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.choice([0.5, 3, 30], size=shape)
    dout = rng.standard_normal(shape)
    flat = x.reshape(-1)
    for i, k in enumerate(KINKS):
        if 3 * i < flat.size:
            flat[3 * i] = k
    if special and x.size > 8:
        x.flat[1], x.flat[4], x.flat[7] = np.nan, np.inf, -np.inf
        dout.flat[2], dout.flat[5], dout.flat[8] = np.inf, -np.inf, np.nan
    return x, dout


def both(name, args, x, dout, tuning):
    """(readable y, dx), (tuned y, dx)."""
    with np.errstate(all="ignore"):
        y, cache = getattr(F, name)(x, *args)
        dx = getattr(F, name + "_backward")(dout, cache)
        ty, tcache = getattr(tuned, name)(x, *args, tuning=tuning)
        tdx = getattr(tuned, name + "_backward")(dout, tcache, tuning=tuning)
    return (y, dx), (ty, tdx)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}{a}" for n, a in CASES])
def test_tuned_equals_readable(use_threads, threads, tuning, special, name, args):
    """Values to rounding (the same operations in the same order, but sigmoid as 1 / (1 + exp(-z)) and erf's
    ranges selected without branches), NaN and inf at the same places, dtype kept."""
    use_threads(threads)
    for seed, shape in enumerate([(7,), (3, 5, 11), (2, 3, 9, 13), (1, 1, 40, 41)]):
        x, dout = data(seed, shape, special)
        (y, dx), (ty, tdx) = both(name, args, x, dout, TUNINGS[tuning])
        assert ty.dtype == tdx.dtype == np.float64 and ty.shape == tdx.shape == shape
        assert_close_nonfinite(f"{name}{args} y {shape}", ty, y, 1e-14)
        assert_close_nonfinite(f"{name}{args} dx {shape}", tdx, dx, 1e-13)


@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}{a}" for n, a in CASES])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, ">f8"])
def test_dtype_kept_and_close_in_lower_precision(name, args, dtype):
    """float32 and float16 stay in their dtype and match the readable pair to their precision; big-endian
    input gives native output of its kind, as NumPy's ufuncs."""
    x, dout = data(3, (4, 5, 6), special=False)
    with np.errstate(over="ignore"):  # 1e300 is inf in float32 and float16
        x, dout = x.astype(dtype), dout.astype(dtype)
    (y, dx), (ty, tdx) = both(name, args, x, dout, TUNINGS["threads"])
    kind = np.dtype(dtype).newbyteorder("=")
    assert ty.dtype == tdx.dtype == kind
    tol = {2: 2e-3, 4: 1e-6, 8: 1e-14}[kind.itemsize]
    assert_close_nonfinite(f"{name} y", ty, y, tol)
    assert_close_nonfinite(f"{name} dx", tdx, dx, tol)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("shape,slopes", [((2, 3, 5, 7), 3), ((4, 6), 6), ((3, 4, 9), 1), ((11,), 1), ((0, 3), 3),
                                         ((4, 2, 512), 1)])
def test_tuned_prelu_equals_readable(use_threads, threads, tuning, special, shape, slopes):
    use_threads(threads)
    x, dout = data(slopes, shape, special)
    w = np.random.default_rng(1).standard_normal(slopes)
    with np.errstate(all="ignore"):
        y, cache = F.prelu(x, w)
        dx, dw = F.prelu_backward(dout, cache)
        ty, tcache = tuned.prelu(x, w, tuning=TUNINGS[tuning])
        tdx, tdw = tuned.prelu_backward(dout, tcache, tuning=TUNINGS[tuning])
    assert ty.dtype == tdx.dtype == tdw.dtype == np.float64 and tdw.shape == w.shape
    assert_close_nonfinite("prelu y", ty, y, 1e-15)
    assert_close_nonfinite("prelu dx", tdx, dx, 1e-15)
    assert_close_nonfinite("prelu dw", tdw, dw, 1e-13)


def test_erf_loop_runs_only_when_asked(monkeypatch):
    """GELU's erf goes through numba's loop with act_compiled (where numba is installed), NumPy's passes without;
    both give the readable erf's values to rounding, on every range of |x| and its boundaries."""
    calls = []
    loops = tuned._erf_loops
    monkeypatch.setattr(tuned, "_erf_loops", lambda: calls.append(1) or loops())  # a spy: counts, changes nothing
    u = np.concatenate([np.linspace(-7, 7, 2001), [0.84375, 1.25, 1 / 0.35, 6.0, -6.0, 0.0, np.nan]])
    x = u * 2 ** 0.5
    ref = F.gelu(x)[1][2]
    for on in (True, False):
        calls.clear()
        cdf = tuned.gelu(x, tuning=Tuning(act_compiled=on))[1][2]
        assert_close_nonfinite(f"Phi, compiled={on}", cdf, ref, 1e-15)
        assert bool(calls) == (on and compiled.has_numba())
