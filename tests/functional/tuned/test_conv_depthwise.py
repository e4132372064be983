"""Depthwise convolution's path in conv_numba (tuned/conv_depthwise.py) against the readable loops of
functional/conv.py in float64, on every path: rows, channels last or flat, one thread or two, one plane or sample
per chunk, runs of any length; gradcheck and torch parity through nn.Conv2d(method="numba"), and where method="auto" chooses it."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from cnnumpy.functional import conv as naive
from cnnumpy.functional import methods
from cnnumpy.functional.tuned import compiled, conv_depthwise, conv_numba
from cnnumpy.functional.tuned.config import Tuning
from tests.parity import assert_matches_torch
from tests.util import assert_close

pytestmark = pytest.mark.skipif(not compiled.has_numba(), reason="needs numba")

# rows; channels last (forced by the width); and each with tiny chunks (one plane or one sample each)
TUNINGS = {"rows": Tuning(depthwise_last_width=0, depthwise_flat_width=10 ** 6),
           "last": Tuning(depthwise_last_width=10 ** 6, depthwise_flat_width=10 ** 6),
           "rows-chunks": Tuning(depthwise_last_width=0, chunk_bytes=1, depthwise_flat_width=10 ** 6),
           "last-chunks": Tuning(depthwise_last_width=10 ** 6, chunk_bytes=1, depthwise_flat_width=10 ** 6)}


def random_case(seed):
    """A random depthwise layer: C channels, m filters each (m = 1 mostly), kernel 1..5, stride, asymmetric pad,
    dilation, bias or not, batch 0..3."""
    rng = np.random.default_rng(seed)
    c, m = int(rng.integers(2, 7)), int(rng.choice([1, 1, 2, 3]))
    kh, kw = (int(k) for k in rng.integers(1, 6, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    pad = tuple(int(p) for p in rng.integers(0, 4, size=4))
    h = int(rng.integers(dilation[0] * (kh - 1) + 1, 14))
    w = int(rng.integers(dilation[1] * (kw - 1) + 1, 14))
    n = int(rng.choice([0, 1, 2, 3]))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c * m, 1, kh, kw))
    b = rng.standard_normal(c * m) if rng.random() < 0.7 else None
    return x, wt, b, stride, pad, dilation, c


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("seed", range(12))
def test_depthwise_equals_readable(use_threads, threads, tuning, seed):
    use_threads(threads)
    x, w, b, stride, pad, dilation, groups = random_case(seed)
    assert conv_depthwise.applies(w.shape, groups, x.shape[1])
    y0, c0 = naive.conv2d(x, w, b, stride, pad, dilation, groups)
    y, cache = conv_numba.conv2d(x, w, b, stride, pad, dilation, groups, tuning=TUNINGS[tuning])
    assert cache[0] == "depthwise" and y.dtype == np.float64
    assert_close(f"y seed {seed}", y, y0, 1e-14)
    dout = np.random.default_rng(seed + 100).standard_normal(y.shape)
    assert_backward_matches(dout, cache, c0, b, TUNINGS[tuning], f"seed {seed}")


def assert_backward_matches(dout, cache, cache0, b, tuning, label):
    """Every combination of asked gradients from conv_numba's backward equals the readable one's."""
    grads0 = naive.conv2d_backward(dout, cache0)
    for flags in ((True, True, True), (True, False, False), (False, True, False), (False, False, True)):
        grads = conv_numba.conv2d_backward(dout, cache, *flags, tuning=tuning)
        for name, g, g0, asked in zip(("dx", "dw", "db"), grads, grads0, flags):
            if not asked or (name == "db" and b is None):
                assert g is None, (name, flags)
                continue
            assert g.dtype == np.float64 and g.shape == g0.shape
            assert_close(f"{name} {label} {flags}", g, g0, 1e-13)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(40))
def test_flat_equals_readable(use_threads, threads, seed):
    """Stride-1 layers on the flat loops: any kernel, dilation, channel multiplier and padding within the
    kernel's reach on one side (asymmetric, zero, or more than the reach on the other side); runs of one sample,
    of all of them, and runs that do not divide the batch (the last one shorter)."""
    use_threads(threads)
    x, w, b, _, pad, dilation, groups = random_case(seed)
    kh, kw = w.shape[2:]
    rng = np.random.default_rng(seed + 1000)
    n = int(rng.integers(0, 6))
    x = rng.standard_normal((n,) + x.shape[1:])
    # one side of each axis within the kernel's reach, the other anywhere up to 3
    top, left = int(rng.integers(0, (kh - 1) * dilation[0] + 1)), int(rng.integers(0, (kw - 1) * dilation[1] + 1))
    pad = (top, pad[1], left, pad[3]) if rng.random() < 0.5 else (pad[0], top, pad[2], left)
    y0, c0 = naive.conv2d(x, w, b, (1, 1), pad, dilation, groups)
    hs, wq = x.shape[2] + max(pad[:2]), x.shape[3] + max(pad[2:])
    runs = {"one": 1, "two": 2 * hs * wq * 8, "all": 1 << 30}[rng.choice(["one", "two", "all"])]
    tuning = Tuning(depthwise_flat_width=0, depthwise_flat_bytes=runs)
    assert conv_depthwise.flat(w.shape, (1, 1), pad, dilation, y0.shape[3], tuning)
    y, cache = conv_numba.conv2d(x, w, b, (1, 1), pad, dilation, groups, tuning=tuning)
    assert cache[0] == "depthwise" and y.dtype == np.float64
    assert_close(f"y seed {seed}", y, y0, 1e-14)
    dout = np.random.default_rng(seed + 100).standard_normal(y.shape)
    assert_backward_matches(dout, cache, c0, b, tuning, f"seed {seed} runs {runs}")


def test_flat_is_taken_only_where_its_layout_holds():
    """A stride, a narrow output, or both sides of an axis padded past the kernel's reach: not flat."""
    t = Tuning()
    assert conv_depthwise.flat((8, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), t.depthwise_flat_width, t)
    assert not conv_depthwise.flat((8, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 64, t)
    assert not conv_depthwise.flat((8, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), t.depthwise_flat_width - 1, t)
    assert not conv_depthwise.flat((8, 1, 3, 3), (1, 1), (3, 3, 1, 1), (1, 1), 64, t)
    assert not conv_depthwise.flat((8, 1, 3, 3), (1, 1), (1, 1, 3, 3), (1, 1), 64, t)
    assert conv_depthwise.flat((8, 1, 3, 3), (1, 1), (0, 3, 1, 1), (1, 1), 64, t)


def test_off_switch_and_other_groups_take_the_unfolding():
    """tuning.depthwise=False, and grouped layers with several channels per group, keep conv_numba's GEMMs."""
    x, w, b, stride, pad, dilation, groups = random_case(1)
    _, cache = conv_numba.conv2d(x, w, b, stride, pad, dilation, groups, tuning=Tuning(depthwise=False))
    assert not isinstance(cache[0], str)
    assert not conv_depthwise.applies((4, 2, 3, 3), 2, 4) and not conv_depthwise.applies((4, 1, 3, 3), 1, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_picks_it_for_depthwise_layers(dtype):
    """auto: the depthwise loops for every depthwise layer, known size or not; im2col for other groupings and
    with tuning.depthwise off."""
    for stride, out_hw in (((1, 1), (16, 16)), ((2, 2), (56, 56)), ((2, 2), None), ((1, 1), (56, 56)),
                           ((1, 1), None), ((1, 1), (4, 4))):
        assert methods.auto_conv((3, 3), stride, (1, 1), 32, 32, 32, out_hw, dtype) == "numba", (stride, out_hw)
    assert methods.auto_conv((3, 3), (1, 1), (1, 1), 32, 32, 32, (16, 16), dtype,
                             Tuning(depthwise=False)) == "im2col"
    assert methods.auto_conv((3, 3), (1, 1), (1, 1), 2, 32, 32, (16, 16), dtype) == "im2col"
    assert methods.auto_conv((3, 3), (1, 1), (1, 1), 32, 32, 64, (16, 16), dtype) == "im2col"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(2, 6, 9, 9), (1, 8, 40, 36)], ids=["last", "rows"])
def test_gradcheck_and_torch_parity(seed, shape):
    """nn.Conv2d(groups=C) through the depthwise path: gradcheck in float64; torch's outputs and gradients in
    float64 (1e-12) and float32 (1e-5), on each layout (a 9-wide image channels last or flat, a 36-wide one rows
    or flat: flat for stride 1)."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    kwargs = dict(in_channels=c, out_channels=c, kernel_size=int(rng.choice([3, 5])), stride=int(rng.choice([1, 2])),
                  padding=int(rng.integers(0, 3)), dilation=int(rng.choice([1, 2])), groups=c,
                  bias=bool(rng.random() < 0.7))
    small = (shape[0], c, 9, 9)
    errors = cnnumpy.gradcheck(nn.Conv2d(**kwargs, method="numba"), rng.standard_normal(small))
    assert max(errors.values()) < 1e-6, errors
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        ours = nn.Conv2d(**kwargs, method="numba", dtype=dtype)
        assert_matches_torch(ours, torch.nn.Conv2d(**kwargs), rng.standard_normal(shape).astype(dtype), tol=tol,
                             rng=rng, label=f"{kwargs} {dtype.__name__}")
