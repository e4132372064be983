"""The compiled loops of tuned.erf: fdlibm's erf without branches, so that LLVM vectorises the loop, and a
float32 erf and exp of their own for float32 inputs.

float64: two loops around NumPy's exp (numba's math.exp is one libm call per entry, which no loop vectorises):
`fractions` computes every range's rational fraction for each entry and keeps the one its range needs (the value itself
below 1.25, the tail's exponent above), `finish` turns the exponent into erf. Imported by tuned.activation_modern
only where numba is installed.

float32: erf32 and exp32 below compute in float32 from integer and floating operations only (no libm call), so
that a whole GELU or SiLU is one vectorised pass; they are inlined into the loops here and in
loops/activation_modern.py. Their polynomials are minimax fits whose coefficients are float32 numbers (see
erf.py); erf32 is within 2 units in the last place of a float32 (1.7 at worst, near 0.2, where the rounding of
t E(t) - t shows), exp32 within 1 (tests/functional/tuned/test_erf32.py).
fastmath "contract" lets LLVM fuse a * b + c into one rounding (more accurate, not less); nothing else is assumed.
"""
import math

import numpy as np

from ..compiled import compiled
from ..erf import ERX, EXP32, EXPM1_32, LOGERFC32, NEAR, PA, PP, QA, QQ, RA, RB, SA, SB

_F32 = {"contract"}
_f = np.float32
# the constants as float32 scalars: a Python float is a float64 in numba and would turn the arithmetic float64
_E = tuple(_f(c) for c in LOGERFC32)
_PM1 = tuple(_f(c) for c in EXPM1_32)
_P = tuple(_f(c) for c in EXP32)
_LOG2E = _f(1 / math.log(2))
_ROUND = _f(1.5 * 2 ** 23)  # v + _ROUND - _ROUND is v rounded to an integer; its low bits are that integer
_ROUND_BITS = np.int32(_ROUND.view(np.int32))
_LN2_HI = _f(0.693145751953125)  # ln 2 in two parts: n * _LN2_HI is exact for |n| < 2^8
_LN2_LO = _f(math.log(2) - 0.693145751953125)
_EXP_LO, _EXP_HI = _f(-104.0), _f(89.0)  # exp of these rounds to 0 and overflows to inf in float32
_ONE, _HALF, _FOUR, _ZERO = _f(1), _f(0.5), _f(4), _f(0)
_SQRT1_2 = _f(math.sqrt(0.5))
_INV_SQRT_2PI = _f(1 / math.sqrt(2 * math.pi))


@compiled(inline="always")
def _poly(c, z):
    """c[0] + c[1] z + ... by Horner's rule (c a tuple of constants: unrolled)."""
    out = c[-1]
    for i in range(len(c) - 2, -1, -1):
        out = out * z + c[i]
    return out


@compiled(nogil=True, error_model="numpy")
def fractions(u, r, e):
    """u: 1-D (float32 or float64); r, e: float64 of u's length. r[i]: erf(|u[i]|) where |u[i]| < 1.25;
    e[i]: the tail's exponent -u^2 - 0.5625 + R/S (at most 0) for the others (values unused elsewhere).
    Every range's numerator and denominator are evaluated, the entry's range picks one pair, and one division
    follows (divisions, not multiply-adds, bound this loop)."""
    for i in range(u.size):
        a = abs(np.float64(u[i]))
        z = a * a
        s = a - 1
        zi = 1 / z
        near = a < NEAR
        small = a < 0.84375
        mid = a < 1.25
        num = _poly(PP, z) if small else (_poly(PA, s) if mid else (_poly(RA, zi) if near else _poly(RB, zi)))
        den = _poly(QQ, z) if small else (_poly(QA, s) if mid else (_poly(SA, zi) if near else _poly(SB, zi)))
        q = num / den
        r[i] = a + a * q if small else ERX + q
        e[i] = min(-z - 0.5625 + q, 0.0)


@compiled(nogil=True, error_model="numpy")
def finish(u, r, e, out):
    """out[i] = erf(u[i]) (cast to out's dtype), e holding exp of fractions' exponents."""
    for i in range(u.size):
        v = np.float64(u[i])
        a = abs(v)
        t = 1 - e[i] / a
        t = 1.0 if a >= 6 else t
        t = r[i] if a < 1.25 else t
        out[i] = -t if v < 0 else t


@compiled(inline="always", fastmath=_F32)
def _two_to(n):
    """2 ** n for an int32 n in [-126, 127], by writing the exponent bits."""
    return np.int32((n + 127) << 23).view(np.float32)


@compiled(inline="always", fastmath=_F32)
def _reduce(v):
    """v = n ln 2 + r, |r| <= ln 2 / 2: (r, n as int32)."""
    m = v * _LOG2E + _ROUND
    n = m - _ROUND
    r = (v - n * _LN2_HI) - n * _LN2_LO
    return r, np.float32(m).view(np.int32) - _ROUND_BITS


@compiled(inline="always", fastmath=_F32)
def exp32(v):
    """exp(v) for a float32 v: 2^n (1 + r + r^2 P(r)); 0 below -104, inf above 89, NaN kept (the comparisons are
    false for NaN). 2^n in two factors, so that n down to -150 (subnormal results) stays in range."""
    v = _EXP_LO if v < _EXP_LO else v
    v = _EXP_HI if v > _EXP_HI else v
    r, n = _reduce(v)
    p = _ONE + (r + r * r * _poly(_P, r))
    n1 = n >> 1
    return p * _two_to(n1) * _two_to(n - n1)


@compiled(inline="always", fastmath=_F32)
def erf32(u):
    """erf(u) for a float32 u: with t = min(|u|, 4), log(erfc(t)) = t E(t) - t (in [-17.8, 0]), and
    erf(t) = -expm1(t E(t) - t) = (1 - 2^n) - 2^n expm1(r): expm1, not 1 - exp, so that erf keeps its relative
    accuracy near 0. erf(4) rounds to 1 in float32; NaN stays NaN."""
    a = abs(u)
    t = _FOUR if a > _FOUR else a
    v = t * _poly(_E, t) - t
    r, n = _reduce(v)
    s = _two_to(n)
    e = (_ONE - s) - s * (r + r * r * _poly(_PM1, r))
    return -e if u < _ZERO else e


@compiled(nogil=True, error_model="numpy", fastmath=_F32)
def gelu32(x, y):
    """x, y: float32, 1-D: y = x (1 + erf(x / sqrt 2)) / 2."""
    for i in range(x.size):
        v = x[i]
        y[i] = v * (_HALF * (_ONE + erf32(v * _SQRT1_2)))


@compiled(nogil=True, error_model="numpy", fastmath=_F32)
def gelu32_backward(dout, x, dx):
    """dout, x, dx: float32, 1-D: dx = dout (Phi(x) + x phi(x)), Phi recomputed as in gelu32,
    phi(x) = exp(-x^2 / 2) / sqrt(2 pi)."""
    for i in range(x.size):
        v = x[i]
        cdf = _HALF * (_ONE + erf32(v * _SQRT1_2))
        pdf = exp32(v * v * -_HALF) * _INV_SQRT_2PI
        dx[i] = dout[i] * (cdf + v * pdf)
