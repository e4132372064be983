"""The compiled loops of tuned.norm_family: each row normalised in three passes while it is in the cache.

A row is what one mean and variance are taken over: a sample's group of channels (GroupNorm, InstanceNorm), as
(Cg, P) with gamma and beta per channel, or a sample's normalized_shape (LayerNorm), flat with gamma and beta per
entry. Forward: the sum, the sum of squared deviations, then y in one pass; xhat = (x - mean) r is not written
(that would be a second output as large as y): the backward computes it again from x, mean and r, by the same
expression, so to the same bits. Backward: the two sums the input gradient needs (and the parameters' sums),
then dx in one pass. The sums are reassociated (fastmath
reassoc, so that they vectorise): they differ from NumPy's pairwise sums by rounding only; no other fast-math
assumption, NaN and inf propagate. Imported by tuned.norm_family only where numba is installed; nogil, at
module level (see loops/conv.py).
"""
import math

from ..compiled import compiled

_SUMS = {"reassoc", "contract"}


@compiled(nogil=True, fastmath=_SUMS)
def group_forward(x, gamma, beta, eps, count, mean, r, y, own, lo, hi):
    """x, y: (R, Cg, P); gamma, beta: (R_g, Cg) indexed by row % R_g (the group's channels); mean, r: (R,).
    Rows [lo, hi). own: compute mean and r = 1 / sqrt(var + eps) here, else read mean and r as given. count: a
    row's length, in x's dtype (an integer would turn float32 means and deviations into float64)."""
    cg, p = x.shape[1], x.shape[2]
    groups = gamma.shape[0]
    for row in range(lo, hi):
        if own:
            s = x[row, 0, 0] * 0
            for c in range(cg):
                for k in range(p):
                    s += x[row, c, k]
            mu = s / count
            v = s * 0
            for c in range(cg):
                for k in range(p):
                    d = x[row, c, k] - mu
                    v += d * d
            mean[row] = mu
            r[row] = 1.0 / math.sqrt(v / count + eps)
        mu, rr = mean[row], r[row]  # as the backward reads them (in x's dtype)
        g = row % groups
        for c in range(cg):
            gam, bet = gamma[g, c], beta[g, c]
            for k in range(p):
                y[row, c, k] = ((x[row, c, k] - mu) * rr) * gam + bet


@compiled(nogil=True, fastmath=_SUMS)
def group_backward(dout, x, mean, gamma, r, dx, dgamma, dbeta, count, lo, hi):
    """dout, x, dx: (R, Cg, P); gamma: (R_g, Cg); mean, r: (R,), xhat = (x - mean) r; dgamma, dbeta: (R_g, Cg),
    added into. Rows [lo, hi): dx = r gamma_c dout - xhat r mean(gamma dout xhat) - r mean(gamma dout) over the row."""
    cg, p = dout.shape[1], dout.shape[2]
    groups = gamma.shape[0]
    m = cg * p
    for row in range(lo, hi):
        g = row % groups
        mu, rr = mean[row], r[row]
        s1 = dout[row, 0, 0] * 0
        s2 = s1
        for c in range(cg):
            sd = s1 * 0
            sdx = s1 * 0
            for k in range(p):
                d = dout[row, c, k]
                sd += d
                sdx += d * ((x[row, c, k] - mu) * rr)
            dgamma[g, c] += sdx
            dbeta[g, c] += sd
            s1 += gamma[g, c] * sd
            s2 += gamma[g, c] * sdx
        b = rr * (s2 / count)  # count: the row's length in dout's dtype (see group_forward)
        cc = rr * (s1 / count)
        for c in range(cg):
            a = rr * gamma[g, c]
            for k in range(p):
                dx[row, c, k] = dout[row, c, k] * a - ((x[row, c, k] - mu) * rr) * b - cc


@compiled(nogil=True, fastmath=_SUMS)
def layer_forward(x, gamma, beta, eps, count, mean, r, y, lo, hi):
    """x, y: (R, M); gamma, beta: (M,); mean, r: (R,) written. Rows [lo, hi). count: M in x's dtype (see
    group_forward)."""
    m = x.shape[1]
    for row in range(lo, hi):
        s = x[row, 0] * 0
        for k in range(m):
            s += x[row, k]
        mu = s / count
        v = s * 0
        for k in range(m):
            d = x[row, k] - mu
            v += d * d
        rr = 1.0 / math.sqrt(v / count + eps)
        mean[row] = mu
        r[row] = rr
        mu, rr = mean[row], r[row]  # as the backward reads them (in x's dtype)
        for k in range(m):
            y[row, k] = ((x[row, k] - mu) * rr) * gamma[k] + beta[k]


@compiled(nogil=True, fastmath=_SUMS)
def layer_backward(dout, x, mean, gamma, r, dx, dgamma, dbeta, want_dx, count, lo, hi):
    """dout, x, dx: (R, M); mean, r: (R,), xhat = (x - mean) r; gamma: (M,); dgamma, dbeta: (M,), added into.
    Rows [lo, hi):
    dx = r gamma dout - xhat r mean(gamma dout xhat) - r mean(gamma dout) over the row (if want_dx)."""
    m = dout.shape[1]
    for row in range(lo, hi):
        mu, rr = mean[row], r[row]
        s1 = dout[row, 0] * 0
        s2 = s1
        for k in range(m):
            d = dout[row, k]
            dxh = d * ((x[row, k] - mu) * rr)
            dgamma[k] += dxh
            dbeta[k] += d
            s1 += gamma[k] * d
            s2 += gamma[k] * dxh
        if not want_dx:
            continue
        b = rr * (s2 / count)  # count: the row's length in dout's dtype (see group_forward)
        cc = rr * (s1 / count)
        for k in range(m):
            dx[row, k] = dout[row, k] * (rr * gamma[k]) - ((x[row, k] - mu) * rr) * b - cc


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
