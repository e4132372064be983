"""The compiled loop of conv_infer's depthwise layers: one plane at a time, padded once, each tap one long pass.

A plane of x is copied into the interior of a zero-bordered buffer xp of HP x WP (the padded input as far as the
windows reach). For stride 1, output (i, j) of tap (a, b) reads xp[i + a*dh, j + b*dw], which in the flattened
buffer is xp_flat[k + a*dh*WP + b*dw] with k = i*WP + j: every tap is one pass over k in [0, (ho-1)*WP + wo)

    acc[k] += w[a, b] * xp_flat[k + a*dh*WP + b*dw]

a loop of a thousand iterations that LLVM vectorises, where the training loops (loops/depthwise.py) run a short
loop per output row and tap. The columns j >= wo of acc are never read. Strided layers run per output row. The
bias and the activation (kind 0: none, 1: clamp to [low, high], 2: leaky with `slope`) are applied as the plane's
outputs are written. Imported by tuned.conv_infer only where numba is installed; nogil, at module level.
"""
import numba

from ..compiled import compiled


@compiled(nogil=True)
def pad_plane(x, s, ci, xp, pt, pl):
    """xp[pt:, pl:] = x[s, ci], as much of the plane as fits; xp's border is left as it is (zero)."""
    h, wd = x.shape[2], x.shape[3]
    hp, wp = xp.shape
    for r in range(min(h, hp - pt)):
        for q in range(min(wd, wp - pl)):
            xp[pt + r, pl + q] = x[s, ci, r, q]


@compiled(nogil=True)
def forward(x, w, b, y, lo, hi, sh, sw, dh, dw, pt, pl, kind, low, high, slope, xp, acc):
    """x: (N, C, H, W), w: (F, kh, kw), b: (F,), y: (N, F, ho, wo), written for the planes [lo, hi) (plane
    p = sample p // C, channel p % C, and its F / C filters); xp: (HP, WP) with a zero border, acc: (>= ho*WP,)."""
    c = x.shape[1]
    f, kh, kw = w.shape
    ho, wo = y.shape[2], y.shape[3]
    hp, wp = xp.shape
    m = f // c
    flat = xp.reshape(hp * wp)
    for p in range(lo, hi):
        s, ci = p // c, p % c
        pad_plane(x, s, ci, xp, pt, pl)
        for fi in range(ci * m, ci * m + m):
            bias = b[fi]
            if sh == 1 and sw == 1:
                n = (ho - 1) * wp + wo
                for k in range(n):
                    acc[k] = 0
                for a in range(kh):
                    for bb in range(kw):
                        wv = w[fi, a, bb]
                        off = a * dh * wp + bb * dw
                        for k in range(n):
                            acc[numba.uint64(k)] += wv * flat[numba.uint64(k + off)]
                for i in range(ho):
                    out = y[s, fi, i]
                    for j in range(wo):
                        out[j] = _act(acc[i * wp + j] + bias, kind, low, high, slope)
            else:
                for i in range(ho):
                    for j in range(wo):
                        acc[j] = 0
                    for a in range(kh):
                        for bb in range(kw):
                            wv = w[fi, a, bb]
                            start = (i * sh + a * dh) * wp + bb * dw
                            for j in range(wo):
                                acc[numba.uint64(j)] += wv * flat[numba.uint64(start + j * sw)]
                    out = y[s, fi, i]
                    for j in range(wo):
                        out[j] = _act(acc[j] + bias, kind, low, high, slope)


@compiled(nogil=True)
def forward3(x, w, b, y, lo, hi, pt, pl, kind, low, high, xp):
    """forward for 3x3 kernels of stride 1, no dilation, one filter per channel (MobileNet's), the nine taps written
    out: each output row is one pass that reads three rows of xp. kind 1 clamps to [low, high], 0 does nothing."""
    c = x.shape[1]
    ho, wo = y.shape[2], y.shape[3]
    hp, wp = xp.shape
    flat = xp.reshape(hp * wp)
    for p in range(lo, hi):
        s, ci = p // c, p % c
        pad_plane(x, s, ci, xp, pt, pl)
        w0, w1, w2 = w[ci, 0, 0], w[ci, 0, 1], w[ci, 0, 2]
        w3, w4, w5 = w[ci, 1, 0], w[ci, 1, 1], w[ci, 1, 2]
        w6, w7, w8 = w[ci, 2, 0], w[ci, 2, 1], w[ci, 2, 2]
        bias = b[ci]
        for i in range(ho):
            out = y[s, ci, i]
            t0, t1, t2 = flat[i * wp:], flat[(i + 1) * wp:], flat[(i + 2) * wp:]
            for j in range(wo):
                v = (w0 * t0[j] + w1 * t0[j + 1] + w2 * t0[j + 2] + w3 * t1[j] + w4 * t1[j + 1] + w5 * t1[j + 2]
                     + w6 * t2[j] + w7 * t2[j + 1] + w8 * t2[j + 2]) + bias
                if kind == 1:
                    v = min(max(v, low), high)  # numba's max and min keep NaN, as torch's clamp
                out[j] = v


@compiled(inline="always")
def _act(v, kind, low, high, slope):
    """The activation of one value; comparisons leave NaN as it is, as torch's."""
    if kind == 1:
        if v < low:
            v = low
        if v > high:
            v = high
    elif kind == 2:
        if v < 0:
            v = v * slope
    return v
