"""Output sizes and zero padding: the window arithmetic that convolution and pooling share."""
import numpy as np

Pad = tuple[int, int, int, int]  # (top, bottom, left, right)
Pair = tuple[int, int]  # (along H, along W): a window size, stride, padding or dilation


def pool_out_size(size: int, k: int, stride: int, pad: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """H_out of a pooling layer, PyTorch's rule (see functional/pool.py)."""
    span = size + 2 * pad - dilation * (k - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Window i of an adaptive pool covers [floor(i*size/out), ceil((i+1)*size/out)): two int arrays (out,)."""
    i = np.arange(out)
    return (i * size) // out, -(-(i + 1) * size // out)


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
