"""functional.lrn: the window sum against its definition, local_response_norm forward and backward against
PyTorch's F.local_response_norm (float64 and float32, dtype kept)."""
import numpy as np
import pytest
import torch.nn.functional as F

from cnnumpy.functional import lrn
from tests.util import assert_close, t


@pytest.mark.parametrize("seed", range(10))
def test_window_sum_is_the_definition(seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2, int(rng.integers(1, 8)), 3))
    before, after = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    out = lrn.window_sum(a, before, after)
    c = a.shape[1]
    for j in range(c):
        lo, hi = max(j - before, 0), min(j + after, c - 1)
        np.testing.assert_allclose(out[:, j], a[:, lo:hi + 1].sum(axis=1), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("seed", range(20))
def test_matches_torch(seed, dtype, tol):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 9))
    alpha, beta, k = float(rng.uniform(1e-4, 3)), float(rng.uniform(0.1, 2)), float(rng.uniform(0.5, 3))
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 10))) + tuple(
        int(s) for s in rng.integers(1, 4, int(rng.integers(1, 4))))
    x, dout = (rng.standard_normal(shape) * 2).astype(dtype), rng.standard_normal(shape).astype(dtype)
    y, cache = lrn.local_response_norm(x, size, alpha, beta, k)
    dx = lrn.local_response_norm_backward(dout, cache)
    assert y.dtype == dx.dtype == dtype
    xt = t(x, grad=True)
    yt = F.local_response_norm(xt, size, alpha, beta, k)
    yt.backward(t(dout))
    label = f"size={size} alpha={alpha:.3g} beta={beta:.3g} k={k:.3g} x{shape}"
    assert_close("y " + label, y, yt, tol)
    assert_close("dx " + label, dx, xt.grad, tol)
