"""The compiled loops of tuned.erf: fdlibm's erf without branches, so that LLVM vectorises the loop.

Two loops around NumPy's exp (numba's math.exp is one libm call per entry, which no loop vectorises): `fractions`
computes every range's rational fraction for each entry and keeps the one its range needs (the value itself
below 1.25, the tail's exponent above), `finish` turns the exponent into erf. Imported by tuned.activation_modern
only where numba is installed.
"""
import numpy as np

from ..compiled import compiled
from ..erf import ERX, NEAR, PA, PP, QA, QQ, RA, RB, SA, SB


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
