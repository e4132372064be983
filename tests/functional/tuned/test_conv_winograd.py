"""conv_winograd (method "winograd", 3x3 stride-1 layers): the naive loops, torch, the numerical gradient,
its transforms, and when auto uses it."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from cnnumpy.functional import conv as conv_naive
from cnnumpy.functional.tuned import conv_winograd, threads
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close, t


def random_case(seed):
    """A random 3x3 stride-1 layer: batch 1..3 (7 for every fourth seed: uneven chunks), 1..4 channels and
    filters, sides 1..9 (odd and even), each padding 0..3 (above 2, dx folds through im2col), bias or not."""
    rng = np.random.default_rng(seed)
    pad = tuple(int(p) for p in rng.integers(0, 4, size=4))
    h = int(rng.integers(max(1, 3 - pad[0] - pad[1]), 10))
    w = int(rng.integers(max(1, 3 - pad[2] - pad[3]), 10))
    n = 7 if seed % 4 == 0 else int(rng.integers(1, 4))
    c, f = (int(v) for v in rng.integers(1, 5, size=2))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((f, c, 3, 3))
    b = rng.standard_normal(f) if rng.random() < 0.7 else None
    return x, wt, b, (1, 1), pad


@pytest.fixture(params=["one thread", "one-sample chunks on 2 threads, dW batched"])
def tuning(request, use_threads):
    """The Tuning of the test's path, its threads set."""
    if request.param == "one thread":
        use_threads(1)
        return Tuning()
    use_threads(2)
    return Tuning(winograd_chunk_bytes=1, winograd_dw_batched=1, winograd_dw_chunk_bytes=1)


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_naive_float64(seed, tuning):
    """y, dx, dw, db within 1e-10 of the loops over the definition: odd sizes (half tiles), asymmetric
    padding, paddings above 2, with and without bias."""
    x, w, b, stride, pad = random_case(seed)
    expected, cache = conv_naive.conv2d(x, w, b, stride, pad)
    d = np.random.default_rng(seed + 1000).standard_normal(expected.shape)
    expected = (expected, *conv_naive.conv2d_backward(d, cache))
    y, cache = conv_winograd.conv2d(x, w, b, stride, pad, tuning=tuning)
    backward = conv_winograd.conv2d_backward(d, cache, tuning=tuning)
    for label, a, c in zip(("y", "dx", "dw", "db"), expected, (y, *backward)):
        if a is None:
            assert c is None and b is None
            continue
        assert c.shape == a.shape, f"{label}: shape {c.shape} != {a.shape}"
        assert np.abs(a - c).max() < 1e-10, f"{label}: differs from naive by {np.abs(a - c).max():.3e} (case {seed})"
    dx, dw, _ = conv_winograd.conv2d_backward(d, cache, input_grad=False, tuning=tuning)
    assert dx is None and np.abs(dw - expected[2]).max() < 1e-10
    # a frozen weight (and bias): dx alone, by the transforms or (paddings above 2) by im2col's fold
    dx, dw, db = conv_winograd.conv2d_backward(d, cache, True, False, False, tuning=tuning)
    assert dw is None and db is None and np.abs(dx - expected[1]).max() < 1e-10
    dx, dw, db = conv_winograd.conv2d_backward(d, cache, False, False, True, tuning=tuning)
    assert dx is None and dw is None and (b is None) == (db is None)
    assert b is None or np.abs(db - expected[3]).max() < 1e-10


