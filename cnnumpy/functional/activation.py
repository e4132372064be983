"""Activation functions as forward/backward pairs: elementwise (relu, leaky_relu, sigmoid, tanh)
and along one axis (softmax, log_softmax).

Every forward takes x of any shape and returns (y, cache) with y of x's shape and dtype; every
backward takes dout of y's shape and returns dx = dL/dx. An elementwise y = f(x) has the diagonal
Jacobian f'(x), so dx = dout * f'(x); softmax couples the entries along `dim`, see its docstring.
"""
import math

import numpy as np


def relu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = max(x, 0). The cache is y itself: y > 0 exactly where x > 0 (for NaN both are false), as torch keeps."""
    # np.maximum, not x * (x > 0): NaN stays NaN, as in torch
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout * [y != 0], torch's rule: 0 where x <= 0 (the slope at x == 0 exactly is 0), dout where
    x > 0, and dout where x is NaN. y = max(x, 0) is 0 exactly where x <= 0 and NaN where x is NaN (NaN != 0),
    so one comparison gives the mask.

    A selection, not a product: where the mask is 0, dx is 0 even if dout is infinite (inf * 0 would be NaN;
    torch gives 0).
    """
    y = cache
    return np.where(y != 0, dout, 0)


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, tuple]:
    """y = x if x > 0 else negative_slope * x."""
    mask = x > 0
    return np.where(mask, x, x * negative_slope), (mask, negative_slope)


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dx = dout if x > 0 else negative_slope * dout (the slope at x == 0 is negative_slope, as in torch)."""
    mask, negative_slope = cache
    return np.where(mask, dout, dout * negative_slope)


def sigmoid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = 1 / (1 + exp(-x)), computed without overflow for any x.

    exp(-x) overflows for x << 0, so with z = exp(-|x|) <= 1:
        x >= 0:  y = 1 / (1 + z)
        x <  0:  y = z / (1 + z)      (the same value: multiply 1 / (1 + exp(-x)) by exp(x) / exp(x))
    """
    z = np.exp(-np.abs(x))
    y = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return y, y


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dy/dx = exp(-x) / (1 + exp(-x))^2 = y * (1 - y), so dx = dout * (1 - y) * y."""
    y = cache
    return dout * (1 - y) * y


def tanh(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = tanh(x) (np.tanh saturates to +-1 without overflow)."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dy/dx = 1 - tanh(x)^2 = 1 - y^2, so dx = dout * (1 - y * y)."""
    y = cache
    return dout * (1 - y * y)


def _shift(x, dim):
    """x - max(x, dim): softmax is unchanged by a shift, and after it every exp is <= 1, so logits
    of 1e4 do not overflow. The axis must not be empty (it has no max). A shift past the dtype's range
    (float32 logits of -3e38 and 3e38) gives -inf, whose exp 0 and log -inf are the right limits."""
    with np.errstate(over="ignore"):
        return x - x.max(axis=dim, keepdims=True)


def softmax(x: np.ndarray, dim: int) -> tuple[np.ndarray, tuple]:
    """y_i = exp(x_i) / sum_j exp(x_j) along axis `dim` (any axis, negative counts from the end)."""
    e = np.exp(_shift(x, dim))
    y = e / e.sum(axis=dim, keepdims=True)
    return y, (y, dim)


def softmax_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy_i/dx_k = y_i (delta_ik - y_k), so

        dx_k = sum_i dout_i y_i (delta_ik - y_k) = y_k (dout_k - sum_i dout_i y_i)

    i.e. dx = y * (dout - sum(dout * y, dim)).
    """
    y, dim = cache
    return y * (dout - (dout * y).sum(axis=dim, keepdims=True))


def log_softmax(x: np.ndarray, dim: int) -> tuple[np.ndarray, tuple]:
    """y_i = x_i - log sum_j exp(x_j) along `dim`, as (x_i - m) - log sum_j exp(x_j - m) with m = max_j x_j."""
    s = _shift(x, dim)
    y = s - np.log(np.exp(s).sum(axis=dim, keepdims=True))
    return y, (y, dim)


def log_softmax_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy_i/dx_k = delta_ik - softmax_k, so dx_k = dout_k - softmax_k * sum_i dout_i,

    i.e. dx = dout - exp(y) * sum(dout, dim), with softmax = exp(y) recovered from the output.
    """
    y, dim = cache
    return dout - np.exp(y) * dout.sum(axis=dim, keepdims=True)


