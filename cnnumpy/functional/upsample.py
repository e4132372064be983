"""Resizing an image batch: nearest-neighbour and bilinear interpolation, as torch.nn.functional.interpolate.

    x: (N, C, H, W) -> y: (N, C, H_out, W_out),  y = A_H x A_Wᵀ   (per image and channel)

Both modes are linear and separable: along each axis an (n_out, n_in) matrix A takes the input's rows (or
columns) to the output's. Row i of A holds the weights of output position i:

- nearest (torch's legacy "nearest"): one 1 at src = min(floor(i * s), n_in - 1);
- bilinear: weights 1 - λ and λ at i0 = floor(src) and i0 + 1 (i0 itself at the last pixel), λ = src - i0, with
  src = i * (n_in - 1) / (n_out - 1) if align_corners (the corner pixels' centres meet), else
  src = max((i + 0.5) * s - 0.5, 0) (pixel centres scale about the image's edges).

s is 1 / scale_factor when the caller gave one, else n_in / n_out (torch's rule; they differ when n_in *
scale_factor is not an integer). The output size is `size`, or floor(n_in * scale_factor).

Backward. y = A_H x A_Wᵀ is linear in x, so dL/dx = A_Hᵀ dout A_W: each input pixel collects dout from every
output pixel that read it, with the weight it was read with (the transpose of the interpolation).
"""
import math

import numpy as np
import numpy.typing as npt

Size = int | tuple[int, int] | None  # (H_out, W_out), one int for both
Scale = float | tuple[float, float] | None
Matrices = tuple[np.ndarray, np.ndarray]  # (A_H, A_W), the cache


def output_size(in_size: tuple[int, int], size: Size = None, scale_factor: Scale = None) -> tuple[int, int]:
    """(H_out, W_out) from `size` (int or pair) or `scale_factor` (float or pair): floor(n_in * scale)."""
    if size is not None:
        return tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    scales = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    return tuple(math.floor(n * float(s)) for n, s in zip(in_size, scales))


def interpolation_matrix(n_in: int, n_out: int, mode: str, align_corners: bool = False,
                         scale: float | None = None, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """A: (n_out, n_in), the weights of one axis (see the module's docstring); dtype is x's dtype.

    The weights are computed in the precision torch computes them in (float32 for nearest's source index,
    x's dtype for bilinear's), so that the same pixels are picked at the boundaries of the floor.
    """
    if n_out == n_in:  # torch copies such an axis, whatever scale_factor says
        return np.eye(n_in, dtype=dtype)
    a = np.zeros((n_out, n_in), dtype=dtype)
    i = np.arange(n_out)
    if mode == "nearest":
        s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
        src = np.minimum(np.floor(i.astype(np.float32) * s).astype(np.int64), n_in - 1)
        if n_out == 2 * n_in:  # torch's shortcut, which the float32 product above can miss
            src = i // 2
        a[i, src] = 1
        return a
    dt = np.dtype(dtype).type
    if align_corners:
        s = dt(n_in - 1) / dt(n_out - 1) if n_out > 1 else dt(0)
    else:
        s = dt(1.0 / scale) if scale else dt(n_in) / dt(n_out)
    if align_corners:
        src = s * i.astype(dtype)
    else:
        src = np.maximum((np.float64(s) * (i + 0.5) - 0.5).astype(dtype), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(dtype), 0, 1)
    i1 = i0 + (i0 < n_in - 1)
    np.add.at(a, (i, i0), 1 - lam)  # add, not set: i0 == i1 at the last pixel
    np.add.at(a, (i, i1), lam)
    return a


def interpolate(x: np.ndarray, size: Size = None, scale_factor: Scale = None, mode: str = "nearest",
                align_corners: bool | None = None) -> tuple[np.ndarray, Matrices]:
    """x: (N, C, H, W) -> (y: (N, C, H_out, W_out), cache); torch's arguments (exactly one of size, scale_factor).

    The inputs are trusted (nn.Upsample checks them); align_corners None means False, as in torch.
    """
    h, w = x.shape[-2:]
    h_out, w_out = output_size((h, w), size, scale_factor)
    scales = (None, None) if size is not None else (
        tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor))
    a_h = interpolation_matrix(h, h_out, mode, bool(align_corners), scales[0], x.dtype)
    a_w = interpolation_matrix(w, w_out, mode, bool(align_corners), scales[1], x.dtype)
    if mode == "nearest":  # a gather, the same numbers as the product with the one-hot matrices
        y = x[..., a_h.argmax(1)[:, None], a_w.argmax(1)]
    else:
        y = a_h @ x @ a_w.T
    return y, (a_h, a_w)


def interpolate_backward(dout: np.ndarray, cache: Matrices) -> np.ndarray:
    """dout: (N, C, H_out, W_out) -> dx = A_Hᵀ dout A_W: (N, C, H, W)."""
    a_h, a_w = cache
    return a_h.T @ dout @ a_w
