"""erf for GELU's tuned twin: fdlibm's rational approximations (as functional.activation.erf, whose coefficients
these are), evaluated without branches so that a whole chunk runs as a few vectorised passes.

The readable erf picks each entry's range with a mask and computes only that range's fraction; here every range's
fraction is computed for every entry and the right one selected, which costs a few more multiplications but no
gather and scatter. With numba installed the selection is one compiled loop (loops/erf.py) and exp stays NumPy's
(vectorised, where numba's is one libm call per entry); without numba it is NumPy passes. Both compute in float64,
as the readable erf does, and differ from it only in rounding. float32 inputs, with numba, take erf32 of
loops/erf.py instead: float32 arithmetic throughout, within 2 units in the float32 result's last place.

fdlibm: Copyright (C) 1993 by Sun Microsystems, Inc. "Permission to use, copy, modify, and distribute this
software is freely granted, provided that this notice is preserved."
"""
import numpy as np

ERX = 8.45062911510467529297e-01
PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
      -5.77027029648944159157e-03, -2.37630166566501626084e-05)
QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
      1.32494738004321644526e-04, -3.96022827877536812320e-06)
PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
      3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
      -2.16637559486879084300e-03)
QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
      1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
      -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
      -8.12874355063065934246e+01, -9.81432934416914548592e+00)
SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
      6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
      6.57024977031928170135e+00, -6.04244152148580987438e-02)
RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
      -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
      -4.83519191608651397019e+02)
SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
      3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
      -2.24409524465858183362e+01)
NEAR = 1 / 0.35  # the tail's two fits meet here

# float32 inputs (loops/erf.py's erf32 and exp32): polynomials fitted for this package (weighted minimax by
# Lawson's iteration, each coefficient rounded to float32 and the later ones refitted around it):
#   log(erfc(t)) = t E(t) - t on [0, 4], E weighted so that erf's relative error stays below 5e-9;
#   expm1(r) = r + r^2 PM1(r) and exp(r) = 1 + r + r^2 P(r) on |r| <= ln 2 / 2, relative error below 2e-8.
LOGERFC32 = (-0.12837916612625122, -0.6366195678710938, -0.10277630388736725, 0.019147822633385658,
             0.00016950347344391048, -0.00167567387688905, 0.0006373606156557798, -0.0001188600217574276,
             9.387747013533954e-06)
EXPM1_32 = (0.4999999701976776, 0.1666654646396637, 0.04166743904352188, 0.008366252295672894,
            0.001387027557939291)
EXP32 = (0.4999999403953552, 0.1666652262210846, 0.04166829213500023, 0.008368532173335552,
         0.0013818296138197184)


def _poly(c, z):
    """c[0] + c[1] z + ... by Horner's rule."""
    out = np.full_like(z, c[-1])
    for a in reversed(c[:-1]):
        out *= z
        out += a
    return out


def erf_numpy(u: np.ndarray) -> np.ndarray:
    """erf(u) in float64 for a 1-D chunk u (any float dtype), by NumPy passes:

        |u| < 0.84375:   u + u P(u^2)/Q(u^2)
        |u| < 1.25:      sign(u) (erx + P(s)/Q(s)),  s = |u| - 1
        |u| < 6:         sign(u) (1 - exp(-u^2 - 0.5625 + R(1/u^2)/S(1/u^2)) / |u|)
        otherwise:       sign(u)
    """
    a = np.abs(u.astype(np.float64))
    z = a * a
    with np.errstate(all="ignore"):  # the fractions of the ranges an entry is not in may overflow: unused
        small = a + a * (_poly(PP, z) / _poly(QQ, z))
        s = a - 1
        mid = ERX + _poly(PA, s) / _poly(QA, s)
        zi = 1 / z
        q = np.where(a < NEAR, _poly(RA, zi) / _poly(SA, zi), _poly(RB, zi) / _poly(SB, zi))
        tail = 1 - np.exp(np.minimum(-z - 0.5625 + q, 0)) / a
    r = np.where(a < 0.84375, small, np.where(a < 1.25, mid, np.where(a >= 6, 1.0, tail)))
    return np.where(u < 0, -r, r)
