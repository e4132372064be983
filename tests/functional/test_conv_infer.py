"""functional/tuned/conv_infer.py: the inference conv is the readable conv plus bias and activation, on every path
(each method, rows or windows, the 1x1 product without unfolding, depthwise loops, one-sample chunks, two threads)."""
import numpy as np
import pytest

from cnnumpy.functional import conv
from cnnumpy.functional.tuned import conv_infer, conv_winograd
from cnnumpy.functional.tuned.compiled import has_numba
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close

METHODS = [m for m in conv_infer.METHODS if has_numba() or m == "im2col"]


def reference(x, w, b, stride, pad, dilation, groups, act, slope=0.01):
    y = conv.conv2d(x, w, b, stride, pad, dilation, groups)[0]
    if act == "relu":
        return np.maximum(y, 0)
    if act == "relu6":
        return np.clip(y, 0, 6)
    if act == "leaky_relu":
        return np.where(y > 0, y, slope * y)
    return y


def case(seed):
    """A random layer: (x, w, b, stride, pad, dilation, groups), float64."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    cg, fg = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dilation = (int(rng.integers(1, 3)), 1)
    pad = tuple(int(p) for p in rng.integers(0, 3, 4))
    h, w_ = int(rng.integers(5, 9)), int(rng.integers(5, 9))
    x = rng.standard_normal((int(rng.integers(1, 5)), groups * cg, h, w_))
    w = rng.standard_normal((groups * fg, cg, kh, kw))
    b = rng.standard_normal(groups * fg) if rng.random() < 0.7 else None
    return x, w, b, stride, pad, dilation, groups


PATHS = {"default": Tuning(), "windows": Tuning(rows=False), "one-sample chunks": Tuning(chunk_bytes=1,
                                                                                         winograd_chunk_bytes=1)}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("act", [None, *conv_infer.ACTIVATIONS])
@pytest.mark.parametrize("seed", range(6))
def test_general_layers_match_the_readable_conv(seed, act, path):
    x, w, b, stride, pad, dilation, groups = case(seed)
    want = reference(x, w, b, stride, pad, dilation, groups, act, 0.2)
    for method in [m for m in METHODS if m != "winograd"]:
        y = conv_infer.conv2d(x, w, b, stride, pad, dilation, groups, act, 0.2, method, tuning=PATHS[path])
        assert y.dtype == x.dtype
        assert_close(f"{method} {path} act={act} seed={seed}", y, want, 1e-12)


@pytest.mark.skipif(not has_numba(), reason="Winograd's transforms need numba")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("pad", [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 2)])
def test_winograd(pad, path):
    rng = np.random.default_rng(sum(pad))
    x, w, b = rng.standard_normal((3, 4, 7, 6)), rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    y = conv_infer.conv2d(x, w, b, (1, 1), pad, act="relu6", method="winograd", tuning=PATHS[path])
    assert_close(f"winograd {pad} {path}", y, reference(x, w, b, (1, 1), pad, (1, 1), 1, "relu6"), 1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_prepared_weights_give_the_same_result(method):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 6, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    prepared = conv_infer.prepare(w, method, x.shape, (1, 1), (1, 1, 1, 1))
    a = conv_infer.conv2d(x, w, None, (1, 1), (1, 1, 1, 1), act="relu", method=method, prepared=prepared)
    b = conv_infer.conv2d(x, w, None, (1, 1), (1, 1, 1, 1), act="relu", method=method)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pointwise", [True, False])
def test_float32_two_threads(method, pointwise, use_threads):
    """The paths the models take (1x1 without unfolding, depthwise loops for numba) on two threads, float32."""
    use_threads(2)
    rng = np.random.default_rng(2)
    if pointwise:
        x, w, groups, pad = rng.standard_normal((9, 8, 5, 5)), rng.standard_normal((6, 8, 1, 1)), 1, (0, 0, 0, 0)
    else:
        x, w, groups, pad = rng.standard_normal((9, 8, 6, 6)), rng.standard_normal((8, 1, 3, 3)), 8, (1, 1, 1, 1)
    if method == "winograd":
        w, groups = rng.standard_normal((6, 8, 3, 3)), 1
    b = rng.standard_normal(len(w))
    want = reference(x, w, b, (1, 1), pad, (1, 1), groups, "relu")
    y = conv_infer.conv2d(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), (1, 1), pad, (1, 1),
                          groups, "relu", method=method)
    assert y.dtype == np.float32
    assert_close(f"{method} float32", y, want, 1e-5)


def test_activations_keep_nan_and_reject_unknown_names():
    y = np.array([np.nan, -1.0, 0.5, 7.0])
    assert np.isnan(conv_infer.activate(y.copy(), "relu")[0])
    assert np.array_equal(conv_infer.activate(y.copy(), "relu6")[1:], [0, 0.5, 6])
    assert np.array_equal(conv_infer.activate(y.copy(), "leaky_relu", 0.1)[1:], [-0.1, 0.5, 7])
    with pytest.raises(ValueError, match="act: expected None or one of"):
        conv_infer.activate(y, "gelu")
    with pytest.raises(ValueError, match="method: expected one of"):
        conv_infer.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 1, 1)), method="naive")


def test_auto_picks_a_method_that_computes_the_layer():
    for kernel, stride, groups, c, f, hw in [((3, 3), (1, 1), 1, 64, 64, (16, 16)), ((3, 3), (2, 2), 1, 3, 16, (8, 8)),
                                            ((3, 3), (1, 1), 32, 32, 32, (8, 8)), ((5, 5), (1, 1), 1, 1, 6, (28, 28)),
                                            ((1, 1), (1, 1), 1, 16, 96, (32, 32))]:
        m = conv_infer.auto(kernel, stride, (1, 1), groups, c, f, hw)
        assert m in METHODS
        assert m != "winograd" or conv_winograd.applies(kernel, stride, (1, 1), groups)
    assert conv_infer.auto((3, 3), (1, 1), (1, 1), 1, 64, 64, (16, 16), np.float16) == "im2col"


@pytest.mark.skipif(not has_numba(), reason="the depthwise loops need numba")
@pytest.mark.parametrize("act", [None, *conv_infer.ACTIVATIONS])
@pytest.mark.parametrize("layer", ["3x3", "3x3 stride 2", "5x3 dilated", "multiplier 2", "narrow"])
@pytest.mark.parametrize("last_width", [0, 32])
def test_depthwise_paths(layer, act, last_width):
    """forward3 (3x3 stride 1), the general plane loop (strides, dilation, other kernels, several filters per
    channel) and channels last (narrow outputs), each with every activation."""
    rng = np.random.default_rng(len(layer))
    c, side, k, stride, dilation, m = 4, 11, (3, 3), (1, 1), (1, 1), 1
    if layer == "3x3 stride 2":
        stride = (2, 2)
    elif layer == "5x3 dilated":
        k, dilation = (5, 3), (2, 1)
    elif layer == "multiplier 2":
        m = 2
    elif layer == "narrow":
        side = 5
    x = rng.standard_normal((3, c, side, side + 1)) * 4
    w, b = rng.standard_normal((c * m, 1) + k), rng.standard_normal(c * m)
    pad = (1, 2, 1, 0)
    want = reference(x, w, b, stride, pad, dilation, c, act, 0.3)
    y = conv_infer.conv2d(x, w, b, stride, pad, dilation, c, act, 0.3, "numba",
                          tuning=Tuning(depthwise_last_width=last_width))
    assert_close(f"{layer} act={act} last_width={last_width}", y, want, 1e-12)


def pooled(y):
    """torch's max_pool2d(y, 2) by its definition (floor mode)."""
    n, f, h, w = y.shape
    out = np.empty((n, f, h // 2, w // 2))
    for i in range(h // 2):
        for j in range(w // 2):
            out[:, :, i, j] = y[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3))
    return out


@pytest.mark.parametrize("act", [None, *conv_infer.ACTIVATIONS])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("side", [7, 8])
def test_max_pool_in_the_output_pass(method, act, side):
    """pool=True: act(conv + b) then a 2x2 max pool of stride 2, odd sides floored; NaN wins its window."""
    rng = np.random.default_rng(side)
    x, w, b = rng.standard_normal((3, 4, side, side)) * 3, rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    want = pooled(reference(x, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1, act, 0.3))
    for path in PATHS.values():
        y = conv_infer.conv2d(x, w, b, (1, 1), (1, 1, 1, 1), act=act, slope=0.3, method=method, pool=True,
                              tuning=path)
        assert_close(f"{method} pool act={act}", y, want, 1e-12)
    x[1, 2, 3, 3] = np.nan  # reaches every output of sample 1 around (3, 3), in every filter
    y = conv_infer.conv2d(x, w, b, (1, 1), (1, 1, 1, 1), act=act, method=method, pool=True)
    assert np.isnan(y[1, :, 1, 1]).all() and not np.isnan(y[0]).any()


def test_max_pool2_matches_the_definition():
    y = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    assert np.array_equal(conv_infer.max_pool2(y), pooled(y))
