"""The compiled loops of conv_depthwise: a convolution whose groups have one input channel each, tap by tap.

With one input channel per group, im2col's matrix products shrink to rows of kh*kw numbers: BLAS has nothing to
multiply, and unfolding writes kh*kw copies of x to read each once. Here each of the kh*kw taps adds w * (a
shifted row of x) into a row of y: an inner loop over the output's width with no test inside (the valid range
of j is worked out first, as in loops/conv.py), which LLVM vectorises.

The loops take the planes [lo, hi) of x, plane p = (sample p // C, channel p % C), and every filter of that
channel's group (filters c*m .. c*m + m - 1, m = F / C, torch's channel multiplier). Imported by
tuned.conv_depthwise only where numba is installed; nogil, at module level (see loops/conv.py).
"""
import numba

from ..compiled import compiled
from .conv import span


@compiled(nogil=True)
def forward(x, w, b, y, lo, hi, sh, sw, dh, dw, pt, pl):
    """x: (N, C, H, W), w: (F, kh, kw), b: (F,) or empty (no bias), y: (N, F, ho, wo), written for the planes
    [lo, hi): y[n, f, i, j] = b[f] + sum_{a, b} w[f, a, b] x[n, f // m, i*sh + a*dh - pt, j*sw + b*dw - pl]."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    f, kh, kw = w.shape
    ho, wo = y.shape[2], y.shape[3]
    m = f // c
    for p in range(lo, hi):
        s, ci = p // c, p % c
        for fi in range(ci * m, ci * m + m):
            bias = b[fi] if b.size else 0
            for i in range(ho):
                out = y[s, fi, i]
                for j in range(wo):
                    out[j] = bias
                for a in range(kh):
                    row = i * sh + a * dh - pt
                    if row < 0 or row >= h:
                        continue
                    src = x[s, ci, row]
                    for bb in range(kw):
                        off = bb * dw - pl
                        j0, j1 = span(wd, wo, sw, off)
                        wv = w[fi, a, bb]
                        if sw == 1:
                            for j in range(j0, j1):
                                out[numba.uint64(j)] += wv * src[numba.uint64(j + off)]
                        else:
                            for j in range(j0, j1):
                                out[numba.uint64(j)] += wv * src[numba.uint64(j * sw + off)]


@compiled(nogil=True)
def backward_input(dout, w, dx, lo, hi, sh, sw, dh, dw, pt, pl):
    """dx: (N, C, H, W), written for the planes [lo, hi): dx[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] +=
    w[f, a, b] dout[n, f, i, j] over the filters f of channel c (from zero)."""
    c, h, wd = dx.shape[1], dx.shape[2], dx.shape[3]
    f, kh, kw = w.shape
    ho, wo = dout.shape[2], dout.shape[3]
    m = f // c
    for p in range(lo, hi):
        s, ci = p // c, p % c
        plane = dx[s, ci]
        for r in range(h):
            for q in range(wd):
                plane[r, q] = 0
        for fi in range(ci * m, ci * m + m):
            for i in range(ho):
                d = dout[s, fi, i]
                for a in range(kh):
                    row = i * sh + a * dh - pt
                    if row < 0 or row >= h:
                        continue
                    dst = plane[row]
                    for bb in range(kw):
                        off = bb * dw - pl
                        j0, j1 = span(wd, wo, sw, off)
                        wv = w[fi, a, bb]
                        if sw == 1:
                            for j in range(j0, j1):
                                dst[numba.uint64(j + off)] += wv * d[numba.uint64(j)]
                        else:
                            for j in range(j0, j1):
                                dst[numba.uint64(j * sw + off)] += wv * d[numba.uint64(j)]


@compiled(nogil=True, fastmath={"reassoc", "contract"})
def backward_weight(x, dout, dwt, lo, hi, sh, sw, dh, dw, pt, pl):
    """dwt: (F, kh, kw), added into for the planes [lo, hi): dwt[f, a, b] += sum_{i, j} dout[n, f, i, j]
    x[n, f // m, i*sh + a*dh - pt, j*sw + b*dw - pl]. The sums over j are reassociated (vectorised): they differ
    from the readable order by rounding only; no other fast-math assumption (NaN and inf stay)."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    f, kh, kw = dwt.shape
    ho, wo = dout.shape[2], dout.shape[3]
    m = f // c
    for p in range(lo, hi):
        s, ci = p // c, p % c
        for fi in range(ci * m, ci * m + m):
            for a in range(kh):
                for bb in range(kw):
                    off = bb * dw - pl
                    j0, j1 = span(wd, wo, sw, off)
                    acc = dwt[fi, a, bb] * 0
                    for i in range(ho):
                        row = i * sh + a * dh - pt
                        if row < 0 or row >= h:
                            continue
                        src = x[s, ci, row]
                        d = dout[s, fi, i]
                        if sw == 1:
                            for j in range(j0, j1):
                                acc += d[numba.uint64(j)] * src[numba.uint64(j + off)]
                        else:
                            for j in range(j0, j1):
                                acc += d[numba.uint64(j)] * src[numba.uint64(j * sw + off)]
                    dwt[fi, a, bb] += acc


# --- channels last: for small images, the channels are the long axis -------------------------------------------
# On a 7x7 image the rows above are 7 long, and the loop's overhead outweighs its work. With the samples as
# (H, W, C) (x transposed once per chunk), each tap adds w[a, b, :] * x[ii, jj, :] into y[i, j, :]: a loop
# over the C channels, as long as the layer is wide. One filter per channel (m = 1) only.

@compiled(nogil=True)
def forward_last(xt, w, b, yt, sh, sw, dh, dw, pt, pl):
    """xt: (n, H, W, C), w: (kh, kw, C), b: (C,) or empty, yt: (n, ho, wo, C), written:
    yt[s, i, j, c] = b[c] + sum_{a, b} w[a, b, c] xt[s, i*sh + a*dh - pt, j*sw + b*dw - pl, c]."""
    n, h, wd, c = xt.shape
    kh, kw = w.shape[0], w.shape[1]
    ho, wo = yt.shape[1], yt.shape[2]
    for s in range(n):
        for i in range(ho):
            for j in range(wo):
                out = yt[s, i, j]
                if b.size:
                    for k in range(c):
                        out[numba.uint64(k)] = b[numba.uint64(k)]
                else:
                    for k in range(c):
                        out[numba.uint64(k)] = 0
                for a in range(kh):
                    row = i * sh + a * dh - pt
                    if row < 0 or row >= h:
                        continue
                    for bb in range(kw):
                        col = j * sw + bb * dw - pl
                        if col < 0 or col >= wd:
                            continue
                        src = xt[s, row, col]
                        wv = w[a, bb]
                        for k in range(c):
                            out[numba.uint64(k)] += wv[numba.uint64(k)] * src[numba.uint64(k)]


@compiled(nogil=True)
def backward_input_last(doutt, w, dxt, sh, sw, dh, dw, pt, pl):
    """dxt: (n, H, W, C), from zero: dxt[s, i*sh + a*dh - pt, j*sw + b*dw - pl, c] += w[a, b, c] doutt[s, i, j, c]."""
    n, h, wd, c = dxt.shape
    kh, kw = w.shape[0], w.shape[1]
    ho, wo = doutt.shape[1], doutt.shape[2]
    for s in range(n):
        for r in range(h):
            for q in range(wd):
                for k in range(c):
                    dxt[s, r, q, numba.uint64(k)] = 0
        for i in range(ho):
            for j in range(wo):
                d = doutt[s, i, j]
                for a in range(kh):
                    row = i * sh + a * dh - pt
                    if row < 0 or row >= h:
                        continue
                    for bb in range(kw):
                        col = j * sw + bb * dw - pl
                        if col < 0 or col >= wd:
                            continue
                        dst = dxt[s, row, col]
                        wv = w[a, bb]
                        for k in range(c):
                            dst[numba.uint64(k)] += wv[numba.uint64(k)] * d[numba.uint64(k)]


@compiled(nogil=True)
def backward_weight_last(xt, doutt, dwt, sh, sw, dh, dw, pt, pl):
    """dwt: (kh, kw, C), added into: dwt[a, b, c] += sum_{s, i, j} doutt[s, i, j, c] xt[s, i*sh + a*dh - pt,
    j*sw + b*dw - pl, c] (a sum per channel: vectorised over c without reassociation)."""
    n, h, wd, c = xt.shape
    kh, kw = dwt.shape[0], dwt.shape[1]
    ho, wo = doutt.shape[1], doutt.shape[2]
    for s in range(n):
        for i in range(ho):
            for j in range(wo):
                d = doutt[s, i, j]
                for a in range(kh):
                    row = i * sh + a * dh - pt
                    if row < 0 or row >= h:
                        continue
                    for bb in range(kw):
                        col = j * sw + bb * dw - pl
                        if col < 0 or col >= wd:
                            continue
                        src = xt[s, row, col]
                        acc = dwt[a, bb]
                        for k in range(c):
                            acc[numba.uint64(k)] += d[numba.uint64(k)] * src[numba.uint64(k)]
