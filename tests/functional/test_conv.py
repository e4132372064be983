"""The conv methods against each other and against the worked example of the reference derivation."""
import functools
import itertools
import sys
import types

import numpy as np
import pytest

from cnnumpy.functional import conv as conv_naive
from cnnumpy.functional.methods import CONV
from cnnumpy.functional.tuned import conv_im2col, conv_numba, conv_winograd, engine, threads
from cnnumpy.functional.tuned.config import Tuning

METHODS = {name: m.module for name, m in CONV.items()}

# Every path of the tuned methods, forced through their tuning: (module, tuning, threads).
# im2col: rows (height stride 1) and full windows, one-sample chunks whose columns backward unfolds again, two
# threads, and dW in its other orientation (engine.add_weight_grad, numba's too); numba: columns kept,
# one-sample chunks unfolded again, and two threads; winograd: one thread, and one-sample chunks on two.
# A registered method without an entry here runs its default path (test_every_method_has_a_path).
PATHS = {
    "im2col rows": (conv_im2col, Tuning(), 1),
    "im2col full windows": (conv_im2col, Tuning(rows=False), 1),
    "im2col rows, chunks, unfold again": (conv_im2col, Tuning(chunk_bytes=1, cache_bytes=0), 1),
    "im2col full windows, chunks, unfold again": (conv_im2col, Tuning(chunk_bytes=1, cache_bytes=0, rows=False), 1),
    "im2col 2 threads": (conv_im2col, Tuning(chunk_bytes=1), 2),
    "im2col uneven chunks, 2 threads": (conv_im2col, Tuning(chunk_bytes=2 * 8 * 125 * 8), 2),
    "im2col dW as cols @ D.T": (conv_im2col, Tuning(dw_rows=0, dw_filters=0), 1),
    "numba": (conv_numba, Tuning(), 1),
    "numba chunks, unfold again, 2 threads": (conv_numba, Tuning(chunk_bytes=1, cache_bytes=0), 2),
    "numba 2 threads": (conv_numba, Tuning(chunk_bytes=1), 2),
    "winograd": (conv_winograd, Tuning(), 1),
    "winograd one-sample chunks, 2 threads": (conv_winograd, Tuning(winograd_chunk_bytes=1), 2),
}
PATHS.update({name: (m.module, Tuning(), 1) for name, m in CONV.items()
              if name != "naive" and all(p[0] is not m.module for p in PATHS.values())})


def test_every_method_has_a_path():
    """The registry's tuned methods are all exercised by PATHS, and PATHS names no unregistered module."""
    registered = {m.module for name, m in CONV.items() if name != "naive"}
    assert {p[0] for p in PATHS.values()} == registered


def bound(module, tuning):
    """module's conv2d and conv2d_backward with `tuning` passed (naive takes none)."""
    return types.SimpleNamespace(conv2d=functools.partial(module.conv2d, tuning=tuning),
                                 conv2d_backward=functools.partial(module.conv2d_backward, tuning=tuning),
                                 __name__=module.__name__)


@pytest.fixture
def path(request, use_threads):
    """One PATHS entry for the test, its thread count set (use_threads restores the count after)."""
    module, tuning, n = PATHS[request.param]
    use_threads(n)
    return bound(module, tuning)


