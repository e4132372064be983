"""The compiled loops of conv_depthwise's flat path: a stride-1 depthwise convolution as shifted sums over one long
vector per channel.

Lay the padded planes of one channel (a run of samples) end to end in a buffer, row after row, with rows of wq =
W + max(pl, pr) entries and hs = H + max(pt, pb) rows per sample: x[s, c, r, col] sits at (s*hs + pt + r)*wq +
col + pl, everything else is zero. The padding of one row also serves as the padding of the next (the zeros after
a row's data are the zeros before the next one's), and so do the rows between samples. Then output (s, i, j) sits
at q = (s*hs + i)*wq + j, and its tap (a, b) reads x[s, c, i + a*dh - pt, j + b*dw - pl] at q + a*dh*wq + b*dw:
a fixed offset per tap. So

    out[q] = b + sum_{a, b} w[a, b] buf[q + a*dh*wq + b*dw]    for every q of the run at once,

one loop over the whole run per tap, with no bounds inside, which LLVM vectorises. The few positions that are
not outputs (j >= wo, i >= ho) are computed and dropped. The backward reads the same layout:

    dw[a, b]       = sum_q dext[q] buf[q + a*dh*wq + b*dw]     (dext: dout laid out as out, zero elsewhere)
    dbuf[q + o_ab] += w[a, b] dext[q]                          (then dx is dbuf's data positions)

Imported by tuned.conv_depthwise only where numba is installed; nogil, at module level (see loops/conv.py).
"""
import numba

from ..compiled import compiled


@compiled(nogil=True)
def put(src, c, s0, s1, buf, hs, wq, pt, pl):
    """Copy the planes src[s0:s1, c] (src: (N, C, H, W)) into buf's data positions:
    buf[((s - s0)*hs + pt + r)*wq + pl + col] = src[s, c, r, col]."""
    h, w = src.shape[2], src.shape[3]
    for s in range(s0, s1):
        plane = src[s, c]
        for r in range(h):
            base = ((s - s0) * hs + pt + r) * wq + pl
            row = plane[r]
            for col in range(w):
                buf[numba.uint64(base + col)] = row[numba.uint64(col)]


@compiled(nogil=True)
def take(buf, dst, c, s0, s1, hs, wq, pt, pl):
    """The inverse of put: dst[s, c, r, col] = buf[((s - s0)*hs + pt + r)*wq + pl + col] for s in [s0, s1)."""
    h, w = dst.shape[2], dst.shape[3]
    for s in range(s0, s1):
        plane = dst[s, c]
        for r in range(h):
            base = ((s - s0) * hs + pt + r) * wq + pl
            row = plane[r]
            for col in range(w):
                row[numba.uint64(col)] = buf[numba.uint64(base + col)]


@compiled(nogil=True)
def forward(x, w, b, y, lo, hi, buf, out, nk, dh, dw, pt, pl, hs, wq, block):
    """y[:, f] for the filters f of the channels [lo, hi): x: (N, C, H, W), w: (F, kh, kw), b: (F,) or empty,
    y: (N, F, ho, wo). buf: the layout of nk samples (zero outside the data positions on entry, left so),
    out: nk*hs*wq scratch. The runs are taken in blocks of `block` positions, so that out stays in the cache
    across the taps."""
    n, c = x.shape[0], x.shape[1]
    f, kh, kw = w.shape
    m = f // c
    for ci in range(lo, hi):
        for s0 in range(0, n, nk):
            s1 = min(n, s0 + nk)
            if s1 - s0 < nk:  # a shorter run: the tail of the buffer holds the previous run's data
                buf[:] = 0
            put(x, ci, s0, s1, buf, hs, wq, pt, pl)
            total = (s1 - s0) * hs * wq
            for fi in range(ci * m, ci * m + m):
                bias = b[fi] if b.size else w[0, 0, 0] * 0
                for q0 in range(0, total, block):
                    q1 = min(total, q0 + block)
                    for q in range(q0, q1):
                        out[numba.uint64(q)] = bias
                    for a in range(kh):
                        row = a * dh * wq
                        if kw == 3:  # the three taps of a row in one pass: out read and written once, not thrice
                            w0, w1, w2 = w[fi, a, 0], w[fi, a, 1], w[fi, a, 2]
                            o1, o2 = row + dw, row + 2 * dw
                            for q in range(q0, q1):
                                out[numba.uint64(q)] += (w0 * buf[numba.uint64(q + row)]
                                                         + w1 * buf[numba.uint64(q + o1)]
                                                         + w2 * buf[numba.uint64(q + o2)])
                        else:
                            for bb in range(kw):
                                wv = w[fi, a, bb]
                                o = row + bb * dw
                                for q in range(q0, q1):
                                    out[numba.uint64(q)] += wv * buf[numba.uint64(q + o)]
                take(out, y, fi, s0, s1, hs, wq, 0, 0)


@compiled(nogil=True, fastmath={"reassoc", "contract"})
def backward(x, w, dout, dx, dwt, lo, hi, buf, dbuf, dext, nk, dh, dw, pt, pl, hs, wq):
    """For the channels [lo, hi): dx[:, c] (when dx.size, from zero) and dwt[f] += dW of their filters (when
    dwt.size). buf, dbuf: the layout of x and of dx; dext: dout laid out as out (zero outside the outputs on
    entry, left so). The sums over q are reassociated (vectorised): they differ from the readable order by
    rounding only; no other fast-math assumption (NaN and inf stay)."""
    n, c = x.shape[0], x.shape[1]
    f, kh, kw = w.shape
    m = f // c
    want_dx, want_dw = dx.size > 0, dwt.size > 0
    for ci in range(lo, hi):
        for s0 in range(0, n, nk):
            s1 = min(n, s0 + nk)
            total = (s1 - s0) * hs * wq
            if s1 - s0 < nk:
                buf[:] = 0
                dext[:] = 0
            if want_dw:
                put(x, ci, s0, s1, buf, hs, wq, pt, pl)
            if want_dx:
                dbuf[:] = 0
            for fi in range(ci * m, ci * m + m):
                put(dout, fi, s0, s1, dext, hs, wq, 0, 0)
                for a in range(kh):
                    for bb in range(kw):
                        o = a * dh * wq + bb * dw
                        if want_dw:
                            acc = dwt[fi, a, bb] * 0
                            for q in range(total):
                                acc += dext[numba.uint64(q)] * buf[numba.uint64(q + o)]
                            dwt[fi, a, bb] += acc
                        if want_dx:
                            wv = w[fi, a, bb]
                            for q in range(total):
                                dbuf[numba.uint64(q + o)] += wv * dext[numba.uint64(q)]
            if want_dx:
                take(dbuf, dx, ci, s0, s1, hs, wq, pt, pl)
