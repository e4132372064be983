"""GroupNorm's, InstanceNorm's and LayerNorm's tuned twins (functional.tuned.norm_family) against the readable
functions of functional.norm in float64, on every path: numba's row loops or NumPy's passes, one chunk or one
sample (row) per chunk, one thread or two, with and without gamma and beta, each gradient asked for or not,
running statistics."""
import numpy as np
import pytest

from cnnumpy.functional import norm as F
from cnnumpy.functional.tuned import norm_family as tuned
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close

TUNINGS = {"default": Tuning(), "chunks": Tuning(norm_chunk_bytes=1), "numpy": Tuning(norm_compiled=False),
           "numpy-chunks": Tuning(norm_compiled=False, norm_chunk_bytes=1)}
FLAGS = [(True, True, True), (True, False, False), (False, True, False), (False, False, True), (False, False, False)]


def check_grads(name, ours, ref, flags, tol=1e-13):
    for label, g, g0, asked in zip(("dx", "dweight", "dbias"), ours, ref, flags):
        if g0 is None:
            assert g is None, (name, label, flags)
            continue
        assert g is not None and g.dtype == g0.dtype and g.shape == g0.shape, (name, label)
        # relative to at least 1: a group of one entry has dx = 0, computed as rounding noise by both
        assert_close(f"{name} {label} {flags}", g, g0, tol, scale=max(np.abs(g0).max(initial=0), 1.0))


def params(rng, shape, affine):
    if not affine:
        return None, None
    return rng.standard_normal(shape), (rng.standard_normal(shape) if rng.random() < 0.8 else None)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,groups", [((3, 6, 5, 7), 3), ((2, 4, 9), 4), ((4, 8, 3, 3), 1), ((1, 6, 2, 2, 3), 2),
                                          ((5, 3), 3)])
def test_group_norm(use_threads, threads, tuning, affine, shape, groups):
    use_threads(threads)
    rng = np.random.default_rng(len(shape) + groups)
    x = rng.standard_normal(shape) * 3 + 2
    w, b = params(rng, shape[1], affine)
    y, cache = F.group_norm(x, groups, w, b, 1e-3)
    ty, tcache = tuned.group_norm(x, groups, w, b, 1e-3, tuning=TUNINGS[tuning])
    assert ty.dtype == np.float64
    assert_close("group_norm y", ty, y, 1e-14)
    dout = rng.standard_normal(shape)
    for flags in FLAGS:
        check_grads("group_norm", tuned.group_norm_backward(dout, tcache, *flags, tuning=TUNINGS[tuning]),
                    F.group_norm_backward(dout, cache, *flags), flags)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("stats", ["input", "running"])
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 5, 7), (1, 3, 1, 4)])
def test_instance_norm(use_threads, threads, tuning, affine, stats, shape):
    use_threads(threads)
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 2 - 1
    w, b = params(rng, shape[1], affine)
    if stats == "input":
        mean, var = F.instance_moments(x)
        tmean, tvar = tuned.instance_moments(x, tuning=TUNINGS[tuning])
        assert_close("mean", tmean, mean, 1e-15)
        assert_close("var", tvar, var, 1e-14)
    else:
        mean, var = rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5
        tmean, tvar = mean, var
    use = stats == "input"
    y, cache = F.instance_norm(x, mean, var, w, b, 1e-5, use_input_stats=use)
    ty, tcache = tuned.instance_norm(x, tmean, tvar, w, b, 1e-5, use_input_stats=use, tuning=TUNINGS[tuning])
    assert_close("instance_norm y", ty, y, 1e-14)
    dout = rng.standard_normal(shape)
    for flags in FLAGS:
        check_grads("instance_norm", tuned.instance_norm_backward(dout, tcache, *flags, tuning=TUNINGS[tuning]),
                    F.instance_norm_backward(dout, cache, *flags), flags)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,ndim", [((3, 4, 5, 6), 3), ((2, 5, 7), 1), ((4, 6), 2), ((2, 3, 4, 5), 2)])
def test_layer_norm(use_threads, threads, tuning, affine, shape, ndim):
    use_threads(threads)
    rng = np.random.default_rng(ndim + len(shape))
    x = rng.standard_normal(shape) * 3 + 5
    w, b = params(rng, shape[len(shape) - ndim:], affine)
    y, cache = F.layer_norm(x, ndim, w, b, 1e-4)
    ty, tcache = tuned.layer_norm(x, ndim, w, b, 1e-4, tuning=TUNINGS[tuning])
    assert ty.dtype == np.float64 and ty.shape == shape
    assert_close("layer_norm y", ty, y, 1e-14)
    dout = rng.standard_normal(shape)
    for flags in FLAGS:
        check_grads("layer_norm", tuned.layer_norm_backward(dout, tcache, *flags, tuning=TUNINGS[tuning]),
                    F.layer_norm_backward(dout, cache, *flags), flags)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    w, b = np.ones(4, np.float32), np.zeros(4, np.float32)
    for y, cache, back in ((*tuned.group_norm(x, 2, w, b), tuned.group_norm_backward),
                           (*tuned.layer_norm(x, 2), tuned.layer_norm_backward)):
        assert y.dtype == np.float32
        assert all(g is None or g.dtype == np.float32 for g in back(np.ones_like(x), cache))
    y, _ = tuned.instance_norm(x, *tuned.instance_moments(x), w, b)
    assert y.dtype == np.float32
    assert_close("float32 group_norm", tuned.group_norm(x, 2, w, b)[0], F.group_norm(x, 2, w, b)[0], 1e-6)


@pytest.mark.parametrize("tuning", ["default", "numpy"])
def test_float32_values(tuning):
    """float32 forward and backward against the readable functions in float32 (their precision, relative to the
    largest value), gamma and beta included: the loops' float32 means and sums, and the backward's xhat computed
    again from the cached x, mean and r."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 6, 5, 7)) * 3 + 2).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    w, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    lw, lb = (rng.standard_normal((5, 7)).astype(np.float32) for _ in range(2))
    t = TUNINGS[tuning]
    for name, args in (("group_norm", (3, w, b)), ("layer_norm", (2, lw, lb))):
        y, cache = getattr(F, name)(x, *args)
        ty, tcache = getattr(tuned, name)(x, *args, tuning=t)
        assert ty.dtype == np.float32
        assert_close(f"float32 {name} y", ty, y, 2e-6)
        grads = getattr(tuned, name + "_backward")(dout, tcache, tuning=t)
        for label, g, g0 in zip(("dx", "dweight", "dbias"), grads, getattr(F, name + "_backward")(dout, cache)):
            assert g.dtype == np.float32
            assert_close(f"float32 {name} {label}", g, g0, 2e-6)


def test_loops_run_only_when_asked(monkeypatch):
    """norm_compiled runs numba's row loops where numba is installed; norm_compiled=False never imports them."""
    from cnnumpy.functional.tuned import compiled
    calls = []
    loops = tuned._loops
    monkeypatch.setattr(tuned, "_loops", lambda: calls.append(1) or loops())  # a spy: counts, changes nothing
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3))
    for on in (True, False):
        calls.clear()
        t = Tuning(norm_compiled=on)
        tuned.group_norm_backward(x, tuned.group_norm(x, 2, tuning=t)[1], tuning=t)
        tuned.layer_norm_backward(x, tuned.layer_norm(x, 2, tuning=t)[1], tuning=t)
        tuned.instance_moments(x, tuning=t)
        assert len(calls) == (5 if on and compiled.has_numba() else 0)
