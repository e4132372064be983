"""Zero padding and the output-size formula shared by convolution and pooling."""
import numpy as np

Pad = tuple[int, int, int, int]  # (top, bottom, left, right)


def out_size(size: int, k: int, stride: int, pad_lo: int, pad_hi: int, dilation: int = 1) -> int:
    """H_out = (H + pad_lo + pad_hi - dilation*(k-1) - 1) // stride + 1."""
    return (size + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def pad2d(x: np.ndarray, pad: Pad, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of x: (..., H, W) -> (..., H+top+bottom, W+left+right).

    pad: (top, bottom, left, right). Returns x itself when there is nothing to pad.
    """
    top, bottom, left, right = pad
    if top == bottom == left == right == 0:
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(x, width, mode="constant", constant_values=value)


def unpad2d(xp: np.ndarray, pad: Pad) -> np.ndarray:
    """The inverse of pad2d: crop (top, bottom, left, right) from the last two axes."""
    top, bottom, left, right = pad
    H, W = xp.shape[-2:]
    return xp[..., top:H - bottom, left:W - right]
