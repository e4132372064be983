"""Zero padding and the output-size formula shared by convolution and pooling."""
import numpy as np


def out_size(size, k, stride, pad_lo, pad_hi, dilation=1):
    """H_out = (H + pad_lo + pad_hi - dilation*(k-1) - 1) // stride + 1."""
    return (size + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def pad2d(x, pad, value=0.0):
    """Pad the last two axes of x: (..., H, W) -> (..., H+top+bottom, W+left+right).

    pad: (top, bottom, left, right). Returns x itself when there is nothing to pad.
    """
    top, bottom, left, right = pad
    if top == bottom == left == right == 0:
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(x, width, mode="constant", constant_values=value)


def unpad2d(xp, pad):
    """The inverse of pad2d: crop (top, bottom, left, right) from the last two axes."""
    top, bottom, left, right = pad
    H, W = xp.shape[-2:]
    return xp[..., top:H - bottom, left:W - right]