@pytest.mark.parametrize("shape", [(4, 32, 32, 32, 32), (3, 64, 64, 15, 17), (2, 32, 64, 16, 16), (5, 3, 8, 9, 6)])
def test_float32_matches_torch(shape, tuning):
    """float32 in and out on the VGG net's layers (and odd sizes): y and dx (through the transforms) within
    2e-6 of torch's float32 relative to their scale, as a direct sum's rounding; dw and db (im2col's sums
    over the batch and every pixel) within 1e-5, as test_conv's float32 parity."""
    n, c, f, h, w = shape
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((f, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    y, cache = conv_winograd.conv2d(x, wt, b, (1, 1), (1, 1, 1, 1), tuning=tuning)
    d = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = conv_winograd.conv2d_backward(d, cache, tuning=tuning)
    xt, wtt, bt = t(x, grad=True), t(wt, grad=True), t(b, grad=True)
    yt = torch.nn.functional.conv2d(xt, wtt, bt, padding=1)
    yt.backward(t(d))
    assert y.dtype == dx.dtype == dw.dtype == db.dtype == np.float32
    for label, ours, ref, tol in (("y", y, yt, 2e-6), ("dx", dx, xt.grad, 2e-6), ("dw", dw, wtt.grad, 1e-5),
                                  ("db", db, bt.grad, 1e-5)):
        assert_close(f"{label} {shape}", ours, ref, tol)


def test_transforms_compute_two_outputs_of_a_correlation():
    """The identity the method rests on, in 1-D and nested in 2-D: A^T [(G g) * (B^T d)] is the valid
    correlation of the 4 inputs d with the 3 taps g, and transformed_weights lays out G g G^T."""
    rng = np.random.default_rng(0)
    bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])
    g, d = rng.standard_normal(3), rng.standard_normal(4)
    np.testing.assert_allclose(at @ ((conv_winograd.G @ g) * (bt @ d)), [d[:3] @ g, d[1:] @ g], rtol=1e-14)
    g2, d2 = rng.standard_normal((3, 3)), rng.standard_normal((4, 4))
    u = conv_winograd.transformed_weights(g2[None, None])
    assert u.shape == (16, 1, 1)
    y = at @ (u.reshape(4, 4) * (bt @ d2 @ bt.T)) @ at.T
    direct = [[(d2[i:i + 3, j:j + 3] * g2).sum() for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(y, direct, rtol=1e-13)


def test_other_layers_are_refused():
    x, w = np.ones((1, 2, 6, 6)), np.ones((3, 2, 5, 5))
    with pytest.raises(ValueError, match=r"conv_winograd: expected a 3x3 kernel, stride 1, dilation 1 and 1 group, "
                                         r"got kernel \(5, 5\), stride \(1, 1\)"):
        conv_winograd.conv2d(x, w)
    with pytest.raises(ValueError, match=r"stride \(2, 2\)"):
        conv_winograd.conv2d(x, np.ones((3, 2, 3, 3)), stride=(2, 2))


@pytest.mark.parametrize("layer, out_hw, expected", [
    (((3, 3), (1, 1), (1, 1), 1, 32, 32), (32, 32), True),    # the VGG net's 32x32 layer
    (((3, 3), (1, 1), (1, 1), 1, 64, 64), (16, 16), True),
    (((3, 3), (1, 1), (1, 1), 1, 3, 32), (32, 32), False),    # RGB input: GEMMs of depth 3
    (((3, 3), (1, 1), (1, 1), 1, 16, 16), (32, 32), False),
    (((3, 3), (1, 1), (1, 1), 1, 64, 64), (8, 8), False),     # small images
    (((3, 3), (1, 1), (1, 1), 1, 256, 256), (7, 7), True),    # airbench94's layers: small but wide
    (((3, 3), (1, 1), (1, 1), 1, 64, 256), (15, 15), True),
    (((3, 3), (1, 1), (1, 1), 1, 24, 64), (31, 31), True),
    (((3, 3), (1, 1), (1, 1), 1, 64, 64), (15, 15), False),
    (((3, 3), (1, 1), (1, 1), 1, 256, 256), (3, 3), False),   # batched im2col (conv_batched) instead
    (((3, 3), (2, 2), (1, 1), 1, 64, 64), (16, 16), False),   # stride 2
    (((3, 3), (1, 1), (2, 2), 1, 64, 64), (16, 16), False),   # dilated
    (((3, 3), (1, 1), (1, 1), 2, 64, 64), (16, 16), False),   # grouped
    (((5, 5), (1, 1), (1, 1), 1, 64, 64), (16, 16), False),
])
def test_where_it_pays(layer, out_hw, expected):
    assert conv_winograd.pays(*layer, out_hw) is expected


def test_auto_routes_paying_layers():
    """Conv2d's auto picks winograd for a paying layer, im2col for the same layer on small images and for an RGB
    input; method "numba" never goes through Winograd's transforms (one method, one algorithm)."""
    conv = nn.Conv2d(32, 32, 3, padding=1)
    assert conv.resolved_method((2, 32, 16, 16)) == "winograd"
    assert conv.resolved_method((2, 32, 8, 8)) == "im2col"
    assert nn.Conv2d(3, 32, 3, padding=1).resolved_method((2, 3, 32, 32)) == "im2col"
    numba = nn.Conv2d(32, 32, 3, padding=1, method="numba")
    assert numba.resolved_method((2, 32, 16, 16)) == "numba"
    numba(np.zeros((2, 32, 16, 16), np.float32))
    assert not isinstance(numba.cache[0], conv_winograd.Cache)


def test_method_refuses_other_layers():
    """Conv2d(method="winograd") names what it computes when the layer is not that."""
    with pytest.raises(ValueError, match=r"method: 'winograd' computes 3x3 kernels of stride 1, dilation 1 and one "
                                         r"group; got kernel_size \(5, 5\), stride \(1, 1\)"):
        nn.Conv2d(4, 4, 5, method="winograd")
    with pytest.raises(ValueError, match=r"stride \(2, 2\)"):
        nn.Conv2d(4, 4, 3, stride=2, method="winograd")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gradcheck_through_conv2d(monkeypatch, seed):
    """float64 numerical gradients of Conv2d(method="winograd") on small layers."""
    x, w, b, _, pad = random_case(seed)
    conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=(pad[0], pad[2]), bias=b is not None, method="winograd",
                     dtype=np.float64)
    x = x[:2, :, :max(x.shape[2], 2), :]
    calls = []
    real = conv_winograd.conv2d
    monkeypatch.setattr(conv_winograd, "conv2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    errors = cnnumpy.gradcheck(conv, x)
    assert calls, "the check never went through conv_winograd"
    assert max(errors.values()) < 1e-6, errors


def test_threads_split_the_batch(use_threads):
    """Chunks on 2 and 3 threads give the same bits as one thread: each tile is computed the same way."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 5, 11, 10)).astype(np.float32)
    w = rng.standard_normal((6, 5, 3, 3)).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        use_threads(n)
        results.append(conv_winograd.conv2d(x, w, None, (1, 1), (1, 0, 2, 1), tuning=Tuning(winograd_chunk_bytes=1))[0])
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    assert threads.num_threads() == 3