def random_case(seed):
    """A random conv configuration: shapes, stride, asymmetric padding, dilation, groups, bias; batches of
    1 to 3, and of 7 for every fifth seed (chunks of uneven sizes). Seeds from 100 on are the common layer
    (3x3, stride 1, no dilation, one group; paddings 0..3, above 2 on purpose), which every method computes; from
    200 on, 1x1 layers of stride 1 without padding (pointwise, whose columns are x itself)."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2, 3]))
    cg, fg = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kh, kw = (int(k) for k in rng.integers(1, 6, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    pad = tuple(int(p) for p in rng.integers(0, 3, size=4))
    if 100 <= seed < 200:
        groups, kh, kw, stride, dilation = 1, 3, 3, (1, 1), (1, 1)
        pad = tuple(int(p) for p in rng.integers(0, 4, size=4))
    elif seed >= 200:
        kh, kw, stride, pad = 1, 1, (1, 1), (0, 0, 0, 0)
    h = int(rng.integers(max(1, dilation[0] * (kh - 1) + 1 - pad[0] - pad[1]), 10))
    w = int(rng.integers(max(1, dilation[1] * (kw - 1) + 1 - pad[2] - pad[3]), 10))
    n = int(rng.integers(1, 4)) if seed % 5 else 7
    x = rng.standard_normal((n, groups * cg, h, w))
    wt = rng.standard_normal((groups * fg, cg, kh, kw))
    b = rng.standard_normal(groups * fg) if rng.random() < 0.7 else None
    return x, wt, b, stride, pad, dilation, groups


SEEDS = list(range(40)) + list(range(100, 120)) + list(range(200, 206))


def computes(module, seed):
    """Whether the method `module` computes random_case(seed)'s layer (its registry entry's applies)."""
    applies = next(m.applies for m in CONV.values() if m.module is module)
    if applies is None:
        return True
    x, w, _, stride, _, dilation, groups = random_case(seed)
    return applies(w.shape[2:], stride, dilation, groups)


def cases(seeds, modules=None):
    """pytest params (name, seed): every name of `modules` (name -> method module; default the PATHS) with every
    seed of `seeds` whose layer its method computes."""
    modules = modules or {name: p[0] for name, p in PATHS.items()}
    return [(n, s) for n, module in modules.items() for s in seeds if computes(module, s)]


NAIVE = {}


def naive_result(seed):
    """(case, dout, (y, dx, dw, db)) of the naive loops for random_case(seed), computed once per seed."""
    if seed not in NAIVE:
        case = random_case(seed)
        y, cache = conv_naive.conv2d(*case)
        d = np.random.default_rng(seed + 1000).standard_normal(y.shape)
        NAIVE[seed] = case, d, (y, *conv_naive.conv2d_backward(d, cache))
    return NAIVE[seed]


@pytest.mark.parametrize("path, seed", cases(SEEDS), indirect=["path"])
def test_fast_paths_agree_with_naive_float64(path, seed):
    """Every path of every fast method: y, dx, dw, db within 1e-10 of the loops, over strides, asymmetric
    padding, dilation, groups, with and without bias."""
    case, d, expected = naive_result(seed)
    y, cache = path.conv2d(*case)
    for label, a, c in zip(("y", "dx", "dw", "db"), expected, (y, *path.conv2d_backward(d, cache))):
        if a is None:
            assert c is None and case[2] is None
            continue
        assert c.shape == a.shape, f"{label}: shape {c.shape} != {a.shape}"
        err = np.abs(a - c).max()
        assert err < 1e-10, f"{label}: naive and {path.__name__} differ by {err:.3e} (case {seed})"


@pytest.mark.parametrize("keep", [True, False])
def test_pointwise_columns_are_x(keep):
    """A 1x1 layer of stride 1 without padding unfolds nothing: the columns kept for backward are x's memory."""
    case, d, expected = naive_result(200)
    x = case[0]
    y, cache = conv_im2col.conv2d(*case, keep=keep)
    assert cache.x is None and np.shares_memory(cache.cols, x)
    np.testing.assert_allclose(conv_im2col.conv2d_backward(d, cache)[1], expected[2], rtol=0, atol=1e-12)


@pytest.mark.parametrize("path, seed", cases(SEEDS[::4]), indirect=["path"])
def test_skipping_the_input_gradient(path, seed):
    """input_grad=False returns dx as None and the same dw and db."""
    case, d, (_, _, dw, db) = naive_result(seed)
    _, cache = path.conv2d(*case)
    dx, dw2, db2 = path.conv2d_backward(d, cache, input_grad=False)
    assert dx is None
    assert np.abs(dw2 - dw).max() < 1e-10
    assert (db2 is None) == (db is None) and (db is None or np.abs(db2 - db).max() < 1e-10)


# (input_grad, weight_grad, bias_grad): every combination but all three, which the tests above cover
ASKED = [flags for flags in itertools.product((True, False), repeat=3) if not all(flags)]


