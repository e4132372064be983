"""Local response normalisation (AlexNet, GoogLeNet): each value divided by a power of the energy of its
neighbouring channels at the same position, as torch.nn.functional.local_response_norm.

x: (N, C, ...) -> y: shaped as x. With n = size and the window of channel c, W(c) = [c - n//2, c + (n-1)//2]
(channels outside 0..C-1 count as zeros, and the sum is divided by n however many are inside):

    s_c = k + (alpha / n) * sum_{c' in W(c)} x_{c'}^2
    y_c = x_c / s_c^beta

Backward. y_c depends on x_c directly and on every x_j with j in W(c) through s_c:

    dx_j = dout_j / s_j^beta  -  (2 alpha beta / n) * x_j * sum_{c : j in W(c)} dout_c * y_c / s_c

and j in W(c) exactly when c in [j - (n-1)//2, j + n//2]: the same window sum, mirrored.
"""
import numpy as np


def window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """a: (N, C, ...) -> (N, C, ...): out_c = sum of a_{c'} for c' in [c - before, c + after], zeros outside.

    One vectorised add per offset of the window (size of them), never a loop over channels or positions.
    """
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    padded = np.pad(a, pad)
    out = padded[:, :c].copy()
    for i in range(1, before + after + 1):
        out += padded[:, i:i + c]
    return out


def local_response_norm(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> tuple[np.ndarray, tuple]:
    """Forward. x: (N, C, ...) -> y: shaped as x, y = x / (k + alpha/size * window_sum(x^2))^beta.
    Returns (y, cache)."""
    s = k + (alpha / size) * window_sum(np.square(x), size // 2, (size - 1) // 2)
    s_beta = s ** beta
    # y itself is not cached: the caller may change it in place; dout * y / s is recomputed from x
    return x / s_beta, (x, s, s_beta, size, alpha, beta)


def local_response_norm_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout: shaped as x -> dx: shaped as x (the formula of the module docstring)."""
    x, s, s_beta, size, alpha, beta = cache
    back = window_sum(dout * x / (s * s_beta), (size - 1) // 2, size // 2)   # dout_c * y_c / s_c
    return dout / s_beta - (2 * alpha * beta / size) * x * back
