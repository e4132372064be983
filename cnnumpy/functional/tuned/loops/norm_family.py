"""The compiled loops of tuned.norm_family: each row normalised in three passes while it is in the cache.

A row is what one mean and variance are taken over: a sample's group of channels (GroupNorm, InstanceNorm), as
(Cg, P) with gamma and beta per channel, or a sample's normalized_shape (LayerNorm), flat with gamma and beta per
entry. Forward: the sum, the sum of squared deviations, then xhat and y in one pass. Backward: the two sums
the input gradient needs (and the parameters' sums), then dx in one pass. The sums are reassociated (fastmath
reassoc, so that they vectorise): they differ from NumPy's pairwise sums by rounding only; no other fast-math
assumption, NaN and inf propagate. Imported by tuned.norm_family only where numba is installed; nogil, at
module level (see loops/conv.py).
"""
import math

from ..compiled import compiled

_SUMS = {"reassoc", "contract"}


@compiled(nogil=True, fastmath=_SUMS)
def group_forward(x, gamma, beta, eps, mean, r, xhat, y, own, lo, hi):
    """x, xhat, y: (R, Cg, P); gamma, beta: (R_g, Cg) indexed by row % R_g (the group's channels); mean, r: (R,).
    Rows [lo, hi). own: compute mean and r = 1 / sqrt(var + eps) here, else read mean and r as given."""
    cg, p = x.shape[1], x.shape[2]
    groups = gamma.shape[0]
    m = cg * p
    for row in range(lo, hi):
        if own:
            s = x[row, 0, 0] * 0
            for c in range(cg):
                for k in range(p):
                    s += x[row, c, k]
            mu = s / m
            v = s * 0
            for c in range(cg):
                for k in range(p):
                    d = x[row, c, k] - mu
                    v += d * d
            mean[row] = mu
            r[row] = 1.0 / math.sqrt(v / m + eps)
        mu, rr = mean[row], r[row]
        g = row % groups
        for c in range(cg):
            gam, bet = gamma[g, c], beta[g, c]
            for k in range(p):
                xh = (x[row, c, k] - mu) * rr
                xhat[row, c, k] = xh
                y[row, c, k] = xh * gam + bet


@compiled(nogil=True, fastmath=_SUMS)
def group_backward(dout, xhat, gamma, r, dx, dgamma, dbeta, lo, hi):
    """dout, xhat, dx: (R, Cg, P); gamma: (R_g, Cg); r: (R,); dgamma, dbeta: (R_g, Cg), added into. Rows [lo, hi):
    dx = r gamma_c dout - xhat r mean(gamma dout xhat) - r mean(gamma dout) over the row."""
    cg, p = dout.shape[1], dout.shape[2]
    groups = gamma.shape[0]
    m = cg * p
    for row in range(lo, hi):
        g = row % groups
        s1 = dout[row, 0, 0] * 0
        s2 = s1
        for c in range(cg):
            sd = s1 * 0
            sdx = s1 * 0
            for k in range(p):
                d = dout[row, c, k]
                sd += d
                sdx += d * xhat[row, c, k]
            dgamma[g, c] += sdx
            dbeta[g, c] += sd
            s1 += gamma[g, c] * sd
            s2 += gamma[g, c] * sdx
        rr = r[row]
        b = rr * (s2 / m)
        cc = rr * (s1 / m)
        for c in range(cg):
            a = rr * gamma[g, c]
            for k in range(p):
                dx[row, c, k] = dout[row, c, k] * a - xhat[row, c, k] * b - cc


@compiled(nogil=True, fastmath=_SUMS)
def layer_forward(x, gamma, beta, eps, r, xhat, y, lo, hi):
    """x, xhat, y: (R, M); gamma, beta: (M,); r: (R,) written. Rows [lo, hi)."""
    m = x.shape[1]
    for row in range(lo, hi):
        s = x[row, 0] * 0
        for k in range(m):
            s += x[row, k]
        mu = s / m
        v = s * 0
        for k in range(m):
            d = x[row, k] - mu
            v += d * d
        rr = 1.0 / math.sqrt(v / m + eps)
        r[row] = rr
        for k in range(m):
            xh = (x[row, k] - mu) * rr
            xhat[row, k] = xh
            y[row, k] = xh * gamma[k] + beta[k]


@compiled(nogil=True, fastmath=_SUMS)
def layer_backward(dout, xhat, gamma, r, dx, dgamma, dbeta, want_dx, lo, hi):
    """dout, xhat, dx: (R, M); gamma: (M,); dgamma, dbeta: (M,), added into. Rows [lo, hi):
    dx = r gamma dout - xhat r mean(gamma dout xhat) - r mean(gamma dout) over the row (if want_dx)."""
    m = dout.shape[1]
    for row in range(lo, hi):
        s1 = dout[row, 0] * 0
        s2 = s1
        for k in range(m):
            d = dout[row, k]
            dxh = d * xhat[row, k]
            dgamma[k] += dxh
            dbeta[k] += d
            s1 += gamma[k] * d
            s2 += gamma[k] * dxh
        if not want_dx:
            continue
        rr = r[row]
        b = rr * (s2 / m)
        cc = rr * (s1 / m)
        for k in range(m):
            dx[row, k] = dout[row, k] * (rr * gamma[k]) - xhat[row, k] * b - cc


@compiled(nogil=True, fastmath=_SUMS)
def moments(x, mean, var, lo, hi):
    """x: (R, M); mean, var: (R,) written for rows [lo, hi): the mean and the biased variance (two passes)."""
    m = x.shape[1]
    for row in range(lo, hi):
        s = x[row, 0] * 0
        for k in range(m):
            s += x[row, k]
        mu = s / m
        v = s * 0
        for k in range(m):
            d = x[row, k] - mu
            v += d * d
        mean[row] = mu
        var[row] = v / m
