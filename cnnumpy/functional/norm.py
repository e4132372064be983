"""Batch normalisation: normalise each channel by a mean and variance, then scale and shift.

Channels sit on axis 1; the statistics are taken over every other axis, so one
function serves (N, C), (N, C, L) and (N, C, H, W). With m = N * (product of
the axes after C) values per channel:

    mean = (1/m) sum x                  var = (1/m) sum (x - mean)^2      (biased, as PyTorch normalises)
    xhat = (x - mean) / sqrt(var + eps)
    y    = gamma * xhat + beta

In training the mean and variance are the batch's own (from `moments`), so the
gradient flows through them; in evaluation they are the running estimates,
constants of the forward pass.
"""
import numpy as np


def _axes(x):
    """Every axis but the channel axis 1."""
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, ndim):
    """(C,) -> (1, C, 1, ...) so it broadcasts against an ndim-dimensional x."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The batch statistics of each channel: x: (N, C, ...) -> mean: (C,), var: (C,) (biased, divided by m).

    var is the mean of (x - mean)^2, not E[x^2] - mean^2, which cancels badly when mean^2 >> var.
    """
    mean = x.mean(axis=_axes(x))
    var = np.square(x - _per_channel(mean, x.ndim)).mean(axis=_axes(x))
    return mean, var


def batch_norm(x: np.ndarray, mean: np.ndarray, var: np.ndarray, weight: np.ndarray | None = None,
               bias: np.ndarray | None = None, eps: float = 1e-5, training: bool = True) -> tuple[np.ndarray, tuple]:
    """Forward. x: (N, C, ...), mean, var, weight, bias: (C,) -> y: shaped as x. Returns (y, cache).

    training=True says that mean and var are x's own `moments(x)`, so that the
    backward pass differentiates through them; training=False treats them as
    constants (running statistics). weight/bias None means gamma = 1 / beta = 0.
    """
    nd = x.ndim
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - _per_channel(mean, nd)) * _per_channel(inv_std, nd)
    gamma = 1 if weight is None else _per_channel(weight, nd)
    beta = 0 if bias is None else _per_channel(bias, nd)
    y = gamma * xhat + beta
    return y, (xhat, inv_std, weight, bias is not None, training)


def batch_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                        bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: shaped as x -> dx: shaped as x, dweight: (C,) or None, dbias: (C,) or None.

    dbeta = sum dout,  dgamma = sum dout * xhat  (sums over every axis but C).
    Evaluation: mean and var are constants, so dx = gamma * inv_std * dout.
    Training: mean and var depend on x. With dxhat = gamma * dout and S1 = sum dxhat, S2 = sum dxhat * xhat,

        dvar  = sum dxhat * (x - mean) * (-1/2) (var + eps)^(-3/2)  = -(inv_std^2 / 2) * S2
        dmean = -inv_std * S1          (dvar's own term through the mean vanishes: sum (x - mean) = 0)
        dx    = inv_std * dxhat + dvar * 2 (x - mean) / m + dmean / m
              = (inv_std / m) * (m * dxhat - S1 - xhat * S2)

    and since gamma is constant per channel, S1 = gamma * dbeta and S2 = gamma * dgamma:

        dx = (gamma * inv_std / m) * (m * dout - dbeta - xhat * dgamma)

    A gradient not asked for (input_grad, weight_grad or bias_grad False: frozen gamma or beta) comes back as
    None.
    """
    xhat, inv_std, weight, has_bias, training = cache
    nd = dout.ndim
    dbeta = dout.sum(axis=_axes(dout))
    dgamma = (dout * xhat).sum(axis=_axes(dout))
    dweight = dgamma if weight_grad and weight is not None else None
    dbias = dbeta if bias_grad and has_bias else None
    if not input_grad:
        return None, dweight, dbias
    scale = inv_std if weight is None else weight * inv_std  # gamma * inv_std
    if training:
        m = dout.size // dout.shape[1]
        dx = _per_channel(scale / m, nd) * (m * dout - _per_channel(dbeta, nd) - xhat * _per_channel(dgamma, nd))
    else:
        dx = _per_channel(scale, nd) * dout
    return dx, dweight, dbias
