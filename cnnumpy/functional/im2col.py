"""im2col and col2im: unfold sliding windows into columns so a convolution becomes a matrix product.

For an input xp: (N, C, Hp, Wp) (already padded) and a kh x kw kernel with the
given stride and dilation, window (i, j) of channel c covers

    xp[n, c, i*sh + a*dh, j*sw + b*dw]   for a < kh, b < kw.

`windows` returns all of them as a read-only strided view, no copy;
`im2col` copies them into columns (N, C*kh*kw, H_out*W_out);
`col2im` is its adjoint: it adds every column entry back to the pixel it came
from, which is exactly the backward pass of im2col.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .pool_naive import Pair


def windows(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """xp: (N, C, Hp, Wp) -> read-only view (N, C, H_out, W_out, kh, kw)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(n, c, ho, wo, kh, kw),
                      strides=(s_n, s_c, s_h * sh, s_w * sw, s_h * dh, s_w * dw),
                      writeable=False)


def im2col(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """xp: (N, C, Hp, Wp) -> cols: (N, C*kh*kw, H_out*W_out), rows ordered (c, a, b) like w.reshape(F, -1)."""
    v = windows(xp, kernel, stride, dilation, out_hw)
    n, c, ho, wo, kh, kw = v.shape
    return v.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)


def col2im(dcols: np.ndarray, padded_shape: tuple[int, ...], kernel: Pair, stride: Pair, dilation: Pair,
           out_hw: Pair) -> np.ndarray:
    """dcols: (N, C*kh*kw, H_out*W_out) -> dxp: padded_shape, summing the entries that share a pixel.

    One strided slice-add per kernel offset (a, b): kh*kw NumPy calls, none per pixel.
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    n, c = padded_shape[:2]
    d = dcols.reshape(n, c, kh, kw, ho, wo)
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for a in range(kh):
        for b in range(kw):
            dxp[:, :, a * dh:a * dh + sh * (ho - 1) + 1:sh,
                b * dw:b * dw + sw * (wo - 1) + 1:sw] += d[:, :, a, b]
    return dxp
