"""Losses: softmax cross-entropy (with label smoothing) and mean squared error.

Cross-entropy of logits z: (N, K) against class indices t: (N,), with the
log-softmax computed by the log-sum-exp trick so that logits of size 1e4 neither
overflow exp nor lose the answer:

    log p[n, k] = z[n, k] - max_j z[n, j] - log sum_j exp(z[n, j] - max_j z[n, j])

Label smoothing eps (PyTorch's definition) mixes the one-hot target with the
uniform distribution, q = (1 - eps) * onehot(t) + eps / K, and

    loss[n] = -sum_k q[n, k] log p[n, k] = (1 - eps) * (-log p[n, t_n]) + eps * mean_k(-log p[n, k])

Because sum_k q[n, k] = 1, the gradient is the textbook one:

    dloss[n] / dz[n, k] = p[n, k] - q[n, k]

Mean squared error of x against a target of the same shape: loss = mean((x - target)^2),
dloss/dx = 2 * (x - target) / x.size.

reduction: "mean" (divide the sum by N, or by x.size for MSE), "sum", or "none" (the
per-sample (N,) vector, or the elementwise array for MSE).
"""
import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_sample, reduction):
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _scale(dout, reduction, n, like):
    """d(reduced loss)/d(per-sample loss) in like's dtype, shaped to broadcast against `like`."""
    dout = np.asarray(dout, dtype=like.dtype)
    if reduction == "none":
        return dout.reshape(dout.shape + (1,) * (like.ndim - dout.ndim))
    return dout / n if reduction == "mean" else dout


def log_softmax(z: np.ndarray) -> np.ndarray:
    """z: (N, K) -> log p: (N, K), by log-sum-exp (subtracting the row max keeps exp in range)."""
    with np.errstate(over="ignore"):  # a shift past the dtype's range gives -inf: exp 0, log p = -inf, the limits
        shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits: np.ndarray, target: np.ndarray, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. logits: (N, K) float, target: (N,) ints in [0, K) -> loss: scalar, or (N,) for "none".

    Returns (loss, cache); the loss has the logits' dtype.
    """
    logp = log_softmax(logits)
    nll = -logp[np.arange(len(target)), target]
    eps = label_smoothing
    # without smoothing, the uniform term is left out, as in PyTorch: a logit of -inf (or one that overflowed
    # the shift to -inf) has log p = -inf, and 0 * -inf would make a loss of inf (or a finite one) NaN
    per_sample = nll if eps == 0 else (1 - eps) * nll - eps * logp.mean(axis=1)
    return _reduce(per_sample, reduction), (logp, target, eps, reduction)


def cross_entropy_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    """dout: scalar (mean, sum) or (N,) (none) -> dlogits: (N, K) = dout * (softmax(z) - q) [/ N for mean]."""
    logp, target, eps, reduction = cache
    n, k = logp.shape
    g = np.exp(logp)
    g[np.arange(n), target] -= 1 - eps
    g -= eps / k
    return g * _scale(dout, reduction, n, g)


def mse_loss(x: np.ndarray, target: np.ndarray, reduction: str = "mean") -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. x, target: the same shape -> loss = mean (or sum, or elementwise) of (x - target)^2.

    Returns (loss, cache); "mean" divides by the number of elements, as PyTorch does.
    """
    diff = x - target
    return _reduce(np.square(diff), reduction), (diff, reduction)


def mse_loss_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    """dout: scalar (mean, sum) or shaped as x (none) -> dx = 2 * (x - target) * dout [/ numel for mean]."""
    diff, reduction = cache
    return 2 * diff * _scale(dout, reduction, diff.size, diff)
