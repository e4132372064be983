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


# --- The rest of the family: the same normalisation over other axes ---------------------------------------------
#
# BatchNorm takes its statistics per channel, over (N, H, W). GroupNorm, InstanceNorm and LayerNorm take them per
# sample, over other axes; in each, the axes the statistics run over are the trailing ones once x is reshaped:
#
#     BatchNorm2d      (N, C, H, W)                 one mean per c,       over N, H, W
#     InstanceNorm2d   (N, C, H, W) -> (N*C, H*W)   one mean per (n, c),  over H, W
#     GroupNorm        (N, C, ...)  -> (N*G, C/G*...) one mean per (n, g), over the group's channels and positions
#     LayerNorm        (..., *shape) -> (rows, prod(shape))  one mean per row, over normalized_shape
#
# A (rows, m) array viewed as (1, rows, m) is a batch of one with `rows` channels: BatchNorm's own moments,
# forward and backward (without gamma and beta) are exactly the normalisation each row needs. The affine step
# differs (per channel for GroupNorm and InstanceNorm, per element of normalized_shape for LayerNorm), so it is
# done outside, once per layer.


def row_moments(x: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """x viewed as (rows, m), m = x.size // rows -> mean, var: (rows,), each row's mean and biased variance."""
    return moments(x.reshape(1, rows, -1))


def normalize(x: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """x viewed as (rows, m), mean, var: (rows,) from row_moments -> xhat shaped as x, cache.

    xhat = (x - mean_row) / sqrt(var_row + eps): batch_norm in training on the view (1, rows, m).
    """
    _, cache = batch_norm(x.reshape(1, mean.size, -1), mean, var, eps=eps, training=True)
    return cache[0].reshape(x.shape), cache  # cache[0] is batch_norm's xhat: no copy


def normalize_backward(dxhat: np.ndarray, cache: tuple) -> np.ndarray:
    """dxhat: dL/dxhat shaped as x -> dx shaped as x; per row, with r = 1 / sqrt(var + eps) and means over the row,

        dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

    (batch_norm_backward with gamma = 1 on the view (1, rows, m)).
    """
    rows = cache[0].shape[1]
    dx, _, _ = batch_norm_backward(dxhat.reshape(1, rows, -1), cache, weight_grad=False, bias_grad=False)
    return dx.reshape(dxhat.shape)


def group_norm(x: np.ndarray, num_groups: int, weight: np.ndarray | None = None, bias: np.ndarray | None = None,
               eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Forward. x: (N, C, ...), weight, bias: (C,) or None -> y: shaped as x. Returns (y, cache).

    The C channels are split into num_groups groups of C/G consecutive channels; each sample's group is
    normalised by its own mean and biased variance (over its channels and positions), then
    y = gamma_c * xhat + beta_c per channel. Training and evaluation compute the same thing.
    """
    mean, var = row_moments(x, x.shape[0] * num_groups)
    xhat, ncache = normalize(x, mean, var, eps)
    y = _channel_affine(xhat, weight, bias)
    return y, (xhat, ncache, weight, bias is not None)


def group_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                        bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: shaped as x -> dx: shaped as x (None if not input_grad), dweight, dbias: (C,) or None.

    dbeta_c = sum dout, dgamma_c = sum dout * xhat (over every axis but C); dxhat = gamma_c * dout, then
    normalize_backward over each (sample, group).
    """
    xhat, ncache, weight, has_bias = cache
    return _channel_affine_backward(dout, xhat, weight, has_bias, input_grad, weight_grad, bias_grad,
                                    lambda dxhat: normalize_backward(dxhat, ncache))


def instance_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: (N, C, ...) -> mean, var: (N, C): each sample's channel statistics over its positions (biased var)."""
    mean, var = row_moments(x, x.shape[0] * x.shape[1])
    return mean.reshape(x.shape[:2]), var.reshape(x.shape[:2])


def instance_norm(x: np.ndarray, mean: np.ndarray, var: np.ndarray, weight: np.ndarray | None = None,
                  bias: np.ndarray | None = None, eps: float = 1e-5,
                  use_input_stats: bool = True) -> tuple[np.ndarray, tuple]:
    """Forward. x: (N, C, ...), weight, bias: (C,) or None -> y: shaped as x. Returns (y, cache).

    use_input_stats=True: mean, var: (N, C) are x's own `instance_moments(x)`, and each (n, c) plane is
    normalised by its own statistics (GroupNorm with one channel per group). use_input_stats=False: mean, var:
    (C,) are running estimates, constants, and the layer is batch_norm in evaluation.
    y = gamma_c * xhat + beta_c.
    """
    if not use_input_stats:
        y, bcache = batch_norm(x, mean, var, weight, bias, eps, training=False)
        return y, (False, bcache)
    xhat, ncache = normalize(x, mean.ravel(), var.ravel(), eps)
    return _channel_affine(xhat, weight, bias), (True, (xhat, ncache, weight, bias is not None))


def instance_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                           bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: shaped as x -> dx (None if not input_grad), dweight, dbias: (C,) or None.

    With the input's statistics, group_norm_backward's formula with one channel per group; with running ones,
    batch_norm_backward in evaluation (dx = gamma * dout / sqrt(running_var + eps)).
    """
    use_input_stats, inner = cache
    if not use_input_stats:
        return batch_norm_backward(dout, inner, input_grad, weight_grad, bias_grad)
    return group_norm_backward(dout, inner, input_grad, weight_grad, bias_grad)


def layer_norm(x: np.ndarray, normalized_ndim: int, weight: np.ndarray | None = None,
               bias: np.ndarray | None = None, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Forward. x: (..., *S) with S = normalized_shape of normalized_ndim axes, weight, bias: S or None
    -> y: shaped as x. Returns (y, cache).

    Each row (one index of the leading axes) is normalised over its last normalized_ndim axes, then
    y = gamma * xhat + beta elementwise over S (weight and bias broadcast against the trailing axes).
    """
    rows = x.size // max(int(np.prod(x.shape[x.ndim - normalized_ndim:])), 1)
    mean, var = row_moments(x, rows)
    xhat, ncache = normalize(x, mean, var, eps)
    # a new array even without gamma and beta: an in-place change of y must not reach the cached xhat
    y = xhat.copy() if weight is None else xhat * weight
    if bias is not None:
        y += bias
    return y, (xhat, ncache, normalized_ndim, weight, bias is not None)


def layer_norm_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                        bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: shaped as x -> dx (None if not input_grad), dweight, dbias: shaped as S or None.

    dbeta = sum dout, dgamma = sum dout * xhat, both over the leading axes; dxhat = gamma * dout, then
    normalize_backward over each row.
    """
    xhat, ncache, normalized_ndim, weight, has_bias = cache
    lead = tuple(range(dout.ndim - normalized_ndim))
    dweight = (dout * xhat).sum(axis=lead) if weight_grad and weight is not None else None
    dbias = dout.sum(axis=lead) if bias_grad and has_bias else None
    if not input_grad:
        return None, dweight, dbias
    return normalize_backward(dout if weight is None else dout * weight, ncache), dweight, dbias


def _channel_affine(xhat, weight, bias):
    """y = gamma_c * xhat + beta_c over axis 1 (None: gamma = 1, beta = 0)."""
    # a new array even without gamma and beta: an in-place change of y must not reach the cached xhat
    y = xhat.copy() if weight is None else xhat * _per_channel(weight, xhat.ndim)
    if bias is not None:
        y += _per_channel(bias, xhat.ndim)
    return y


def _channel_affine_backward(dout, xhat, weight, has_bias, input_grad, weight_grad, bias_grad, xhat_backward):
    """The per-channel affine step's gradients, and dx from dxhat = gamma_c * dout through xhat_backward."""
    dweight = (dout * xhat).sum(axis=_axes(dout)) if weight_grad and weight is not None else None
    dbias = dout.sum(axis=_axes(dout)) if bias_grad and has_bias else None
    if not input_grad:
        return None, dweight, dbias
    dxhat = dout if weight is None else dout * _per_channel(weight, dout.ndim)
    return xhat_backward(dxhat), dweight, dbias
