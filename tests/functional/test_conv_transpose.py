"""The transposed-conv methods against the readable loops, and the loops against the adjoint identity."""
import functools
import itertools
import types

import numpy as np
import pytest

from cnnumpy.functional import conv, conv_transpose
from cnnumpy.functional.methods import CONV_TRANSPOSE
from cnnumpy.functional.tuned import conv_transpose as conv_transpose_im2col
from cnnumpy.functional.tuned.config import Tuning

# Every path of the im2col method, through the conv_im2col paths it calls: (tuning, threads)
PATHS = {
    "im2col rows": (Tuning(), 1),
    "im2col full windows": (Tuning(rows=False), 1),
    "im2col chunks, unfold again": (Tuning(chunk_bytes=1, cache_bytes=0), 1),
    "im2col 2 threads": (Tuning(chunk_bytes=1), 2),
}


def test_registry():
    assert set(CONV_TRANSPOSE) == {"naive", "im2col"}
    assert CONV_TRANSPOSE["naive"].module is conv_transpose
    assert CONV_TRANSPOSE["im2col"].module is conv_transpose_im2col


def bound(tuning):
    m = conv_transpose_im2col
    return types.SimpleNamespace(conv_transpose2d=functools.partial(m.conv_transpose2d, tuning=tuning),
                                 conv_transpose2d_backward=functools.partial(m.conv_transpose2d_backward,
                                                                             tuning=tuning))


@pytest.fixture
def path(request, use_threads):
    tuning, n = PATHS[request.param]
    use_threads(n)
    return bound(tuning)


def random_case(seed):
    """Random shapes, stride 1..3, padding 0..2, dilation 1..2, groups 1..3, output_padding below
    max(stride, dilation) (so at times >= stride), bias or not; batches of 1 to 3, of 5 every fifth seed."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2, 3]))
    cg, og = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 5, size=2))
    stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
    pad = tuple(int(v) for v in rng.integers(0, 3, size=2))
    op = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    h, w = (int(v) for v in rng.integers(1, 7, size=2))
    # the output must have at least one row and column: raise the input size until it does
    while conv_transpose.out_size(h, k[0], stride[0], pad[0], op[0], dilation[0]) < 1:
        h += 1
    while conv_transpose.out_size(w, k[1], stride[1], pad[1], op[1], dilation[1]) < 1:
        w += 1
    n = int(rng.integers(1, 4)) if seed % 5 else 5
    x = rng.standard_normal((n, groups * cg, h, w))
    wt = rng.standard_normal((groups * cg, og, *k))
    b = rng.standard_normal(groups * og) if rng.random() < 0.7 else None
    return x, wt, b, dict(stride=stride, pad=pad, output_padding=op, groups=groups, dilation=dilation), rng


def run(method, x, wt, b, kw, dout=None, **asked):
    y, cache = method.conv_transpose2d(x, wt, b, **kw)
    dout = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype) if dout is None else dout
    return y, dout, method.conv_transpose2d_backward(dout, cache, **asked)


def worst(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("path", list(PATHS), indirect=True)
def test_im2col_agrees_with_naive_float64(path, seed):
    x, wt, b, kw, _ = random_case(seed)
    y, dout, grads = run(conv_transpose, x, wt, b, kw)
    y2, _, grads2 = run(path, x, wt, b, kw, dout)
    assert y2.shape == y.shape and y2.dtype == np.float64
    for name, ours, ref in zip(("y", "dx", "dw", "db"), (y2, *grads2), (y, *grads)):
        if ref is None:
            assert ours is None, name
            continue
        assert ours.shape == ref.shape and ours.dtype == ref.dtype, name
        assert worst(ours, ref) < 1e-12, f"{name}: {worst(ours, ref):.2e} ({kw})"


@pytest.mark.parametrize("seed", range(0, 40, 4))
@pytest.mark.parametrize("name", sorted(CONV_TRANSPOSE))
def test_float32_keeps_dtype_and_agrees_with_float64(name, seed):
    x, wt, b, kw, _ = random_case(seed)
    method = CONV_TRANSPOSE[name].module
    y, dout, grads = run(method, x, wt, b, kw)
    f32 = (lambda a: None if a is None else a.astype(np.float32))
    y32, _, grads32 = run(method, f32(x), f32(wt), f32(b), kw, f32(dout))
    for label, ours, ref in zip(("y", "dx", "dw", "db"), (y32, *grads32), (y, *grads)):
        if ref is None:
            continue
        assert ours.dtype == np.float32, label
        assert worst(ours, ref) < 1e-5, f"{label}: {worst(ours, ref):.2e} ({kw})"


@pytest.mark.parametrize("asked", [a for a in itertools.product([True, False], repeat=3)])
@pytest.mark.parametrize("seed", [0, 3, 7])
@pytest.mark.parametrize("name", sorted(CONV_TRANSPOSE))
def test_only_the_gradients_asked_for(name, seed, asked):
    x, wt, b, kw, _ = random_case(seed)
    b = np.ones(wt.shape[1] * kw["groups"])
    _, dout, full = run(conv_transpose, x, wt, b, kw)
    _, _, some = run(CONV_TRANSPOSE[name].module, x, wt, b, kw, dout,
                     **dict(zip(("input_grad", "weight_grad", "bias_grad"), asked)))
    for want, got, ref in zip(asked, some, full):
        if want:
            assert worst(got, ref) < 1e-12
        else:
            assert got is None


@pytest.mark.parametrize("seed", range(20))
def test_forward_is_the_adjoint_of_the_convolution(seed):
    """<conv(u), x> = <u, conv_transpose(x)> for every u of the output's shape: the defining identity, with
    functional/conv.py's loops on one side and conv_transpose.py's on the other."""
    x, wt, _, kw, rng = random_case(seed)
    y, _ = conv_transpose.conv_transpose2d(x, wt, None, **kw)
    u = rng.standard_normal(y.shape)
    ph, pw = kw["pad"]
    cu, _ = conv.conv2d(u, wt, None, kw["stride"], (ph, ph, pw, pw), kw["dilation"], kw["groups"])
    # output_padding >= stride: the convolution has output rows the transposed layer has no input for
    cu = cu[:, :, :x.shape[2], :x.shape[3]]
    assert cu.shape == x.shape
    assert abs(np.sum(cu * x) - np.sum(u * y)) < 1e-12 * max(1.0, np.abs(u).sum() * np.abs(y).max())


@pytest.mark.parametrize("seed", range(10))
def test_forward_is_the_convolutions_input_gradient(seed):
    """y = conv2d_backward's dx with dout = x, when output_padding < stride (the conv then maps y's shape onto
    x's exactly)."""
    x, wt, b, kw, _ = random_case(seed)
    kw["output_padding"] = tuple(min(op, s - 1) for op, s in zip(kw["output_padding"], kw["stride"]))
    y, _ = conv_transpose.conv_transpose2d(x, wt, None, **kw)
    ph, pw = kw["pad"]
    _, cache = conv.conv2d(np.zeros_like(y), wt, None, kw["stride"], (ph, ph, pw, pw), kw["dilation"], kw["groups"])
    dx, _, _ = conv.conv2d_backward(x, cache, True, False, False)
    assert worst(y, dx) < 1e-13
