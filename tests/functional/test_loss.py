"""functional.loss: log-softmax, cross-entropy (label smoothing, reductions) and MSE against PyTorch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnumpy.functional import loss
from tests.util import assert_close, t

REDUCTIONS = ["mean", "sum", "none"]


def ce_case(seed, dtype=np.float64, scale=None):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 9)), int(rng.integers(1, 12))
    scale = scale if scale is not None else float(rng.choice([0.1, 1, 10, 100]))
    logits = (rng.standard_normal((n, k)) * scale).astype(dtype)
    target = rng.integers(0, k, n)
    eps = float(rng.choice([0.0, 0.1, 1.0, rng.uniform(0, 1)]))
    return logits, target, eps, rng


def torch_ce(logits, target, reduction, eps, dout):
    zt = t(logits, grad=True)
    out = F.cross_entropy(zt, torch.from_numpy(target), reduction=reduction, label_smoothing=eps)
    out.backward(t(dout))
    return out, zt.grad


@pytest.mark.parametrize("seed", range(10))
def test_log_softmax_matches_torch_and_sums_to_one(seed):
    z, *_ = ce_case(seed)
    logp = loss.log_softmax(z)
    assert_close("log_softmax", logp, torch.log_softmax(t(z), dim=1), 1e-14)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_of_huge_logits_is_finite(dtype):
    """exp(1e4) overflows even float64; subtracting the row max first keeps every exponent <= 0."""
    z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4 - 1], [-1e4, -1e4, -1e4]], dtype=dtype)
    logp = loss.log_softmax(z)
    assert logp.dtype == dtype and np.all(np.isfinite(logp))
    assert_close("log_softmax", logp, torch.log_softmax(t(z), dim=1), 1e-7 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(20))
def test_cross_entropy_matches_torch_float64(seed, reduction):
    logits, target, eps, rng = ce_case(seed)
    out, cache = loss.cross_entropy(logits, target, reduction, eps)
    dout = rng.standard_normal(np.shape(out))
    dz = loss.cross_entropy_backward(dout, cache)
    ref, dref = torch_ce(logits, target, reduction, eps, dout)
    assert_close(f"loss ({reduction}, eps={eps})", out, ref, 1e-13)
    assert_close(f"dlogits ({reduction}, eps={eps})", dz, dref, 1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(10))
def test_cross_entropy_matches_torch_float32(seed, reduction):
    """float32 in both: loss and gradient within 2e-6 relative to their scale (logits up to ~300)."""
    logits, target, eps, rng = ce_case(seed, np.float32)
    out, cache = loss.cross_entropy(logits, target, reduction, eps)
    dout = rng.standard_normal(np.shape(out)).astype(np.float32)
    dz = loss.cross_entropy_backward(dout, cache)
    assert np.asarray(out).dtype == dz.dtype == np.float32
    ref, dref = torch_ce(logits, target, reduction, eps, dout)
    assert_close("loss", out, ref, 2e-6)
    assert_close("dlogits", dz, dref, 2e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_of_huge_logits_is_finite_and_equals_torch(dtype, eps):
    rng = np.random.default_rng(0)
    logits = (rng.choice([-1, 1], (6, 5)) * rng.uniform(0.5, 1, (6, 5)) * 1e4).astype(dtype)
    target = rng.integers(0, 5, 6)
    out, cache = loss.cross_entropy(logits, target, "none", eps)
    dz = loss.cross_entropy_backward(np.ones(6, dtype=dtype), cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dz))
    ref, dref = torch_ce(logits, target, "none", eps, np.ones(6, dtype=dtype))
    tol = 1e-6 if dtype == np.float32 else 1e-15
    assert_close("loss", out, ref, tol)
    assert_close("dlogits", dz, dref, tol)


def test_label_smoothing_is_the_cross_entropy_with_the_smoothed_target():
    """loss = -sum_k q_k log p_k with q = (1 - eps) onehot + eps / K; gradient = p - q per sample."""
    logits, target, _, _ = ce_case(4)
    n, k = logits.shape
    eps = 0.3
    q = (1 - eps) * np.eye(k)[target] + eps / k
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out, cache = loss.cross_entropy(logits, target, "none", eps)
    assert_close("loss", out, -(q * np.log(p)).sum(axis=1), 1e-12)
    assert_close("dlogits", loss.cross_entropy_backward(np.ones(n), cache), p - q, 1e-12)


def test_reductions_are_related():
    logits, target, eps, _ = ce_case(5)
    per_sample, _ = loss.cross_entropy(logits, target, "none", eps)
    total, _ = loss.cross_entropy(logits, target, "sum", eps)
    mean, _ = loss.cross_entropy(logits, target, "mean", eps)
    assert per_sample.shape == (logits.shape[0],) and np.ndim(total) == np.ndim(mean) == 0
    np.testing.assert_allclose([total, mean], [per_sample.sum(), per_sample.sum() / logits.shape[0]], rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(8))
def test_mse_matches_torch(seed, reduction, dtype):
    """float64 to 1e-14, float32 to 1e-6 relative to the result's scale."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 5))))
    x, y = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    out, cache = loss.mse_loss(x, y, reduction)
    dout = rng.standard_normal(np.shape(out)).astype(dtype)
    dx = loss.mse_loss_backward(dout, cache)
    assert np.asarray(out).dtype == dx.dtype == dtype
    xt = t(x, grad=True)
    ref = F.mse_loss(xt, t(y), reduction=reduction)
    ref.backward(t(dout))
    tol = 1e-14 if dtype == np.float64 else 1e-6
    assert_close("loss", out, ref, tol)
    assert_close("dx", dx, xt.grad, tol)


