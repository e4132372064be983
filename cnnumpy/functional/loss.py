"""Losses as torch's: softmax cross-entropy and negative log-likelihood, then the elementwise ones.

Shapes: logits z: (N, C) or (N, C, d1, ..., dk) (a class axis 1, e.g. one score per pixel); a target of class
indices t: (N,) or (N, d1, ..., dk), or of class probabilities: z's shape. Every sum over "elements" below runs
over n and the positions d; a loss module turns unbatched (C,) input into (1, C) before calling here.

The log-softmax is computed by the log-sum-exp trick, so that logits of size 1e4 neither overflow exp nor lose
the answer:

    log p[n, k] = z[n, k] - max_j z[n, j] - log sum_j exp(z[n, j] - max_j z[n, j])

Class indices, with class weights w (ones by default), ignore_index and label smoothing eps (torch's definition):
an element whose target is ignore_index contributes 0 and weighs 0; for the others

    loss[n] = (1 - eps) * w[t_n] * (-log p[n, t_n]) + eps / C * sum_k w[k] * (-log p[n, k])

and "mean" divides the sum by W = sum_n w[t_n] over the elements not ignored (the number of them without
weights), as torch does; W = 0 (every element ignored) gives NaN, as torch's. Without weights the smoothed
target q = (1 - eps) * onehot(t) + eps / C sums to 1, and the gradient is the textbook one,
dloss[n]/dz[n, k] = p[n, k] - q[n, k]. In general write g = dloss/dlog p (what the two terms give directly):

    g[n, k] = -((1 - eps) * w[t_n] * [k = t_n] + eps / C * w[k]) * a[n],   a[n] = dout[n] (/ W for "mean")
    dz[n, k] = g[n, k] - p[n, k] * sum_j g[n, j]               (the backward of log-softmax)

Class probabilities q (smoothed: q (1 - eps) + eps / C): loss[n] = -sum_k w[k] q[n, k] log p[n, k], "mean"
divides by the number of elements (N d1 ... dk), not by the weights; g[n, k] = -w[k] q[n, k] a[n], and dz as
above. ignore_index does not apply (torch refuses it for probability targets).

NLL: the input is log-probabilities x; loss[n] = -w[t_n] x[n, t_n], with ignore_index and the "mean" over W as
for cross-entropy; dx[n, t_n] = -w[t_n] a[n], zero elsewhere.

reduction: "mean", "sum", or "none" (the per-element (N, d1, ...) array).
The elementwise losses (input and target of one shape, "mean" over all elements) follow cross-entropy below.
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
    """d(reduced loss)/d(per-element loss) in like's dtype, shaped to broadcast against `like`."""
    dout = np.asarray(dout, dtype=like.dtype)
    if reduction == "none":
        return dout.reshape(dout.shape + (1,) * (like.ndim - dout.ndim))
    with np.errstate(divide="ignore", invalid="ignore"):  # n = 0 (all ignored): torch's inf and NaN
        return dout / n if reduction == "mean" else dout


def _classes(x):
    """The shape that broadcasts a (C,) vector along axis 1 of x: (1, C, 1, ..., 1)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """z: (N, C, ...) -> log p: the same shape, over axis 1, by log-sum-exp (the max shift keeps exp in range)."""
    with np.errstate(over="ignore"):  # a shift past the dtype's range gives -inf: exp 0, log p = -inf, the limits
        shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _targets(target, c, weight, ignore_index, dtype):
    """Class indices -> (t: safe indices (ignored ones -> 0), ignored mask or None, w[t]: 0 where ignored)."""
    ignored = target == ignore_index
    if not ignored.any():
        ignored = None
        t = target
    else:
        t = np.where(ignored, 0, target)
    w = np.ones(c, dtype) if weight is None else weight.astype(dtype, copy=False)
    wt = w[t]
    if ignored is not None:
        wt[ignored] = 0
    return t, ignored, wt


def _masked(values, ignored):
    """values with 0 where the target is ignored (not 0 * values: a masked -inf must give 0, not NaN)."""
    return values if ignored is None else np.where(ignored, 0, values)


def _pick(x, t):
    """x[n, t[n, d...], d...]: (N, C, ...) and (N, ...) -> (N, ...)."""
    return np.take_along_axis(x, t[:, None], axis=1)[:, 0]


def nll_loss(x: np.ndarray, target: np.ndarray, reduction: str = "mean", *, weight: np.ndarray | None = None,
             ignore_index: int = -100) -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. x: (N, C, ...) log-probabilities, target: (N, ...) ints -> loss: scalar, or (N, ...) for "none".

    loss[n] = -w[t_n] x[n, t_n] (0 where t_n = ignore_index); "mean" divides the sum by W = sum of those w[t_n].
    Returns (loss, cache); the loss has x's dtype.
    """
    t, ignored, wt = _targets(target, x.shape[1], weight, ignore_index, x.dtype)
    per = _masked(-wt * _pick(x, t), ignored)
    total = wt.sum()
    with np.errstate(invalid="ignore", divide="ignore"):  # W = 0: NaN, as torch
        out = per.sum() / total if reduction == "mean" else _reduce(per, reduction)
    return out, (x.shape, x.dtype, t, ignored, wt, total, reduction)


