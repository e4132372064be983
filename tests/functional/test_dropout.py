"""functional.dropout: PyTorch's own masks through our forward and backward, and the statistics of our masks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnumpy.functional import dropout
from tests.util import assert_close, t


def torch_case(seed, dtype, channels=False):
    """x, dout, p, and torch's dropout output and input gradient; the mask is read off torch's output."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 5)) if not channels else 4))
    p = float(rng.choice([0.0, 0.1, 0.5, 0.9, 1.0, rng.uniform(0, 1)]))
    x = rng.uniform(0.5, 2, shape).astype(dtype)     # no zeros, so y == 0 exactly where torch dropped
    dout = rng.standard_normal(shape).astype(dtype)
    torch.manual_seed(seed)
    xt = t(x, grad=True)
    yt = (F.dropout2d if channels else F.dropout)(xt, p, training=True)
    yt.backward(t(dout))
    mask = yt.detach().numpy() != 0
    if channels:
        mask = mask[:, :, :1, :1]    # one entry per (n, c): the whole channel is kept or dropped
        assert np.all((yt.detach().numpy() != 0) == mask)
    return x, dout, p, mask, yt, xt.grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("channels", [False, True])
@pytest.mark.parametrize("seed", range(15))
def test_torch_mask_gives_torch_output_and_gradient(seed, channels, dtype):
    """Same mask, same numbers, bit for bit: y = x * mask / (1 - p) and dx = dout * mask / (1 - p).

    Exact in float32 too, because torch forms the factor mask / (1 - p) in the input's dtype, as we do.
    """
    x, dout, p, mask, yt, dxt = torch_case(seed, dtype, channels)
    y, cache = dropout.dropout(x, mask, p)
    dx = dropout.dropout_backward(dout, cache)
    assert y.dtype == dx.dtype == dtype
    assert_close(f"y (p={p})", y, yt, 0.0)
    assert_close(f"dx (p={p})", dx, dxt, 0.0)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mask_keep_rate_and_scale(p):
    """Each entry kept with probability 1 - p: the keep count is within 5 binomial standard deviations,
    every kept value is scaled by exactly 1 / (1 - p), and the mean of y estimates the mean of x."""
    n = 200_000
    mask = dropout.dropout_mask((n,), p, np.random.default_rng(0))
    assert mask.dtype == np.bool_
    sd = np.sqrt(n * p * (1 - p))
    assert abs(mask.sum() - n * (1 - p)) < 5 * sd, f"kept {mask.sum()} of {n}, expected {n * (1 - p):.0f} +- {sd:.0f}"
    x = np.full(n, 3.0)
    y, _ = dropout.dropout(x, mask, p)
    np.testing.assert_array_equal(np.unique(y), [0.0, 3.0 * (1 / (1 - p))])
    assert abs(y.mean() - 3.0) < 5 * 3.0 * sd / n / (1 - p)


def test_channel_mask_broadcasts_over_the_feature_map():
    rng = np.random.default_rng(1)
    x = rng.uniform(1, 2, (4, 6, 3, 3))
    mask = dropout.dropout_mask((4, 6, 1, 1), 0.5, rng)
    y, cache = dropout.dropout(x, mask, 0.5)
    np.testing.assert_array_equal(y == 0, np.broadcast_to(~mask, x.shape))
    dx = dropout.dropout_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx, np.broadcast_to(2.0 * mask, x.shape))


def test_p_one_gives_zeros_and_p_zero_the_identity():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y, cache = dropout.dropout(x, dropout.dropout_mask(x.shape, 1.0, rng), 1.0)
    assert y.dtype == np.float32 and not y.any() and np.all(np.isfinite(y))
    assert not dropout.dropout_backward(np.ones_like(x), cache).any()
    y, _ = dropout.dropout(x, dropout.dropout_mask(x.shape, 0.0, rng), 0.0)
    np.testing.assert_array_equal(y, x)


def test_same_generator_state_same_mask():
    a = dropout.dropout_mask((5, 7), 0.3, np.random.default_rng(7))
    b = dropout.dropout_mask((5, 7), 0.3, np.random.default_rng(7))
    c = dropout.dropout_mask((5, 7), 0.3, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
