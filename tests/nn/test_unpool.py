"""MaxPool2d(return_indices=True) and MaxUnpool2d against torch.nn: torch's flat indices from every max pooling
method (dilation, padding, ceil mode, ties), unpooling forward and backward, output_size, the numerical gradient,
the methods against the readable loops, and the error messages."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy.functional import methods
from cnnumpy.functional import pool as naive
from cnnumpy import nn
from cnnumpy.nn import MaxPool2d, MaxUnpool2d
from tests.nn.test_pool import MAX_METHODS, distinct, random_pool
from tests.parity import assert_matches_torch

UNPOOL_METHODS = sorted(methods.pool_methods("max_unpool2d"))


def torch_pool(kwargs, x):
    """torch's (y, indices) for MaxPool2d(**kwargs, return_indices=True) on x, as NumPy."""
    y, index = torch.nn.MaxPool2d(**kwargs, return_indices=True)(torch.tensor(x))
    return y.numpy(), index.numpy()


@pytest.mark.parametrize("seed", range(60))
def test_max_pool_indices_equal_torch(seed):
    """Every max pooling method's indices are torch's (int64, flat in the input plane), dilation included; y and
    backward are those of return_indices=False."""
    kwargs, x = random_pool(seed, "max")
    y_ref, i_ref = torch_pool(kwargs, x)
    dout = np.random.default_rng(seed).standard_normal(y_ref.shape)
    for method in MAX_METHODS:
        pool = MaxPool2d(**kwargs, return_indices=True, method=method)
        y, index = pool(x)
        assert index.dtype == np.int64 and index.shape == y.shape
        np.testing.assert_array_equal(index, i_ref, err_msg=f"{method} {kwargs} x {x.shape}")
        np.testing.assert_array_equal(y, y_ref)
        plain = MaxPool2d(**kwargs, method=method)
        plain(x)
        np.testing.assert_array_equal(pool.backward(dout), plain.backward(dout))


@pytest.mark.parametrize("method", MAX_METHODS)
@pytest.mark.parametrize("kwargs, shape", [
    (dict(kernel_size=2), (2, 3, 8, 6)),  # im2col's tiles, numba's 2x2 loops
    (dict(kernel_size=(2, 3)), (1, 2, 7, 10)),  # tiles with rows and columns left over
    (dict(kernel_size=3, stride=2, padding=1, dilation=2), (2, 2, 9, 9)),
    (dict(kernel_size=2, stride=2, ceil_mode=True), (1, 2, 5, 5)),
])
def test_max_pool_indices_on_ties(method, kwargs, shape):
    """Mostly zeros (ReLU'd, quantized): ties in nearly every window, the first maximum's index, as torch."""
    rng = np.random.default_rng(7)
    x = np.maximum(0, np.round(rng.standard_normal(shape) * 2 - 2)) / 4
    _, index = MaxPool2d(**kwargs, return_indices=True, method=method)(x)
    np.testing.assert_array_equal(index, torch_pool(kwargs, x)[1])


def random_unpool(seed):
    """(kernel_size, stride, padding, x, indices, output_size): the pooled y and indices of a random max pooling
    unpooled to the pooled input's size (as MaxUnpool2d is used; output_size given when that is not the default),
    or random distinct indices anywhere in the output plane (torch allows any)."""
    rng = np.random.default_rng(seed)
    kernel, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    pad = int(rng.integers(0, (kernel - 1) // 2 + 1))  # kernel - 2*padding >= 1: the default plane holds y's
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(kernel, 11)),
             int(rng.integers(kernel, 11)))
    source = rng.standard_normal(shape)
    y, index = torch_pool(dict(kernel_size=kernel, stride=stride, padding=pad), source)
    default = tuple((n - 1) * stride - 2 * pad + kernel for n in y.shape[2:])
    fits = all(d - stride < n < d + stride for n, d in zip(shape[2:], default))  # the input's size is allowed
    out_hw = shape[2:] if fits else default
    output_size = None if out_hw == default and seed % 3 else out_hw if seed % 2 else shape[:2] + out_hw
    if seed % 4 == 1 or not fits:  # indices that no pooling made: distinct positions drawn from the whole plane
        index = np.stack([rng.permutation(out_hw[0] * out_hw[1])[:y.shape[2] * y.shape[3]]
                          for _ in range(shape[0] * shape[1])]).reshape(y.shape)
    return kernel, stride, pad, y, index.astype(np.int64), output_size


class WithSize(torch.nn.Module):
    """torch's MaxUnpool2d with a fixed output_size, so that assert_matches_torch can pass it x and indices alone."""

    def __init__(self, unpool, output_size):
        super().__init__()
        self.unpool, self.output_size = unpool, output_size

    def forward(self, x, indices):
        return self.unpool(x, indices, output_size=self.output_size)


