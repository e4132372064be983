"""The compiled loops of conv_winograd: the transforms of the input tiles and of the output tiles.

Imported by conv_winograd.kernels() only. As in loops/conv.py: plain loops without the GIL (nogil), a whole
chunk of samples per call on one of cnnumpy's threads, at module level so that numba's on-disk cache finds
them again in the next process. Each transform is split in two passes, rows then columns, so that every
inner loop runs along one contiguous row (the compiler vectorizes those); one pass doing a 4x4 tile at a
time wrote 16 planes scattered per tile and ran several times slower (docs/performance.md#winograd).
"""
import numpy as np

from ..compiled import compiled


@compiled(nogil=True)
def input_tiles(xp, v, th, tw):
    """xp: (m, C, 2*th + 2, 2*tw + 2), zero-padded images -> v: (16, >= C*L), L = m*th*tw, written in place:
    v[k, c*L + j] is entry [k, c, j] of V: (16, C, L). (A C-contiguous buffer, read as V by the GEMM; numba's
    loops over a strided 3-D view were slower: docs/performance.md#winograd.)

    Tile (ty, tx) of sample n is the 4x4 patch d = xp[n, c, 2*ty : 2*ty + 4, 2*tx : 2*tx + 4]; it is column
    j = (n*th + ty)*tw + tx of V, and V[4*a + b, c, j] = (B^T d B)[a, b] with
    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
    """
    m, c, _, wp = xp.shape
    ell = m * th * tw
    e = np.empty((4, wp), xp.dtype)  # B^T d for one row of tiles, along the whole padded width
    for n in range(m):
        for ch in range(c):
            for ty in range(th):
                x0, x1, x2, x3 = xp[n, ch, 2 * ty], xp[n, ch, 2 * ty + 1], xp[n, ch, 2 * ty + 2], xp[n, ch, 2 * ty + 3]
                for q in range(wp):
                    e[0, q] = x0[q] - x2[q]
                    e[1, q] = x1[q] + x2[q]
                    e[2, q] = x2[q] - x1[q]
                    e[3, q] = x1[q] - x3[q]
                col = ch * ell + (n * th + ty) * tw
                for a in range(4):
                    r = e[a]
                    v0, v1, v2, v3 = v[4 * a], v[4 * a + 1], v[4 * a + 2], v[4 * a + 3]
                    for t in range(tw):  # (e B)[a, b] for tile t, whose columns start at 2t
                        q = 2 * t
                        v0[col + t] = r[q] - r[q + 2]
                        v1[col + t] = r[q + 1] + r[q + 2]
                        v2[col + t] = r[q + 2] - r[q + 1]
                        v3[col + t] = r[q + 1] - r[q + 3]


@compiled(nogil=True)
def output_tiles(mt, bias, y, th, tw):
    """mt: (16, >= F*L), L = m*th*tw, the GEMMs' products as input_tiles lays out V -> y: (m, F, H_out, W_out)
    in place.

    The 2x2 outputs of tile (ty, tx) are A^T M A + bias[f], M[a, b] = mt[4*a + b, f*L + column] and
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]; the last tile row or column of an odd H_out or W_out writes only
    its first output row or column.
    """
    m, f, ho, wo = y.shape
    ell = m * th * tw
    p = np.empty((2, 4, tw), mt.dtype)  # A^T M for one row of tiles
    for fi in range(f):
        bf = bias[fi]
        for n in range(m):
            for ty in range(th):
                col = fi * ell + (n * th + ty) * tw
                for t in range(tw):
                    j = col + t
                    for b in range(4):
                        p[0, b, t] = mt[b, j] + mt[4 + b, j] + mt[8 + b, j]
                        p[1, b, t] = mt[4 + b, j] - mt[8 + b, j] - mt[12 + b, j]
                for i in range(min(2, ho - 2 * ty)):
                    yr = y[n, fi, 2 * ty + i]
                    r0, r1, r2, r3 = p[i, 0], p[i, 1], p[i, 2], p[i, 3]
                    for t in range(wo // 2):
                        yr[2 * t] = r0[t] + r1[t] + r2[t] + bf
                        yr[2 * t + 1] = r1[t] - r2[t] - r3[t] + bf
                    if wo % 2:
                        t = wo // 2
                        yr[2 * t] = r0[t] + r1[t] + r2[t] + bf