def check_asked(label, asked, expected, got):
    """What was asked for equals the loops' full result; what was not is None."""
    for name, want, a, c in zip(("dx", "dw", "db"), asked, expected, got):
        if not want or a is None:
            assert c is None, f"{label}: {name} was not asked for (or has no parameter) but came back"
            continue
        err = np.abs(a - c).max()
        assert err < 1e-10, f"{label}: {name} differs from the full backward by {err:.3e}"


@pytest.mark.parametrize("path, seed", cases(SEEDS[::5]), indirect=["path"])
@pytest.mark.parametrize("asked", ASKED)
def test_only_the_gradients_asked_for(path, seed, asked):
    """input_grad, weight_grad, bias_grad False (a first layer, a frozen weight or bias) return None there and
    the same values elsewhere as the full backward."""
    case, d, (_, *expected) = naive_result(seed)
    _, cache = path.conv2d(*case)
    check_asked(f"{path.__name__} case {seed}", asked, expected, path.conv2d_backward(d, cache, *asked))


@pytest.mark.parametrize("seed", range(0, 40, 10))
@pytest.mark.parametrize("asked", ASKED)
def test_naive_computes_only_what_is_asked(seed, asked):
    case, d, (_, *expected) = naive_result(seed)
    _, cache = conv_naive.conv2d(*case)
    check_asked(f"naive case {seed}", asked, expected, conv_naive.conv2d_backward(d, cache, *asked))


@pytest.mark.parametrize("name, seed", [("im2col", 3), ("numba", 3), ("winograd", 100)])
@pytest.mark.parametrize("keep", [True, False])
def test_frozen_weight_skips_the_dw_gemm(monkeypatch, name, seed, keep):
    """weight_grad=False never reaches dW's product (nor, without kept columns, the unfolding of x for it)."""
    calls = []
    real = engine.add_weight_grad
    for module in (conv_im2col, conv_numba):
        monkeypatch.setattr(module, "add_weight_grad", lambda *a: calls.append(1) or real(*a))
    case, d, _ = naive_result(seed)
    # case 3 is depthwise, which numba computes without GEMMs (conv_depthwise) unless told not to
    tuning = {"tuning": Tuning(depthwise=False)} if name == "numba" else {}
    _, cache = METHODS[name].conv2d(*case, keep=keep, **tuning)
    METHODS[name].conv2d_backward(d, cache, True, True, True)
    assert calls, "the spy sees dW's product when dw is asked for"
    calls.clear()
    unfolds = []
    real_unfold = engine.unfold
    monkeypatch.setattr(conv_im2col, "unfold", lambda *a: unfolds.append(1) or real_unfold(*a))
    METHODS[name].conv2d_backward(d, cache, True, False, True, **tuning)
    assert not calls and not unfolds


