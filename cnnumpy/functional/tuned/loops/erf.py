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
    e[i]: the tail's exponent -u^2 - 0.5625 + R/S (at most 0) for the others (values unused elsewhere)."""
    for i in range(u.size):
        a = abs(np.float64(u[i]))
        z = a * a
        small = a + a * (_poly(PP, z) / _poly(QQ, z))
        s = a - 1
        mid = ERX + _poly(PA, s) / _poly(QA, s)
        zi = 1 / z
        qa = _poly(RA, zi) / _poly(SA, zi)
        qb = _poly(RB, zi) / _poly(SB, zi)
        q = qa if a < NEAR else qb
        r[i] = small if a < 0.84375 else mid
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