@pytest.mark.parametrize("seed", range(6))
def test_cross_entropy_is_nll_of_log_softmax_with_weights_and_ignores(seed):
    """Without smoothing, cross_entropy = nll_loss(log_softmax(z)), loss and gradient (the chain written out:
    dz = g - p sum_c g with g nll's gradient), on (N, C, d1, d2) logits."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((3, 4, 2, 5))
    target = rng.integers(-1, 4, (3, 2, 5))  # -1: ignored
    w = rng.uniform(0.1, 2, 4)
    for reduction in REDUCTIONS:
        out, cache = loss.cross_entropy(z, target, reduction, weight=w, ignore_index=-1)
        logp = loss.log_softmax(z)
        ref, ncache = loss.nll_loss(logp, target, reduction, weight=w, ignore_index=-1)
        dout = rng.standard_normal(np.shape(out))
        g = loss.nll_loss_backward(dout, ncache)
        np.testing.assert_allclose(out, ref, rtol=1e-14)
        np.testing.assert_allclose(loss.cross_entropy_backward(dout, cache),
                                   g - np.exp(logp) * g.sum(axis=1, keepdims=True), rtol=1e-13, atol=1e-16)
        zt = t(logp, grad=True)
        F.nll_loss(zt, torch.from_numpy(target), weight=t(w), ignore_index=-1, reduction=reduction).backward(t(dout))
        assert_close("nll dx", g, zt.grad, 1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_losses_keep_the_dtype(dtype):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4)).astype(dtype), rng.random((3, 4)).astype(dtype)
    for fn, back, args in ((loss.l1_loss, loss.l1_loss_backward, ()),
                           (loss.smooth_l1_loss, loss.smooth_l1_loss_backward, (0.5,)),
                           (loss.huber_loss, loss.huber_loss_backward, (2.0,))):
        out, cache = fn(x, y, "mean", *args)
        assert np.asarray(out).dtype == back(1.0, cache).dtype == dtype, fn.__name__
    for fn, back in ((loss.binary_cross_entropy, loss.binary_cross_entropy_backward),
                     (loss.binary_cross_entropy_with_logits, loss.binary_cross_entropy_with_logits_backward)):
        out, cache = fn(y if fn is loss.binary_cross_entropy else x, y)
        assert np.asarray(out).dtype == back(1.0, cache).dtype == dtype, fn.__name__


@pytest.mark.parametrize("n, reduction, eps", [(48, "mean", 0.0), (7, "mean", 0.1), (64, "sum", 0.0), (5, "none", 0.2)])
def test_plain_cross_entropy_backward_is_the_textbook_formula_to_the_bit(n, reduction, eps):
    """Without class weights or ignored targets, dlogits is exactly dout * (softmax(z) - q) [/ N], q the smoothed
    one-hot, in that order of operations: training runs (README's) keep their numbers across refactors."""
    rng = np.random.default_rng(n)
    z = (5 * rng.standard_normal((n, 10))).astype(np.float32)
    t = rng.integers(0, 10, n)
    _, cache = loss.cross_entropy(z, t, reduction, label_smoothing=eps)
    dout = np.float32(1.0) if reduction != "none" else rng.standard_normal(n).astype(np.float32)
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    g = np.exp(logp)
    g[np.arange(n), t] -= 1 - eps
    g -= eps / 10
    scale = dout / np.float32(n) if reduction == "mean" else (dout[:, None] if reduction == "none" else dout)
    np.testing.assert_array_equal(loss.cross_entropy_backward(dout, cache), g * scale)
