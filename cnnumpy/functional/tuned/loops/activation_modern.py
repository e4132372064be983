"""The compiled loops of tuned.activation_modern: one pass per piecewise formula where NumPy needs three to six.

Each loop reads its inputs once and writes its output once, with the readable function's selections as branches
that LLVM turns into vector blends: exact at every kink, for NaN and inf too, so no repair pass. The constants
come in as arguments of the arrays' dtype (zero, three, six, ...): a literal would be an int64 or a float64 in
numba, and float32 arithmetic would then run in float64. error_model="numpy": a division by zero gives inf or
NaN as in NumPy, without the test per entry (which would keep the loop from vectorising). SiLU in float32 is one
pass with loops/erf.py's exp32. Imported by tuned.activation_modern only where numba is installed; nogil, at module
level (see loops/conv.py).
"""
import numpy as np

from ..compiled import compiled
from .erf import exp32

_ONE32 = np.float32(1)


@compiled(nogil=True, error_model="numpy")
def relu6_backward(dout, x, dx, zero, six):
    """dx = dout where 0 < x < 6, else 0."""
    for i in range(x.size):
        v = x[i]
        dx[i] = dout[i] if v > zero and v < six else zero


@compiled(nogil=True, inline="always", error_model="numpy")
def _relu6_shifted(v, zero, three, six):
    """min(max(v + 3, 0), 6), NaN kept (both comparisons false)."""
    v = v + three
    v = zero if v < zero else v
    return six if v > six else v


@compiled(nogil=True, error_model="numpy")
def hardsigmoid(x, y, zero, three, six):
    """y = relu6(x + 3) / 6."""
    for i in range(x.size):
        y[i] = _relu6_shifted(x[i], zero, three, six) / six


@compiled(nogil=True, error_model="numpy")
def hardsigmoid_backward(dout, x, dx, zero, three, sixth):
    """dx = dout * sixth where -3 < x < 3, else 0."""
    for i in range(x.size):
        v = x[i]
        dx[i] = dout[i] * sixth if v > -three and v < three else zero


@compiled(nogil=True, error_model="numpy")
def hardswish(x, y, zero, three, six):
    """y = x * (relu6(x + 3) / 6)."""
    for i in range(x.size):
        v = x[i]
        y[i] = v * (_relu6_shifted(v, zero, three, six) / six)


@compiled(nogil=True, error_model="numpy")
def hardswish_backward(dout, x, dx, zero, one, three, half):
    """dx = 0 for x <= -3, dout * (1 for x >= 3, x/3 + 1/2 between); NaN where x is NaN."""
    for i in range(x.size):
        v = x[i]
        slope = one if v >= three else v / three + half
        dx[i] = zero if v <= -three else dout[i] * slope


@compiled(nogil=True, error_model="numpy")
def silu_backward(dout, x, s, dx, one):
    """dx = dout * (s * (1 + x * (1 - s))), s = sigmoid(x)."""
    for i in range(x.size):
        si = s[i]
        dx[i] = dout[i] * (si * (one + x[i] * (one - si)))


@compiled(nogil=True, error_model="numpy")
def relu6(x, y, zero, six):
    """y = min(max(x, 0), 6), NaN kept."""
    for i in range(x.size):
        v = x[i]
        v = zero if v < zero else v
        y[i] = six if v > six else v


@compiled(nogil=True, error_model="numpy")
def silu(x, e, s, y, one):
    """e = exp(-x) (NumPy's, vectorised) -> s = 1 / (1 + e), y = x * s."""
    for i in range(x.size):
        si = one / (one + e[i])
        s[i] = si
        y[i] = x[i] * si


@compiled(nogil=True, error_model="numpy")
def nonpositive(x, out, zero):
    """out = min(x, 0), NaN kept: the argument of ELU's exp."""
    for i in range(x.size):
        v = x[i]
        out[i] = zero if v > zero else v


@compiled(nogil=True, error_model="numpy")
def elu(x, em1, y, zero, a, scale):
    """em1 = expm1(min(x, 0)) -> y = scale x where x > 0, else a em1 (a = alpha scale)."""
    for i in range(x.size):
        v = x[i]
        y[i] = v * scale if v > zero else em1[i] * a


@compiled(nogil=True, error_model="numpy")
def elu_backward(dout, x, e, dx, zero, a, scale):
    """e = exp(min(x, 0)) -> dx = dout * (scale where x > 0, else a e)."""
    for i in range(x.size):
        v = x[i]
        dx[i] = dout[i] * (scale if v > zero else e[i] * a)


@compiled(nogil=True, error_model="numpy")
def prelu(x, w, y, zero):
    """x, y: (n, C, M), w: (C,): y = x where x > 0, else w[c] x."""
    n, c, m = x.shape
    for s in range(n):
        for ch in range(c):
            wc = w[ch]
            for k in range(m):
                v = x[s, ch, k]
                y[s, ch, k] = v if v > zero else wc * v


@compiled(nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def prelu_backward(dout, x, w, dx, dw, zero):
    """x, dout, dx: (n, C, M), w, dw: (C,): dx = dout where x > 0, else w[c] dout; dw[c] += the sum of x dout
    where x <= 0 (reassociated: it differs from NumPy's sum by rounding only)."""
    n, c, m = x.shape
    for s in range(n):
        for ch in range(c):
            wc = w[ch]
            acc = zero
            for k in range(m):
                v = x[s, ch, k]
                d = dout[s, ch, k]
                pos = v > zero
                dx[s, ch, k] = d if pos else wc * d
                acc += zero if pos else v * d
            dw[ch] += acc


@compiled(nogil=True, error_model="numpy")
def softplus_start(x, beta, z, t):
    """z = beta x, t = -|z| (the argument of softplus' exp)."""
    for i in range(x.size):
        zi = x[i] * beta
        z[i] = zi
        t[i] = -abs(zi)


@compiled(nogil=True, error_model="numpy")
def softplus_finish(x, z, t, y, zero, beta, threshold):
    """t = log1p(exp(-|z|)) -> y = x where z > threshold, else (max(z, 0) + t) / beta."""
    for i in range(x.size):
        zi = z[i]
        y[i] = x[i] if zi > threshold else ((zi if zi > zero else zero) + t[i]) / beta


@compiled(nogil=True, error_model="numpy")
def softplus_backward(dout, z, e, dx, one, threshold):
    """e = exp(-z) -> dx = dout where z > threshold, else dout / (1 + e) (sigmoid(z))."""
    for i in range(z.size):
        dx[i] = dout[i] if z[i] > threshold else dout[i] * (one / (one + e[i]))


@compiled(nogil=True, error_model="numpy", fastmath={"contract"})
def silu32(x, y):
    """float32 x, y: y = x / (1 + exp(-x)) in one pass (loops/erf.py's exp32): exp(-x) = inf for x << 0 gives
    the limit -0."""
    for i in range(x.size):
        v = x[i]
        y[i] = v * (_ONE32 / (_ONE32 + exp32(-v)))


@compiled(nogil=True, error_model="numpy", fastmath={"contract"})
def silu32_backward(dout, x, dx):
    """float32: dx = dout * (s * (1 + x * (1 - s))), s = 1 / (1 + exp(-x)) recomputed."""
    for i in range(x.size):
        v = x[i]
        s = _ONE32 / (_ONE32 + exp32(-v))
        dx[i] = dout[i] * (s * (_ONE32 + v * (_ONE32 - s)))
