"""loops/erf.py's float32 erf32 and exp32 (GELU's and SiLU's float32 loops) against float64 references, in units
in the last place of the float32 result, and the float32 loops of GELU and SiLU against the readable pairs."""
import math

import numpy as np
import pytest

from cnnumpy.functional import activation as F
from cnnumpy.functional.tuned import activation_modern as tuned
from cnnumpy.functional.tuned import compiled
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close_nonfinite

pytestmark = pytest.mark.skipif(not compiled.has_numba(), reason="numba not installed")


@pytest.fixture(scope="module")
def kernels():
    """erf32 and exp32 each in a loop over an array (compiled once for this module)."""
    import numba

    from cnnumpy.functional.tuned.loops.erf import erf32, exp32

    @numba.njit
    def erf_loop(u, out):
        for i in range(u.size):
            out[i] = erf32(u[i])

    @numba.njit
    def exp_loop(u, out):
        for i in range(u.size):
            out[i] = exp32(u[i])
    return erf_loop, exp_loop


def ulps(ours, exact):
    """|ours - exact| in units in the last place of exact rounded to float32."""
    unit = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
    return np.abs(ours.astype(np.float64) - exact) / unit


def test_erf32_within_2_ulp(kernels):
    rng = np.random.default_rng(0)
    u = np.concatenate([np.linspace(-4.5, 4.5, 200_001, dtype=np.float32),
                        rng.uniform(-5, 5, 100_000).astype(np.float32),
                        np.float32([0, 1e-30, -1e-20, 0.5, 0.921875, 3.9, 4, 7])])
    out = np.empty_like(u)
    kernels[0](u, out)
    exact = np.array([math.erf(v) for v in u.astype(np.float64)])
    err = ulps(out, exact)
    assert err.max() <= 2, f"erf32: {err.max():.2f} ulp at u = {u[err.argmax()]}"
    assert err.mean() < 0.3, f"erf32: mean {err.mean():.3f} ulp"


def test_erf32_nonfinite(kernels):
    u = np.float32([np.nan, np.inf, -np.inf, 1e30, -1e30])
    out = np.empty_like(u)
    kernels[0](u, out)
    assert np.isnan(out[0]) and out[1:].tolist() == [1, -1, 1, -1]


def test_exp32_within_1_ulp(kernels):
    rng = np.random.default_rng(1)
    v = np.concatenate([np.linspace(-87, 88.7, 200_001, dtype=np.float32),
                        rng.uniform(-20, 20, 100_000).astype(np.float32)])
    out = np.empty_like(v)
    kernels[1](v, out)
    err = ulps(out, np.exp(v.astype(np.float64)))
    assert err.max() <= 1.01, f"exp32: {err.max():.3f} ulp at v = {v[err.argmax()]}"


def test_exp32_limits(kernels):
    """Subnormal results to within one subnormal, 0 below, inf above float32's range, NaN kept."""
    v = np.float32([-95, -100, -103.9, -104, -200, -np.inf, 88.72, 89, 1000, np.inf, np.nan])
    out = np.empty_like(v)
    kernels[1](v, out)
    with np.errstate(over="ignore"):
        ref = np.exp(v.astype(np.float64)).astype(np.float32)
    sub = slice(0, 3)
    assert np.abs(out[sub].astype(np.float64) - ref[sub]).max() <= 1.5e-45
    assert out[3:6].tolist() == [0, 0, 0] and np.isinf(out[7:10]).all() and np.isnan(out[10])
    assert np.isfinite(out[6])


@pytest.mark.parametrize("name", ["gelu", "silu"])
@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("tuning", [Tuning(), Tuning(act_split_bytes=0, act_chunk_bytes=96)],
                         ids=["default", "threads"])
def test_float32_loops_equal_readable(use_threads, name, special, tuning):
    """The float32 loops' y and dx against the readable pair on float32 data (float32's rounding relative to the
    largest value: erf32, exp32 and NumPy's float32 exp each round differently), NaN and inf at the same places,
    with a cache of x alone."""
    use_threads(2)
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(5000) * rng.choice([0.5, 3, 30], size=5000)).astype(np.float32)
    x[:12] = [0, -0.0, 1e-30, -3, 3, 9, -9, 20, -20, 88, -88, -100]
    dout = rng.standard_normal(5000).astype(np.float32)
    if special:
        x[20:23] = [np.nan, np.inf, -np.inf]
        dout[30:33] = [np.inf, -np.inf, np.nan]
    with np.errstate(all="ignore"):
        y, cache = getattr(F, name)(x)
        dx = getattr(F, name + "_backward")(dout, cache)
        ty, tcache = getattr(tuned, name)(x, tuning=tuning)
        tdx = getattr(tuned, name + "_backward")(dout, tcache, tuning=tuning)
    assert tcache[-1] is None and ty.dtype == tdx.dtype == np.float32
    assert_close_nonfinite(f"{name} y", ty, y, 2e-7)
    assert_close_nonfinite(f"{name} dx", tdx, dx, 2e-7)


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_float32_cache_with_float64_dout(name):
    """A float64 dout on the float32 loop's cache: the backward recomputes what the cache lacks and promotes as
    the readable backward does."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(300).astype(np.float32)
    dout = rng.standard_normal(300)
    y, cache = getattr(F, name)(x)
    dx = getattr(F, name + "_backward")(dout, cache)
    tdx = getattr(tuned, name + "_backward")(dout, getattr(tuned, name)(x)[1])
    assert tdx.dtype == dx.dtype == np.float64
    assert_close_nonfinite(f"{name} dx", tdx, dx, 1e-6)
