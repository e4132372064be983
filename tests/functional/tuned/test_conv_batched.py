"""conv_batched (conv_im2col's path for small outputs, the batch along the columns): the naive loops in
float64 for every gradient and flag, with kept and unfolded-again columns, and when conv_im2col takes it."""
import numpy as np
import pytest

from cnnumpy.functional import conv as conv_naive
from cnnumpy.functional.tuned import conv_batched, conv_im2col
from cnnumpy.functional.tuned.config import Tuning


def random_case(seed):
    """A random small-output layer: batch 2..7, 1..5 channels and filters, kernels 1..3, strides 1..2,
    dilations 1..2, each padding 0..2, sides up to 6, bias or not."""
    rng = np.random.default_rng(seed)
    kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
    stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
    pad = tuple(int(p) for p in rng.integers(0, 3, size=4))
    h = int(rng.integers(max(1, dilation[0] * (kh - 1) + 1 - pad[0] - pad[1]), 7))
    w = int(rng.integers(max(1, dilation[1] * (kw - 1) + 1 - pad[2] - pad[3]), 7))
    n = int(rng.integers(2, 8))
    c, f = (int(v) for v in rng.integers(1, 6, size=2))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f) if rng.random() < 0.6 else None
    return x, wt, b, stride, pad, dilation


@pytest.fixture(params=["one thread", "one-sample chunks on 2 threads, columns not kept"])
def tuning(request, use_threads):
    """The Tuning of the test's path (every output small enough to be batched), its threads set."""
    if request.param == "one thread":
        use_threads(1)
        return Tuning(batched_area=1 << 30)
    use_threads(2)
    return Tuning(batched_area=1 << 30, chunk_bytes=1, cache_bytes=0)


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_naive_float64(seed, tuning):
    """y, dx, dw, db within 1e-10 of the loops over the definition, all at once and each alone."""
    x, w, b, stride, pad, dilation = random_case(seed)
    expected, cache = conv_naive.conv2d(x, w, b, stride, pad, dilation)
    d = np.random.default_rng(seed + 1000).standard_normal(expected.shape)
    expected = (expected, *conv_naive.conv2d_backward(d, cache))
    y, cache = conv_im2col.conv2d(x, w, b, stride, pad, dilation, tuning=tuning)
    assert isinstance(cache, conv_batched.Cache)
    got = (y, *conv_im2col.conv2d_backward(d, cache, tuning=tuning))
    for label, a, c in zip(("y", "dx", "dw", "db"), expected, got):
        if a is None:
            assert c is None and b is None
            continue
        assert c.shape == a.shape, f"{label}: shape {c.shape} != {a.shape}"
        assert np.abs(a - c).max() < 1e-10, f"{label}: differs from naive by {np.abs(a - c).max():.3e} (case {seed})"
    for i, flags in enumerate(((True, False, False), (False, True, False), (False, False, True))):
        alone = conv_im2col.conv2d_backward(d, cache, *flags, tuning=tuning)
        for j, v in enumerate(alone):
            if j == i and expected[j + 1] is not None:
                assert np.abs(v - expected[j + 1]).max() < 1e-10
            else:
                assert v is None


def test_float32_keeps_its_dtype_and_matches_float64():
    """The late 3x3 map of the airbench net (256 channels): float32 within 1e-5 of float64 relative to the scale."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 256, 3, 3))
    w = rng.standard_normal((256, 256, 3, 3)) / 48
    y64, c64 = conv_im2col.conv2d(x, w, None, (1, 1), (1, 1, 1, 1))
    y32, c32 = conv_im2col.conv2d(x.astype(np.float32), w.astype(np.float32), None, (1, 1), (1, 1, 1, 1))
    d = rng.standard_normal(y64.shape)
    g64 = conv_im2col.conv2d_backward(d, c64)
    g32 = conv_im2col.conv2d_backward(d.astype(np.float32), c32)
    assert isinstance(c32, conv_batched.Cache)
    for a, c in zip((y64, *g64[:2]), (y32, *g32[:2])):
        assert c.dtype == np.float32
        assert np.abs(a - c).max() < 1e-5 * np.abs(a).max()


@pytest.mark.parametrize("shape, groups, expected", [
    ((8, 4, 3, 3), 1, True),     # 9 pixels out
    ((8, 4, 4, 4), 1, True),     # 16
    ((8, 4, 5, 5), 1, False),    # 25: per-sample products are wide enough
    ((1, 4, 3, 3), 1, False),    # one sample: no batch to put along the columns
    ((8, 4, 3, 3), 2, False),    # groups
])
def test_applies(shape, groups, expected):
    w_shape = (4, shape[1] // groups, 3, 3)
    assert conv_batched.applies(shape, w_shape, (1, 1), (1, 1, 1, 1), (1, 1), groups) is expected
