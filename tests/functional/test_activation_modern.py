"""functional.activation's modern pairs (relu6 ... prelu) and its erf: against torch and math.erf, in float64 and
float32, at special values, and without NumPy warnings at extreme inputs."""
import math

import numpy as np
import pytest
import torch

from cnnumpy.functional import activation as F
from tests.util import assert_close_nonfinite, t

TF = torch.nn.functional
# name -> (forward with its arguments, backward, torch's function with the same arguments)
FUNCS = {
    "relu6": (F.relu6, F.relu6_backward, TF.relu6),
    "hardsigmoid": (F.hardsigmoid, F.hardsigmoid_backward, TF.hardsigmoid),
    "hardswish": (F.hardswish, F.hardswish_backward, TF.hardswish),
    "silu": (F.silu, F.silu_backward, TF.silu),
    "gelu": (F.gelu, F.gelu_backward, TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), F.gelu_backward, lambda x: TF.gelu(x, approximate="tanh")),
    "elu": (lambda x: F.elu(x, 0.7), F.elu_backward, lambda x: TF.elu(x, 0.7)),
    "selu": (F.selu, F.selu_backward, TF.selu),
    "softplus": (F.softplus, F.softplus_backward, TF.softplus),
    "softplus_beta": (lambda x: F.softplus(x, -1.5, 2.0), F.softplus_backward, lambda x: TF.softplus(x, -1.5, 2.0)),
    "mish": (F.mish, F.mish_backward, TF.mish),
}


def run(name, x, dout):
    f, f_backward, ref = FUNCS[name]
    y, cache = f(x)
    dx = f_backward(dout, cache)
    xt = t(x, grad=True)
    yt = ref(xt)
    yt.backward(t(dout))
    return y, dx, yt, xt.grad


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_parity_with_torch_float64(name, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 5))))
    x = rng.standard_normal(shape) * float(rng.choice([0.1, 1, 5, 30]))
    dout = rng.standard_normal(shape)
    y, dx, yt, dxt = run(name, x, dout)
    assert y.dtype == dx.dtype == np.float64 and y.shape == dx.shape == shape
    assert_close_nonfinite(f"{name} y {shape}", y, yt, 1e-14)
    assert_close_nonfinite(f"{name} dx {shape}", dx, dxt, 1e-13)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_float32_stays_float32_and_matches_float64(name, seed):
    """float32 in, float32 out, within 5e-6 of float64 (the truth) on the scales max(1, max|y|) and max|dout|."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((3, 50)) * 4).astype(np.float32)
    dout = rng.standard_normal((3, 50)).astype(np.float32)
    y, dx, _, _ = run(name, x, dout)
    assert y.dtype == dx.dtype == np.float32
    _, _, y64, dx64 = run(name, x.astype(np.float64), dout.astype(np.float64))
    assert_close_nonfinite(f"{name} y", y, y64, 5e-6, max(1.0, float(np.abs(y64.detach().numpy()).max())))
    assert_close_nonfinite(f"{name} dx", dx, dx64, 5e-6, float(np.abs(dout).max()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_extreme_inputs_raise_no_warning(name, dtype):
    """+-1000 and +-1e30 (whose cube overflows in float32, as GELU's tanh form computes it): no overflow, no
    invalid value, finite y and dx. (Near the dtype's largest number SELU's 1.05 x is out of range: inf, as torch.)"""
    x = np.array([-1e30, -1e15, -1000, -88, -20, 20, 88, 1000, 1e15, 1e30], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, cache = FUNCS[name][0](x)
        dx = FUNCS[name][1](np.ones_like(x), cache)
    assert np.isfinite(y).all() and np.isfinite(dx).all(), (y, dx)


def test_erf_matches_math_erf():
    """fdlibm's approximations: within 2 units in the last place of math.erf (the C library's) everywhere."""
    x = np.concatenate([np.linspace(-7, 7, 20001), np.geomspace(1e-300, 30, 2000), -np.geomspace(1e-300, 30, 2000),
                        [0.84375, 1.25, 1 / 0.35, 6.0, -6.0]])
    ref = np.array([math.erf(v) for v in x])
    diff = np.abs(F.erf(x) - ref)
    assert (diff <= 2 * np.spacing(np.abs(ref))).all(), f"worst {diff.max():.3e} at {x[np.argmax(diff)]}"
    np.testing.assert_array_equal(F.erf(np.array([np.inf, -np.inf, 0.0])), [1.0, -1.0, 0.0])
    assert np.isnan(F.erf(np.array([np.nan]))).all()
    assert F.erf(np.ones(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize("shape,channels", [((2, 3, 4, 5), 3), ((2, 3), 3), ((4, 1, 2), 1), ((5,), 1), ((), 1)])
def test_prelu_matches_torch(shape, channels):
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    w = rng.standard_normal(channels)
    y, cache = F.prelu(x, w)
    dx, dw = F.prelu_backward(dout, cache)
    xt, wt = t(x, grad=True), t(w, grad=True)
    TF.prelu(xt, wt).backward(t(dout))
    assert dw.shape == w.shape
    for name, a, b in (("y", y, TF.prelu(t(x), t(w))), ("dx", dx, xt.grad), ("dw", dw, wt.grad)):
        assert_close_nonfinite(f"prelu {name} {shape}", a, b, 1e-14)


def test_slopes_at_the_kinks():
    """The slope each function takes at its kinks, as torch: the left one for relu6 at 0 and elu at 0, 0 for
    the hard ones at -3 and 3 except hardswish at 3 (1), the sigmoid at softplus' threshold."""
    ones = np.ones(1)

    def slope(f, f_backward, x, *args):
        return f_backward(ones, f(np.array([x]), *args)[1])[0]

    assert slope(F.relu6, F.relu6_backward, 0.0) == 0 and slope(F.relu6, F.relu6_backward, 6.0) == 0
    assert slope(F.hardsigmoid, F.hardsigmoid_backward, -3.0) == 0 == slope(F.hardsigmoid, F.hardsigmoid_backward, 3)
    assert slope(F.hardswish, F.hardswish_backward, -3.0) == 0 and slope(F.hardswish, F.hardswish_backward, 3.0) == 1
    assert slope(F.elu, F.elu_backward, 0.0, 0.3) == pytest.approx(0.3, rel=1e-15)
    assert slope(F.softplus, F.softplus_backward, 20.0) == pytest.approx(1 / (1 + math.exp(-20)), rel=1e-15)
    assert slope(F.softplus, F.softplus_backward, 20.0 + 1e-12) == 1
