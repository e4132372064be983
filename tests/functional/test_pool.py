"""The pooling methods against each other, PyTorch's output sizes, ties, NaN and -inf, and dtypes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnumpy.functional import pool as naive
from cnnumpy.functional.methods import POOL, pool_methods
from cnnumpy.functional.tuned import pool_im2col
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close, t

METHODS = {name: m.module for name, m in POOL.items()}


def implementing(op):
    """The names of the methods that implement op ("max", "avg", "adaptive"), from the registry."""
    return list(pool_methods({"adaptive": "adaptive_avg_pool2d"}.get(op, op + "_pool2d")))


def valid_window(rng, dilated):
    """kernel 1..5, stride 1..3, padding within PyTorch's half-kernel rule, dilation 1..2 (max pool only)."""
    kernel = tuple(int(k) for k in rng.integers(1, 6, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    pad = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2)) if dilated else (1, 1)
    return kernel, stride, pad, dilation


def has_padding_only_window(shape, kernel, stride, pad, dilation, ceil_mode):
    """A window whose taps all fall in the padding (possible with dilation); the modules refuse it."""
    for size, k, s, p, d in zip(shape, kernel, stride, pad, dilation):
        n = naive.pool_out_size(size, k, s, p, d, ceil_mode)
        taps = (np.arange(n) * s - p)[:, None] + np.arange(k) * d
        if not ((taps >= 0) & (taps < size)).any(axis=1).all():
            return True
    return False