def nll_loss_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    """dout: scalar (mean, sum) or (N, ...) (none) -> dx: (N, C, ...), -w[t_n] dout[n] (/ W) at (n, t_n), else 0."""
    shape, dtype, t, ignored, wt, total, reduction = cache
    a = _scale(dout, reduction, total, wt)
    dx = np.zeros(shape, dtype)
    np.put_along_axis(dx, t[:, None], _masked(-wt * a, ignored)[:, None], axis=1)
    return dx


def cross_entropy(logits: np.ndarray, target: np.ndarray, reduction: str = "mean", label_smoothing: float = 0.0,
                  *, weight: np.ndarray | None = None, ignore_index: int = -100) -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. logits: (N, C, ...) float; target: (N, ...) class indices, or class probabilities of logits'
    shape (floating) -> loss: scalar, or (N, ...) for "none". weight: (C,) or None.

    Returns (loss, cache); the loss has the logits' dtype.
    """
    logp = log_softmax(logits)
    c, eps = logits.shape[1], label_smoothing
    if target.shape == logits.shape:  # class probabilities
        q = target.astype(logits.dtype, copy=False)
        if eps > 0:
            q = q * (1 - eps) + eps / c
        wq = q if weight is None else q * weight.astype(logits.dtype, copy=False).reshape(_classes(logits))
        per = -(logp * wq).sum(axis=1)
        count = per.size  # "mean" divides by the number of elements, whatever the weights
        out = per.sum() / count if reduction == "mean" else _reduce(per, reduction)
        return out, ("probabilities", logp, wq, count, reduction)
    out, nll = nll_loss(logp, target, reduction, weight=weight, ignore_index=ignore_index)
    if eps == 0:
        # no uniform term at all without smoothing, as in torch: a logit of -inf (or one whose shift overflowed to
        # -inf) has log p = -inf, and 0 * -inf would turn a loss of inf (or a finite one) into NaN
        return out, ("indices", logp, nll, eps, weight)
    _, _, t, ignored, wt, total, _ = nll
    w = 1 if weight is None else weight.astype(logits.dtype, copy=False).reshape(_classes(logits))
    smooth = _masked(-(logp * w).sum(axis=1), ignored)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = smooth.sum() / total if reduction == "mean" else _reduce(smooth, reduction)
    # torch reduces the two terms apart and then mixes them: the same NaN and inf wherever a term has one
    return (1 - eps) * out + smooth * (eps / c), ("indices", logp, nll, eps, weight)


def cross_entropy_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    """dout: scalar (mean, sum) or (N, ...) (none) -> dlogits: (N, C, ...) = g - p * sum_k g[:, k], where g is
    dloss/dlog p: for class indices without weights nor ignored targets, dout * (p - q) [/ N for "mean"]."""
    if cache[0] == "probabilities":
        _, logp, wq, count, reduction = cache
        a = _scale(dout, reduction, count, logp[:, 0])
        g = -wq * (a[:, None] if a.ndim else a)
    else:
        _, logp, nll, eps, weight = cache
        _, _, t, ignored, _, total, reduction = nll
        if weight is None and ignored is None and logp.ndim == 2:
            # the textbook case, dout * (p - q) [/ N], q the smoothed one-hot: one pass over the logits
            n, k = logp.shape
            g = np.exp(logp)
            g[np.arange(n), t] -= 1 - eps
            g -= eps / k
            return g * _scale(dout, reduction, total, g)
        g = nll_loss_backward(dout, nll)
        if eps:
            g *= 1 - eps
            _, _, t, ignored, wt, total, reduction = nll
            a = _masked(_scale(dout, reduction, total, wt), ignored)
            a = np.broadcast_to(a, wt.shape)[:, None]  # (N, 1, d1, ...): the same for every class
            w = 1 if weight is None else weight.astype(logp.dtype, copy=False).reshape(_classes(logp))
            g -= (eps / logp.shape[1]) * w * a
    return g - np.exp(logp) * g.sum(axis=1, keepdims=True)


# --- elementwise losses: x and target of one shape; "mean" divides by x.size -------------------------------------

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


def l1_loss(x: np.ndarray, target: np.ndarray, reduction: str = "mean") -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. loss = |x - target| (reduced); dx = sign(x - target) * dout, 0 where x = target (as torch)."""
    diff = x - target
    return _reduce(np.abs(diff), reduction), (diff, reduction)


