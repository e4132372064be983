"""The compiled loops of conv_numba: unfold (x -> columns) and fold (columns -> dx), see conv_numba for the math.

Imported by conv_numba.kernels() only. The loops are plain (no prange) and run without the GIL (nogil): each
call does a whole chunk of samples on one of cnnumpy's own threads (threads.py), so two
threads hand the GIL over once per chunk instead of once per NumPy call. The functions live at module
level so that numba's on-disk cache (cache=True) finds them again in the next process: a function nested in
another carries a closure, whose pickled cells differ in every process, and numba's cache key hashes them, so a
nested kernel was compiled again (seconds) in every process and left one more cache file each time.
"""
import numba

from ..compiled import compiled


@compiled(inline="always")
def span(size, out, stride, offset):
    """[j0, j1): the j < out for which 0 <= j*stride + offset < size."""
    j0 = max(0, (-offset + stride - 1) // stride)
    j1 = min(out, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return j0, max(j0, j1)


@compiled(nogil=True)
def unfold(x, cols, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo):
    """x: (N, C, H, W) -> cols: (N, C*kh*kw, ho*wo), written in place,

    cols[n, (c*kh + a)*kw + b, i*wo + j] = x[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl], 0 outside x.
    """
    n, c, h, w = x.shape
    for s in range(n):
        for ci in range(c):
            for a in range(kh):
                i0, i1 = span(h, ho, sh, a * dh - pt)
                for b in range(kw):
                    r = (ci * kh + a) * kw + b
                    off = b * dw - pl
                    j0, j1 = span(w, wo, sw, off)
                    for i in range(ho):
                        base = i * wo
                        if i < i0 or i >= i1:  # the window row lies in the top/bottom padding
                            for j in range(wo):
                                cols[s, r, base + j] = 0
                            continue
                        row = i * sh + a * dh - pt
                        for j in range(j0):
                            cols[s, r, base + j] = 0
                        # no test inside: raw index loops vectorize (slices do not), unit stride best
                        # unsigned indices: numba then skips its negative-index wraparound test
                        if sw == 1:
                            for j in range(j0, j1):
                                cols[s, r, numba.uint64(base + j)] = x[s, ci, row, numba.uint64(j + off)]
                        else:
                            for j in range(j0, j1):
                                cols[s, r, numba.uint64(base + j)] = x[s, ci, row, numba.uint64(j * sw + off)]
                        for j in range(j1, wo):
                            cols[s, r, base + j] = 0


@compiled(nogil=True)
def fold(dcols, dx, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo):
    """dcols: (N, C*kh*kw, ho*wo) -> dx: (N, C, H, W), written in place,

    dx = 0, then dx[n, c, i*sh + a*dh - pt, j*sw + b*dw - pl] += dcols[n, (c*kh + a)*kw + b, i*wo + j].
    """
    n, c, h, w = dx.shape
    for s in range(n):
        for ci in range(c):
            for i in range(h):
                for j in range(w):
                    dx[s, ci, i, j] = 0
            for a in range(kh):
                i0, i1 = span(h, ho, sh, a * dh - pt)
                for b in range(kw):
                    r = (ci * kh + a) * kw + b
                    off = b * dw - pl
                    j0, j1 = span(w, wo, sw, off)
                    for i in range(i0, i1):
                        row = i * sh + a * dh - pt
                        base = i * wo
                        if sw == 1:
                            for j in range(j0, j1):
                                dx[s, ci, row, numba.uint64(j + off)] += dcols[s, r, numba.uint64(base + j)]
                        else:
                            for j in range(j0, j1):
                                dx[s, ci, row, numba.uint64(j * sw + off)] += dcols[s, r, numba.uint64(base + j)]