def data(rng, shape, kind):
    """normal: no ties; int: small integers, many ties; mnist: a zero background with a bright blob,
    so whole windows are exact zeros (the case where a mask `x == max` goes wrong)."""
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "int":
        return rng.integers(-2, 3, shape).astype(np.float64)
    x = np.zeros(shape)
    h, w = shape[2:]
    rows, cols = slice(h // 3, h - h // 4), slice(w // 4, w - w // 3)
    x[..., rows, cols] = rng.integers(0, 256, x[..., rows, cols].shape[-2:]) / 255
    return x


def random_case(seed, op):
    """(x, args) for op in "max", "avg": batch 1..3, channels 1..3, sizes 1..9 that fit the window."""
    rng = np.random.default_rng(seed)
    while True:
        kernel, stride, pad, dilation = valid_window(rng, op == "max")
        ceil_mode = bool(rng.integers(2))
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        sizes = [naive.pool_out_size(s, k, st, p, d, ceil_mode)
                 for s, k, st, p, d in zip(shape[2:], kernel, stride, pad, dilation)]
        if min(sizes) >= 1 and not has_padding_only_window(shape[2:], kernel, stride, pad, dilation, ceil_mode):
            break
    x = data(rng, shape, ["normal", "int", "mnist"][seed % 3])
    if op == "max":
        return x, (kernel, stride, pad, dilation, ceil_mode)
    return x, (kernel, stride, pad, ceil_mode, bool(rng.integers(2)), [None, None, 3, -2][seed % 4])


def forward_backward(module, op, x, args, seed, tuning=None):
    """y and dx of module's op on x, with a fixed random dout (and the tuning, if given)."""
    kw = {} if tuning is None else {"tuning": tuning}
    y, cache = getattr(module, op)(x, *args, **kw)
    dout = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    return y, getattr(module, op + "_backward")(dout, cache, **kw)


def assert_methods_agree(op, x, args, seed, tol=1e-10, method="im2col", tuning=None):
    """`method` (from the registry; its tuning, if given) gives the naive loops' y and dx within tol."""
    (y1, dx1) = forward_backward(naive, op, x, args, seed)
    (y2, dx2) = forward_backward(METHODS[method], op, x, args, seed, tuning)
    for name, a, b in (("y", y1, y2), ("dx", dx1, dx2)):
        assert a.shape == b.shape, f"{op} {name}: shapes {a.shape} != {b.shape}"
        err = np.abs(a - b).max(initial=0.0)
        assert err < tol, f"{op} {name}: naive and {method} differ by {err:.3e} (args {args}, seed {seed})"


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("op, method", [(op, m) for op in ("max", "avg") for m in implementing(op) if m != "naive"])
def test_methods_agree_with_naive_float64(op, method, seed):
    x, args = random_case(seed, op)
    assert_methods_agree(op + "_pool2d", x, args, seed, method=method)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("method", [m for m in implementing("adaptive") if m != "naive"])
def test_adaptive_methods_agree_with_naive_float64(method, seed):
    """Output sizes smaller, equal and larger than the input (overlapping windows), and 1 (global mean)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(rng.integers(1, 4)), 2, int(rng.integers(1, 10)), int(rng.integers(1, 10))))
    out = (1, 1) if seed % 4 == 0 else tuple(int(v) for v in rng.integers(1, 12, 2))
    assert_methods_agree("adaptive_avg_pool2d", x, (out,), seed, method=method)


def test_output_sizes_match_torch():
    """pool_out_size against torch's output shape over a grid of sizes, kernels, strides, paddings, ceil_mode,
    including ceil mode's correction that drops a last window starting past the input and left padding."""
    x = torch.zeros(1, 1, 1, 12)
    corrected = 0
    for w in range(1, 13):
        for k in range(1, 6):
            for s in range(1, 5):
                for p in range(k // 2 + 1):
                    for d in (1, 2):
                        for ceil_mode in (False, True):
                            ours = naive.pool_out_size(w, k, s, p, d, ceil_mode)
                            if ours < 1:
                                with pytest.raises(RuntimeError, match="Output size is too small"):
                                    F.max_pool2d(x[..., :w], (1, k), (1, s), (0, p), (1, d), ceil_mode)
                                continue
                            ref = F.max_pool2d(x[..., :w], (1, k), (1, s), (0, p), (1, d), ceil_mode).shape[-1]
                            assert ours == ref, f"w={w} k={k} s={s} p={p} d={d} ceil={ceil_mode}: {ours} != {ref}"
                            span = w + 2 * p - d * (k - 1) - 1
                            corrected += ceil_mode and ours < -(-span // s) + 1
    assert corrected > 0  # the grid does exercise the correction


@pytest.mark.parametrize("name", METHODS)
def test_max_pool_ties_follow_torch(name):
    """All-zero and constant windows, overlapping (stride 1, padding 1): the gradient goes to one input per
    output, the first maximum in row-major order, exactly as torch's."""
    x = np.zeros((2, 2, 6, 7))
    x[0, 0, 2:4, 2:5] = 1.0
    x[1, 1] = np.arange(7) % 3  # ties inside every row
    xt = t(x, grad=True)
    yt = F.max_pool2d(xt, 3, 1, 1)
    dout = np.random.default_rng(0).standard_normal(yt.shape)
    yt.backward(t(dout))
    y, cache = METHODS[name].max_pool2d(x, (3, 3), (1, 1), (1, 1))
    dx = METHODS[name].max_pool2d_backward(dout, cache)
    assert_close("y", y, yt, 0.0)
    assert_close("dx", dx, xt.grad, 1e-15)
    # each output's gradient lands once; a mask x == max would count it once per tied input
    assert abs(dx.sum() - dout.sum()) < 1e-12


@pytest.mark.parametrize("name", METHODS)
def test_max_pool_nan_and_inf_like_torch(name):
    """A NaN wins its window (the last NaN if several) and an all -inf window picks its first tap inside x."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 5, 6))
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[0, 0, 4, 4] = np.nan  # (1, 1) and (2, 2) share a window
    x[0, 1, :3, :3] = -np.inf
    args = ((3, 2), (2, 2), (1, 1), (1, 1), True)
    xt = t(x, grad=True)
    yt = F.max_pool2d(xt, *args)
    dout = rng.standard_normal(yt.shape)
    yt.backward(t(dout))
    y, cache = METHODS[name].max_pool2d(x, *args)
    dx = METHODS[name].max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(y, yt.detach().numpy())  # NaN and -inf in the same places
    np.testing.assert_array_equal(dx, xt.grad.numpy())


@pytest.mark.parametrize("op, name", [(op, m) for op in ("max", "avg", "adaptive") for m in implementing(op)])
def test_float32_stays_float32_and_follows_float64(op, name):
    """float32 in, float32 out (forward and backward), within 1e-6 (relative to scale) of float64."""
    if op == "adaptive":
        x, args, fn = np.random.default_rng(2).standard_normal((2, 3, 7, 9)), ((3, 4),), "adaptive_avg_pool2d"
    else:
        x, args = random_case(7, op)
        fn = op + "_pool2d"
    y64, dx64 = forward_backward(METHODS[name], fn, x, args, 0)
    y32, dx32 = forward_backward(METHODS[name], fn, x.astype(np.float32), args, 0)
    assert y32.dtype == dx32.dtype == np.float32
    assert_close("y", y32, y64, 1e-6)
    assert_close("dx", dx32, dx64, 1e-6)


def test_global_average_is_one_mean():
    """Output size (1, 1) takes the global-mean path of the im2col method; it equals x.mean over H, W."""
    x = np.random.default_rng(3).standard_normal((3, 4, 5, 6))
    y, cache = pool_im2col.adaptive_avg_pool2d(x, (1, 1))
    np.testing.assert_allclose(y, x.mean(axis=(2, 3), keepdims=True), rtol=0, atol=1e-15)
    dx = pool_im2col.adaptive_avg_pool2d_backward(np.ones_like(y), cache)
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 30), rtol=0, atol=1e-15)
    dx[0, 0, 0, 0] = 7.0  # a real array, not a read-only broadcast view


def tiles_case(seed):
    """Non-overlapping max pooling (stride = kernel, no padding): kernels 1..4, sizes that leave a remainder
    (floor mode drops it) or divide exactly (then ceil mode too), on the three kinds of data."""
    rng = np.random.default_rng(seed)
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    divisible = bool(rng.integers(2))
    size = [k * int(rng.integers(1, 5)) + (0 if divisible else int(rng.integers(0, k))) for k in kernel]
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), *size)
    x = data(rng, shape, ["normal", "int", "mnist"][seed % 3])
    return x, (kernel, kernel, (0, 0), (1, 1), divisible and bool(rng.integers(2)))


@pytest.mark.parametrize("seed", range(30))
def test_tiles_path_agrees_with_naive(seed):
    """The non-overlapping path of im2col is taken and gives exactly the loops' y and dx (ties included)."""
    x, args = tiles_case(seed)
    assert pool_im2col.max_pool2d(x, *args)[1][0] == "tiles"
    assert_methods_agree("max_pool2d", x, args, seed, tol=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiles_ties_and_nan_like_torch(dtype):
    """2x2 windows of zeros (MNIST background), ties inside windows, several NaNs in one window (the last
    wins) and a NaN alone: y and dx exactly as torch's, each output's gradient landing once."""
    x = np.zeros((2, 3, 8, 6), dtype)
    x[0, 0, 2:6, 1:5] = np.arange(16).reshape(4, 4) % 3
    x[1, 2] = np.arange(6) % 2
    x[1, 0, 0, 0] = x[1, 0, 1, 0] = x[1, 0, 1, 1] = np.nan
    x[1, 1, 5, 4] = np.nan
    xt = t(x, grad=True)
    yt = F.max_pool2d(xt, 2)
    dout = np.random.default_rng(0).standard_normal(yt.shape).astype(dtype)
    yt.backward(t(dout))
    y, cache = pool_im2col.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    dx = pool_im2col.max_pool2d_backward(dout, cache)
    assert cache[0] == "tiles" and y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    assert abs(dx.sum() - dout.sum()) < 1e-4


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("seed", range(0, 30, 3))
def test_tiles_path_split_over_threads(use_threads, threads, seed):
    """The tiles path split by batch over threads (forced by pool_split_bytes = 0) gives exactly the loops' y and dx,
    batches smaller than the thread count included; and the NaN/tie case still matches torch."""
    use_threads(threads)
    x, args = tiles_case(seed)
    assert pool_im2col.max_pool2d(x, *args)[1][0] == "tiles"
    assert_methods_agree("max_pool2d", x, args, seed, tol=1e-300, tuning=Tuning(pool_split_bytes=0))
    if seed == 0:
        test_tiles_ties_and_nan_like_torch(np.float32)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("seed", range(0, 40, 4))
def test_taps_path_split_over_threads(use_threads, threads, seed):
    """Max pooling through the strided taps (padding, dilation, ceil mode, overlapping windows), split by batch
    over threads (forced by pool_split_bytes = 0): exactly the loops' y and dx."""
    use_threads(threads)
    x, args = random_case(seed, "max")
    assert_methods_agree("max_pool2d", x, args, seed, tuning=Tuning(pool_split_bytes=0))
    if seed == 0:
        test_max_pool_nan_and_inf_like_torch("im2col")