@pytest.mark.parametrize("pad, kernel, dilation, routed", [
    ((2, 1, 0, 2), (3, 4), (1, 2), "conv"),   # pad <= dilation*(k-1) on every side: dx as a convolution
    ((0, 0, 0, 0), (1, 1), (1, 1), "conv"),   # 1x1: nothing to pad
    ((1, 0, 0, 1), (1, 3), (1, 1), "fold"),   # a 1-row kernel padded on top: beyond dilation*(k-1)
    ((3, 3, 1, 1), (2, 2), (2, 1), "fold"),
])
def test_stride_one_input_gradient_both_routes(monkeypatch, pad, kernel, dilation, routed):
    """Stride 1 computes dx as a convolution of the padded dout with the turned kernel, and falls back to the
    fold where a forward pad exceeds dilation*(k-1); both equal the loops (groups of 2, float64)."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((3, 4, 6, 7)), rng.standard_normal((6, 2) + kernel)
    args = ((1, 1), pad, dilation, 2)
    y, cache = conv_naive.conv2d(x, w, None, *args)
    d = rng.standard_normal(y.shape)
    dx = conv_naive.conv2d_backward(d, cache)[0]
    calls, real = [], engine.flipped
    monkeypatch.setattr(conv_im2col, "flipped", lambda *a: calls.append(a) or real(*a))
    _, cache = conv_im2col.conv2d(x, w, None, *args)
    assert np.abs(conv_im2col.conv2d_backward(d, cache)[0] - dx).max() < 1e-12
    assert bool(calls) == (routed == "conv")


def test_numba_missing_names_the_extra(monkeypatch):
    """Without numba, method numba fails at its first call with the pip command to fix it."""
    monkeypatch.setitem(sys.modules, "numba", None)
    conv_numba.kernels.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'cnnumpy\[numba\]'"):
            conv_numba.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)))
    finally:
        conv_numba.kernels.cache_clear()


@pytest.mark.parametrize("name, seed", cases(list(range(10)) + list(range(100, 105)), METHODS))
def test_float32_follows_float64(name, seed):  # the default paths of each method
    """float32 in, float32 out, and within 1e-5 (relative to the output's scale) of the float64 result."""
    x, w, b, stride, pad, dilation, groups = random_case(seed)
    fn = METHODS[name]
    y64, c64 = fn.conv2d(x, w, b, stride, pad, dilation, groups)
    b32 = None if b is None else b.astype(np.float32)
    y32, c32 = fn.conv2d(x.astype(np.float32), w.astype(np.float32), b32, stride, pad, dilation, groups)
    assert y32.dtype == np.float32
    d = np.random.default_rng(seed).standard_normal(y64.shape)
    grads64 = fn.conv2d_backward(d, c64)
    grads32 = fn.conv2d_backward(d.astype(np.float32), c32)
    for label, a, c in zip(("y", "dx", "dw", "db"), (y64, *grads64), (y32, *grads32)):
        if a is None:
            continue
        assert c.dtype == np.float32, f"{label} came back as {c.dtype}"
        rel = np.abs(a - c).max() / max(np.abs(a).max(), 1e-12)
        assert rel < 1e-5, f"{label}: float32 differs from float64 by {rel:.3e} relative"


# The worked example of the reference derivation: input (1,3,4,4), kernel (2,3,2,2), bias [1,2], stride 1, no padding.
A = np.array([[[1, 6, 6, 2], [4, 3, 4, 3], [3, 6, 7, 7], [1, 5, 1, 2]],
              [[9, 1, 6, 7], [5, 3, 2, 6], [5, 7, 1, 7], [6, 8, 5, 8]],
              [[8, 6, 9, 5], [4, 6, 1, 6], [2, 3, 3, 8], [3, 5, 3, 6]]], dtype=np.float64)[None]
W = np.array([[[[5, 9], [5, 8]], [[1, 1], [8, 8]], [[7, 1], [2, 8]]],
              [[[5, 6], [9, 3]], [[2, 1], [9, 1]], [[8, 4], [3, 6]]]], dtype=np.float64)
Z = np.array([[[296, 250, 288], [277, 280, 294], [302, 297, 315]],
              [[291, 252, 263], [230, 267, 239], [223, 283, 257]]], dtype=np.float64)[None]


@pytest.mark.parametrize("name", [n for n, m in CONV.items() if m.applies is None or m.applies((2, 2), (1, 1), (1, 1), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_worked_example_exact(name, dtype):
    y, _ = METHODS[name].conv2d(A.astype(dtype), W.astype(dtype), np.array([1, 2], dtype=dtype))
    np.testing.assert_array_equal(y, Z.astype(dtype))


def test_worked_example_unfolded_matrix():
    """The 3x4x4 input unfolds to 12 rows (3 channels x 2x2 kernel) by 9 windows; row 0 is the top-left of channel 0."""
    g = engine.geometry(A.shape, W.shape, (1, 1), (0, 0, 0, 0), (1, 1), rows=False)
    cols = np.empty((1, 1, g.kc, g.lc))
    engine.unfold(A, 0, 1, g, (0, 0, 0, 0), (1, 1), (1, 1), 1, {}, cols)
    cols = cols[:, 0]
    assert cols.shape == (1, 12, 9)
    np.testing.assert_array_equal(cols[0, 0], [1, 6, 6, 4, 3, 4, 3, 6, 7])
    np.testing.assert_array_equal(cols[0, 3], A[0, 0, 1:, 1:].ravel())
    # each output is one row of the (2, 12) weight matrix times one column
    np.testing.assert_array_equal(W.reshape(2, 12) @ cols[0] + np.array([[1], [2]]), Z.reshape(2, 9))