def l1_loss_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    diff, reduction = cache
    return np.sign(diff) * _scale(dout, reduction, diff.size, diff)


def smooth_l1_loss(x: np.ndarray, target: np.ndarray, reduction: str = "mean",
                   beta: float = 1.0) -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. d = x - target: loss = 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (beta = 0: |d|).

    dx = d / beta inside, sign(d) outside: the quadratic's slope meets the line's at |d| = beta.
    """
    if beta == 0:  # torch's l1_loss: the quadratic piece has no width left
        return l1_loss(x, target, reduction)[0], (x - target, reduction, beta)
    diff = x - target
    z = np.abs(diff)
    return _reduce(np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta), reduction), (diff, reduction, beta)


def smooth_l1_loss_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    diff, reduction, beta = cache
    slope = np.sign(diff) if beta == 0 else np.where(diff < -beta, -1, np.where(diff > beta, 1, diff / beta))
    return slope.astype(diff.dtype, copy=False) * _scale(dout, reduction, diff.size, diff)


def huber_loss(x: np.ndarray, target: np.ndarray, reduction: str = "mean",
               delta: float = 1.0) -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. d = x - target: loss = 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere
    (= delta * smooth_l1 with beta = delta). dx = d inside, delta * sign(d) outside."""
    diff = x - target
    z = np.abs(diff)
    return _reduce(np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta)), reduction), (diff, reduction, delta)


def huber_loss_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    diff, reduction, delta = cache
    slope = np.clip(diff, -delta, delta)
    return slope * _scale(dout, reduction, diff.size, diff)


def binary_cross_entropy(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                         reduction: str = "mean") -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. x: probabilities in [0, 1], target y: x's shape, weight: broadcastable to it ->

        loss = -w * (y * max(log x, -100) + (1 - y) * max(log(1 - x), -100))

    The logs are clamped at -100, as torch's, so that x = 0 or 1 gives a finite loss (100 per element at worst).
    """
    with np.errstate(divide="ignore"):  # log 0 = -inf, clamped next
        per = (target - 1) * np.maximum(np.log1p(-x), -100) - target * np.maximum(np.log(x), -100)
    if weight is not None:
        per = per * weight
    return _reduce(per, reduction), (x, target, weight, reduction)


def binary_cross_entropy_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    """dx = w * dout * (x - y) / max(x (1 - x), 1e-12): dloss/dx = -y/x + (1 - y)/(1 - x) on one denominator,
    which torch keeps at least 1e-12 (so x = 0 or 1 gives a large finite slope, not a division by zero)."""
    x, y, weight, reduction = cache
    # torch's floor is the float32 number nearest 1e-12 (9.99999996e-13), in float64 too: the same 1e12-ish slopes
    floor = np.asarray(np.float32(1e-12), dtype=x.dtype)
    dx = (x - y) / np.maximum((1 - x) * x, floor) * _scale(dout, reduction, x.size, x)
    return dx if weight is None else dx * weight


def binary_cross_entropy_with_logits(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                                     reduction: str = "mean", pos_weight: np.ndarray | None = None
                                     ) -> tuple[np.floating | np.ndarray, tuple]:
    """Forward. x: logits, y: x's shape, pos_weight (broadcastable; often (C,)) weighs the positive term:

        loss = w * ((1 - y) x - (1 + (pos_weight - 1) y) * log sigmoid(x))

    (without pos_weight, the BCE of sigmoid(x)), with log sigmoid(x) = min(x, 0) - log(1 + exp(-|x|)): exp of
    a negative number only, so logits of +-1000 give exact finite losses where sigmoid then log would give log 0.
    """
    log_sig = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    per = (1 - target) * x - log_sig
    if weight is not None:
        per = per * weight
    return _reduce(per, reduction), (x, target, weight, pos_weight, reduction)


def binary_cross_entropy_with_logits_backward(dout: float | np.ndarray, cache: tuple) -> np.ndarray:
    """dx = w * dout * ((pos_weight y + 1 - y) sigmoid(x) - pos_weight y); without pos_weight, sigmoid(x) - y."""
    x, y, weight, pos_weight, reduction = cache
    with np.errstate(over="ignore"):  # exp(1000) = inf: sigmoid 0, its limit
        s = 1 / (1 + np.exp(-x))
    if pos_weight is None:
        g = s - y
    else:
        py = pos_weight * y
        g = (py + 1 - y) * s - py
    dx = g * _scale(dout, reduction, x.size, x)
    return dx if weight is None else dx * weight