def unpool_pair(kernel, stride, pad, output_size, method):
    ours = MaxUnpool2d(kernel, stride, pad, method=method)
    ref = torch.nn.MaxUnpool2d(kernel, stride, pad)
    if output_size is not None:
        forward = ours.forward
        ours.forward = lambda x, indices: forward(x, indices, output_size)
        ref = WithSize(ref, output_size)
    return ours, ref


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("method", UNPOOL_METHODS)
def test_unpool_parity_with_torch_float64(method, seed):
    kernel, stride, pad, y, index, output_size = random_unpool(seed)
    ours, ref = unpool_pair(kernel, stride, pad, output_size, method)
    assert_matches_torch(ours, ref, y, np.float64, tol=0.0, args=(index,),
                         label=f"kernel {kernel} stride {stride} padding {pad} output_size {output_size} x {y.shape}")


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_unpool_parity_with_torch_float32(seed):
    kernel, stride, pad, y, index, output_size = random_unpool(seed)
    ours, ref = unpool_pair(kernel, stride, pad, output_size, "auto")
    assert_matches_torch(ours, ref, y.astype(np.float32), tol=0.0, args=(index,), label=f"seed {seed}")


def test_pool_then_unpool_round_trip():
    """torch's own example: the maxima back in place, zeros elsewhere, output_size resolving the odd width."""
    x = np.arange(1.0, 21.0).reshape(1, 1, 4, 5)
    y, index = MaxPool2d(2, stride=2, return_indices=True)(x)
    z = MaxUnpool2d(2, stride=2)(y, index, output_size=x.shape)
    expected = np.zeros((1, 1, 4, 5))
    expected[0, 0, 1, [1, 3]] = [7, 9]
    expected[0, 0, 3, [1, 3]] = [17, 19]
    np.testing.assert_array_equal(z, expected)


@pytest.mark.parametrize("method", UNPOOL_METHODS)
def test_unpool_gradcheck(method):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 3, 4))
    index = np.stack([rng.permutation(7 * 9)[:12] for _ in range(6)]).reshape(2, 3, 3, 4).astype(np.int64)
    errors = cnnumpy.gradcheck(MaxUnpool2d(3, 2, method=method), x, index)
    assert set(errors) == {"x"} and errors["x"] < 1e-6


@pytest.mark.parametrize("method", MAX_METHODS)
def test_max_pool_with_indices_gradcheck(method):
    """MaxPool2d(return_indices=True) differentiates y alone: the gradient of sum(r * y) through its backward."""
    x = distinct(np.random.default_rng(6), (2, 2, 6, 5))
    pool = MaxPool2d(3, 2, 1, dilation=(1, 2), return_indices=True, method=method).to(np.float64)
    y, _ = pool(x)
    r = np.random.default_rng(7).standard_normal(y.shape)
    dx = pool.backward(r)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        numeric[i] = (np.sum(r * pool(xp)[0]) - np.sum(r * pool(xm)[0])) / (2 * eps)
    assert np.abs(dx - numeric).max() / np.abs(numeric).max() < 1e-6