# --- the modern activations ------------------------------------------------------------------------
# Each follows torch's choice at a kink (the slope it uses at 0, at -3 and 3 for the hard ones, at Softplus'
# threshold) and propagates NaN as torch does; none overflows for finite inputs, however large.

def relu6(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = min(max(x, 0), 6) (np.clip keeps NaN)."""
    return np.clip(x, 0, 6), x


def relu6_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout where 0 < x < 6, else 0: torch's slope at both kinks is 0, and 0 where x is NaN, as torch's
    vectorized loop (a selection, so an infinite dout gives 0 there too)."""
    x = cache
    return np.where((x > 0) & (x < 6), dout, 0).astype(dout.dtype, copy=False)


def hardsigmoid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = relu6(x + 3) / 6: 0 below -3, 1 above 3, the line x/6 + 1/2 between."""
    return np.clip(x + 3, 0, 6) / 6, x


# torch's hardsigmoid backward multiplies by 1/6 rounded to float32, in float64 too; we do the same, so that
# gradients agree with torch's to the last digit (it differs from 1/6 by 3e-8 relative)
_ONE_SIXTH_F32 = float(np.float32(1) / np.float32(6))


def hardsigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout / 6 where -3 < x < 3, else 0 (the slope at -3 and 3 is 0, and 0 where x is NaN, as torch)."""
    x = cache
    return np.where((x > -3) & (x < 3), dout * dout.dtype.type(_ONE_SIXTH_F32), 0).astype(dout.dtype, copy=False)


def hardswish(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = x * relu6(x + 3) / 6: 0 below -3, x above 3, x (x + 3) / 6 between."""
    return x * (np.clip(x + 3, 0, 6) / 6), x


def hardswish_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dy/dx = 0 for x <= -3, (2x + 3) / 6 = x/3 + 1/2 for -3 < x < 3, 1 for x >= 3 (torch's slopes at the kinks:
    0 at -3, 1 at 3); NaN where x is NaN, as torch's vectorized loop (its scalar loop, for the last few entries of
    an array, gives dout there)."""
    x = cache
    slope = np.where(x >= 3, 1, x / 3 + 0.5).astype(dout.dtype, copy=False)
    return np.where(x <= -3, 0, dout * slope).astype(dout.dtype, copy=False)


def silu(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = x * sigmoid(x) (the swish), with the overflow-free sigmoid: silu(-1000) = -0."""
    s, _ = sigmoid(x)
    return x * s, (x, s)


def silu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy/dx = s + x s (1 - s) = s (1 + x (1 - s)) with s = sigmoid(x)."""
    x, s = cache
    with np.errstate(invalid="ignore"):  # x = +inf: inf * 0 is NaN, as torch's
        return dout * (s * (1 + x * (1 - s)))


# erf(x) for GELU: NumPy has none, so here is fdlibm's (Sun Microsystems, 1993: "Permission to use, copy, modify,
# and distribute this software is freely granted, provided that this notice is preserved"), rational
# approximations on four ranges of |x|, each good to about one unit in the last place of a float64.
_ERX = 8.45062911510467529297e-01
_PP = [1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05]
_QQ = [1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06]
_PA = [-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03]
_QA = [1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02]
_RA = [-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00]
_SA = [1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02]
_RB = [-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02]
_SB = [1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01]


def _poly(c, z):
    """c[0] + c[1] z + c[2] z^2 + ... by Horner's rule."""
    out = np.full_like(z, c[-1])
    for a in reversed(c[:-1]):
        out = out * z + a
    return out


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, in float64 (fdlibm's method), returned in x's dtype.

        |x| < 0.84375:        erf = x + x P(x^2)/Q(x^2)
        |x| < 1.25:           erf = sign(x) (c + P(s)/Q(s)),  s = |x| - 1, c = erf(1) rounded to 24 bits
        |x| < 6:              erf = sign(x) (1 - exp(-x^2 - 0.5625 + R(1/x^2)/S(1/x^2)) / |x|)
        |x| >= 6:             erf = sign(x)   (1 - erf(6) < 2e-17, below float64's resolution at 1)
    """
    a = np.abs(x.astype(np.float64))
    out = np.ones_like(a)
    small, mid = a < 0.84375, (a >= 0.84375) & (a < 1.25)
    tail = (a >= 1.25) & (a < 6)
    z = a[small] ** 2
    out[small] = a[small] + a[small] * (_poly(_PP, z) / _poly(_QQ, z))
    s = a[mid] - 1
    out[mid] = _ERX + _poly(_PA, s) / _poly(_QA, s)
    at = a[tail]
    z = 1 / (at * at)
    near = at < 1 / 0.35  # two fits of the tail's exponent, on [1.25, 2.857) and [2.857, 6)
    ratio = np.where(near, _poly(_RA, z) / _poly(_SA, z), _poly(_RB, z) / _poly(_SB, z))
    out[tail] = 1 - np.exp(-at * at - 0.5625 + ratio) / at
    out[np.isnan(a)] = np.nan
    return (np.sign(x) * out).astype(x.dtype, copy=False)


# Python floats, not NumPy's: a np.float64 scalar would turn a float32 x into float64
_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_BETA = math.sqrt(2 / math.pi)
_TANH_KAPPA = 0.044715


def gelu(x: np.ndarray, approximate: str = "none") -> tuple[np.ndarray, tuple]:
    """y = x Phi(x), Phi the standard normal's distribution function, Phi(x) = (1 + erf(x / sqrt 2)) / 2;
    approximate="tanh": y = x (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3)."""
    with np.errstate(over="ignore", invalid="ignore"):  # x^3 of a huge x: inf, and tanh(inf) = 1
        if approximate == "tanh":
            t = np.tanh(_TANH_BETA * (x + _TANH_KAPPA * (x * x * x)))
            return 0.5 * x * (1 + t), (x, approximate, t)
        cdf = 0.5 * (1 + erf(x * x.dtype.type(_SQRT1_2)))
        return x * cdf, (x, approximate, cdf)


def gelu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi) the normal density;
    approximate="tanh": dy/dx = (1 + t)/2 + (x/2) (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u)."""
    x, approximate, c = cache
    with np.errstate(over="ignore", invalid="ignore"):  # x^2 of a huge x; inf * 0 at x = +-inf is NaN, as torch's
        if approximate == "tanh":
            t = c
            du = _TANH_BETA * (1 + 3 * _TANH_KAPPA * (x * x))
            # where tanh saturated (t = +-1) the second term is 0 even where du overflowed
            right = np.where(t * t == 1, 0, 0.5 * x * (1 - t * t) * du)
            right = np.where(np.isfinite(x), right, np.nan)
            return dout * (0.5 * (1 + t) + right).astype(x.dtype, copy=False)
        pdf = np.exp(-0.5 * (x * x)) * x.dtype.type(_INV_SQRT_2PI)
        return dout * (c + x * pdf)


def elu(x: np.ndarray, alpha: float = 1.0, scale: float = 1.0) -> tuple[np.ndarray, tuple]:
    """y = scale * x for x > 0, scale * alpha * (exp(x) - 1) for x <= 0 (expm1: exact for tiny x, and
    exp(-1000) = 0 without underflow trouble). scale=1 is ELU; SELU is its scaled case."""
    neg = np.expm1(np.minimum(x, 0)) * x.dtype.type(alpha * scale)
    return np.where(x > 0, x * x.dtype.type(scale), neg).astype(x.dtype, copy=False), (x, alpha, scale)


def elu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy/dx = scale for x > 0, scale * alpha * exp(x) for x <= 0: torch's slope at 0 is scale * alpha (the left
    one), and NaN where x is NaN, as torch's vectorized loop (its scalar loop, for the last few entries of an
    array, gives scale * dout there)."""
    x, alpha, scale = cache
    neg = np.exp(np.minimum(x, 0)) * x.dtype.type(alpha * scale)  # np.minimum keeps NaN
    return dout * np.where(x > 0, x.dtype.type(scale), neg).astype(x.dtype, copy=False)


# SELU's constants (Klambauer et al., 2017): with them, unit-variance zero-mean inputs keep those moments
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = scale * (x if x > 0 else alpha (exp(x) - 1)), alpha and scale fixed (SELU_ALPHA, SELU_SCALE)."""
    return elu(x, SELU_ALPHA, SELU_SCALE)


def selu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy/dx = scale for x > 0, scale * alpha * exp(x) for x <= 0 (elu_backward with SELU's constants)."""
    return elu_backward(dout, cache)


def _softplus1(z):
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)), each exp <= 1."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> tuple[np.ndarray, tuple]:
    """y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold (there the two differ by less than
    exp(-threshold) / beta, and the line is what torch returns). Computed without overflow for any x: torch's
    log1p(exp(beta x)) overflows to inf when the threshold is above exp's range (beta x > 709 in float64);
    ours stays finite."""
    z = x * x.dtype.type(beta)
    y = np.where(z > threshold, x, _softplus1(z) / x.dtype.type(beta)).astype(x.dtype, copy=False)
    return y, (z, threshold)


def softplus_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy/dx = exp(beta x) / (1 + exp(beta x)) = sigmoid(beta x), and 1 where beta x > threshold (at the
    threshold itself, torch takes the sigmoid)."""
    z, threshold = cache
    return dout * np.where(z > threshold, 1, sigmoid(z)[0]).astype(z.dtype, copy=False)


def mish(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = x tanh(softplus(x)), softplus(x) = log(1 + exp(x)) computed without overflow."""
    t = np.tanh(_softplus1(x))
    with np.errstate(invalid="ignore"):  # x = -inf: -inf * 0 is NaN, as torch's
        return x * t, (x, t)


def mish_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dy/dx = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)): softplus' = sigmoid, tanh' = 1 - tanh^2."""
    x, t = cache
    with np.errstate(invalid="ignore"):  # x = +-inf: inf * 0 is NaN, as torch's
        return dout * (t + x * (1 - t * t) * sigmoid(x)[0])


def prelu(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = x where x > 0, else w x, with one slope per channel.

    x: (N, C, ...) or any shape when w has one entry; w: (C,) or (1,), broadcast on axis 1 (torch's channel axis).
    """
    wb = _per_channel(w, x.ndim)
    return np.where(x > 0, x, wb * x), (x, wb)


def _per_channel(w, ndim):
    """w: (C,) shaped to broadcast along axis 1 of an ndim-dimensional input: (C, 1, 1) for (N, C, H, W)."""
    if w.size == 1:
        return w.reshape(())
    return w.reshape((w.size,) + (1,) * (ndim - 2))


def prelu_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """dx = dout where x > 0, else w dout (torch's slope at 0 is w; w dout where x is NaN);
    dw_c = sum over every entry of channel c with x <= 0 of x dout (0 where x > 0).

    Returns (dx of x's shape, dw of w's shape (C,) or (1,))."""
    x, wb = cache
    dx = np.where(x > 0, dout, wb * dout)
    g = np.where(x > 0, 0, x * dout)
    if wb.ndim == 0:
        dw = g.sum(keepdims=True).reshape(1)
    else:
        dw = g.sum(axis=tuple(a for a in range(x.ndim) if a != 1))
    return dx, dw
