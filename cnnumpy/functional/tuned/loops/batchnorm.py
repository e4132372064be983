"""The compiled loops of tuned.norm (BatchNorm): per-channel sums over samples and positions, and the two
elementwise passes, one sample's plane at a time.

x is viewed as (N, C, P) (P = the positions of one plane, 1 for BatchNorm1d's (N, C)). NumPy's per-channel
reductions over (samples, positions) pay per row of P, which is short on small maps (4x4 after a few poolings);
these loops sum a plane in one run whatever its length. The sums are reassociated (fastmath reassoc, so that they
vectorise) and differ from NumPy's pairwise sums by rounding only; the elementwise passes use no fast-math flag,
so they compute the readable expressions to the bit. Imported by tuned.norm only where numba is installed.
"""
from ..compiled import compiled

_SUMS = {"reassoc"}


@compiled(nogil=True, fastmath=_SUMS)
def sums(x, mean, out, squares, lo, hi):
    """out[c] += sum over samples [lo, hi) and positions of x[n, c] (squares: of (x[n, c] - mean[c])**2)."""
    channels, p = x.shape[1], x.shape[2]
    for n in range(lo, hi):
        for c in range(channels):
            s = out[c] * 0
            if squares:
                mu = mean[c]
                for k in range(p):
                    d = x[n, c, k] - mu
                    s += d * d
            else:
                for k in range(p):
                    s += x[n, c, k]
            out[c] += s


@compiled(nogil=True, fastmath=_SUMS)
def grad_sums(dout, xhat, dbeta, dgamma, want_beta, want_gamma, lo, hi):
    """dbeta[c] += sum of dout[n, c]; dgamma[c] += sum of dout[n, c] * xhat[n, c], over samples [lo, hi)."""
    channels, p = dout.shape[1], dout.shape[2]
    for n in range(lo, hi):
        for c in range(channels):
            sb = dbeta[c] * 0
            sg = dgamma[c] * 0
            for k in range(p):
                d = dout[n, c, k]
                if want_beta:
                    sb += d
                if want_gamma:
                    sg += d * xhat[n, c, k]
            dbeta[c] += sb
            dgamma[c] += sg


@compiled(nogil=True)
def normalize(x, mean, inv_std, weight, bias, has_weight, has_bias, xhat, y, lo, hi):
    """xhat = (x - mean) * inv_std; y = xhat * weight + bias (each factor only if it is there), per channel."""
    channels, p = x.shape[1], x.shape[2]
    for n in range(lo, hi):
        for c in range(channels):
            mu, r, w, b = mean[c], inv_std[c], weight[c], bias[c]
            for k in range(p):
                h = (x[n, c, k] - mu) * r
                xhat[n, c, k] = h
                v = h * w if has_weight else h
                y[n, c, k] = v + b if has_bias else v


@compiled(nogil=True)
def grad(dout, xhat, a, b, c, training, dx, lo, hi):
    """dx = dout * a - xhat * b - c in training, dout * a in evaluation (a, b, c per channel)."""
    channels, p = dout.shape[1], dout.shape[2]
    for n in range(lo, hi):
        for ch in range(channels):
            ac, bc, cc = a[ch], b[ch], c[ch]
            for k in range(p):
                v = dout[n, ch, k] * ac
                if training:
                    v = v - xhat[n, ch, k] * bc
                    v = v - cc
                dx[n, ch, k] = v


@compiled(nogil=True)
def affine(x, s, t, kind, low, high, slope, y, lo, hi):
    """Eval mode's pass: y = act(x * s + t) per channel (kind 0: none, 1: clamp to [low, high], 2: leaky)."""
    channels, p = x.shape[1], x.shape[2]
    for n in range(lo, hi):
        for c in range(channels):
            sc, tc = s[c], t[c]
            if kind == 1:
                for k in range(p):
                    y[n, c, k] = min(max(x[n, c, k] * sc + tc, low), high)  # numba's max and min keep NaN
            elif kind == 2:
                for k in range(p):
                    v = x[n, c, k] * sc + tc
                    y[n, c, k] = v if v >= 0 else v * slope
            else:
                for k in range(p):
                    y[n, c, k] = x[n, c, k] * sc + tc