@pytest.mark.parametrize("seed", range(20))
def test_unpool_methods_agree_with_the_loops(seed):
    """Bit for bit, duplicate indices included (the later in row-major order wins forward; backward gathers)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 3, 3))
    index = rng.integers(0, 12, x.shape)  # a 3x4 output plane: duplicates are likely
    y0, c0 = naive.max_unpool2d(x, index, (3, 4))
    dout = rng.standard_normal(y0.shape)
    for name in UNPOOL_METHODS:
        module = methods.POOL[name].module
        y, cache = module.max_unpool2d(x, index, (3, 4))
        np.testing.assert_array_equal(y, y0, err_msg=name)
        np.testing.assert_array_equal(module.max_unpool2d_backward(dout, cache), naive.max_unpool2d_backward(dout, c0))


def test_unpool_backward_gathers_duplicates_as_torch():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    index = np.array([[[[5, 5], [0, 5]]]])
    dout = np.arange(16.0).reshape(1, 1, 4, 4)
    unpool = MaxUnpool2d(2)
    unpool(x, index)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.MaxUnpool2d(2)(xt, torch.tensor(index)).backward(torch.tensor(dout))
    np.testing.assert_array_equal(unpool.backward(dout), xt.grad.numpy())


def test_modules_look_like_torch():
    for args in ((2,), ((2, 3), 1, 1), (3, 2, (1, 0))):
        ours, ref = MaxUnpool2d(*args), torch.nn.MaxUnpool2d(*args)
        assert repr(ours) == repr(ref)[:-1] + ", method='auto')"
        assert (ours.kernel_size, ours.stride, ours.padding) == (ref.kernel_size, ref.stride, ref.padding)
    assert MaxUnpool2d(3, 2, 1).compute_output_shape((2, 4, 5, 6)) == (2, 4, 9, 11)
    assert MaxPool2d(2, return_indices=True).return_indices is True
    assert repr(MaxPool2d(2, return_indices=True)) == repr(torch.nn.MaxPool2d(2, return_indices=True))[:-1] + \
        ", method='auto')"


# --- bad input ------------------------------------------------------------------------------------------------

def pooled():
    return np.ones((1, 2, 2, 2)), np.zeros((1, 2, 2, 2), np.int64)


@pytest.mark.parametrize("index, error, message", [
    (np.zeros((1, 2, 2, 2), np.int32), TypeError,
     r"indices: expected dtype int64 \(as MaxPool2d\(return_indices=True\) gives\), got int32"),
    (np.zeros((1, 2, 2, 2)), TypeError, r"indices: expected dtype int64 .*, got float64"),
    ([[0]], TypeError, r"indices: expected a numpy.ndarray of int64, got list"),
    (np.zeros((1, 2, 2, 1), np.int64), ValueError,
     r"indices: expected the shape of x \(1, 2, 2, 2\), got \(1, 2, 2, 1\)"),
    (np.full((1, 2, 2, 2), 16, np.int64), ValueError,
     r"indices: expected values in \[0, 16\) \(positions in the 4x4 output plane\), got 16 at \(0, 0, 0, 0\)"),
    (np.array([[[[0, 1], [2, -1]], [[0, 0], [0, 0]]]]), ValueError,
     r"indices: expected values in \[0, 16\) .*, got -1 at \(0, 0, 1, 1\)"),
])
def test_bad_indices(index, error, message):
    with pytest.raises(error, match=message):
        MaxUnpool2d(2)(pooled()[0], index)


@pytest.mark.parametrize("output_size, error, message", [
    ((1, 2, 4), ValueError, r"output_size: expected 2 or 4 sizes, \(H_out, W_out\) or \(N, C, H_out, W_out\), "
                            r"got 3 \(\(1, 2, 4\)\)"),
    ((6, 4), ValueError, r"output_size: expected dim 0 strictly between 2 and 6 \(the default 4 -/\+ stride 2\), "
                         r"got \(6, 4\)"),
    ((4, 2), ValueError, r"output_size: expected dim 1 strictly between 2 and 6 .*, got \(4, 2\)"),
    ((4.0, 4), TypeError, r"output_size: expected a tuple of 2 or 4 ints, e.g. \(8, 8\), got \(4.0, 4\)"),
    ("44", TypeError, r"output_size: expected a tuple of 2 or 4 ints"),
])
def test_bad_output_size(output_size, error, message):
    x, index = pooled()
    with pytest.raises(error, match=message):
        MaxUnpool2d(2)(x, index, output_size)


def test_output_size_accepted_strictly_within_stride():
    x, index = pooled()
    assert MaxUnpool2d(2)(x, index, (5, 3)).shape == (1, 2, 5, 3)
    assert MaxUnpool2d(2)(x, index, (9, 9, 4, 5)).shape == (1, 2, 4, 5)


def test_empty_output_and_bad_arguments():
    with pytest.raises(ValueError, match=r"x: the output would be 0x0 .*expected at least 1x1; got x of shape "
                                         r"\(1, 1, 2, 2\)"):
        MaxUnpool2d(1, padding=1)(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64))
    with pytest.raises(ValueError, match=r"kernel_size: expected values >= 1, got 0"):
        MaxUnpool2d(0)
    with pytest.raises(ValueError, match=r"padding: expected values >= 0, got -1"):
        MaxUnpool2d(2, padding=-1)
    with pytest.raises(ValueError, match=r"method: expected one of \['auto', 'im2col', 'naive'\], got 'numba'"):
        MaxUnpool2d(2, method="numba")
    with pytest.raises(TypeError, match=r"return_indices: expected a bool, got 'yes' \(str\)"):
        MaxPool2d(2, return_indices="yes")
    unpool = MaxUnpool2d(2)
    unpool(*pooled())
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 2, 4, 4\) \(forward's output\), got \(1, 2, 2, 2\)"):
        unpool.backward(np.ones((1, 2, 2, 2)))


class SegNetBlock(nn.Module):
    """SegNet's encoder-decoder step written PyTorch-style: pool with indices, unpool with them (a graph module)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.unpool = nn.MaxUnpool2d(2)
        self.conv3 = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        y, indices = self.pool(self.conv1(x))
        return self.conv3(self.unpool(self.conv2(y), indices, output_size=x.shape[-2:]))


class TorchSegNetBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2, return_indices=True)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.unpool = torch.nn.MaxUnpool2d(2)
        self.conv3 = torch.nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        y, indices = self.pool(self.conv1(x))
        return self.conv3(self.unpool(self.conv2(y), indices, output_size=x.shape[-2:]))


@pytest.mark.parametrize("shape", [(2, 2, 7, 6), (2, 8, 9)])
def test_pool_and_unpool_in_a_graph_module_match_torch(shape):
    """Forward and every gradient of a SegNet step through the graph mechanism, batched and one sample (odd sizes:
    output_size restores them), float64 to 1e-12."""
    x = np.random.default_rng(8).standard_normal(shape)
    assert_matches_torch(SegNetBlock(), TorchSegNetBlock(), x, np.float64, tol=1e-12, label=f"x {shape}")
