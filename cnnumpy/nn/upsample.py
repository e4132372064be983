"""Upsample: resize by nearest neighbour or bilinear interpolation, as torch.nn.Upsample; the math is in
functional/upsample.py (interpolate and interpolate_backward)."""
import numbers

import numpy as np

from ..functional import upsample as F
from . import check
from .module import Module

MODES = ("nearest", "bilinear")


def _size(size):
    if isinstance(size, (tuple, list)):
        ok = len(size) == 2 and all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1
                                    for n in size)
    else:
        ok = isinstance(size, numbers.Integral) and not isinstance(size, bool) and size >= 1
    if not ok:
        raise ValueError(f"size: expected an int >= 1 or a pair of them (H_out, W_out), got {size!r}")
    return size


def _scale_factor(scale):
    pair = isinstance(scale, (tuple, list))
    items = tuple(scale) if pair else (scale,)
    if (pair and len(items) != 2) or not all(
            isinstance(s, numbers.Real) and not isinstance(s, bool) and s > 0 for s in items):
        raise ValueError(f"scale_factor: expected a float > 0 or a pair of them, got {scale!r}")
    return tuple(float(s) for s in items) if pair else float(scale)  # torch keeps floats


class Upsample(Module):
    """x: (N, C, H, W) -> y: (N, C, H_out, W_out), (H_out, W_out) = size or floor((H, W) * scale_factor).

    mode "nearest": y[i, j] = x[floor(i * s_H), floor(j * s_W)] (torch's legacy nearest); "bilinear": the
    weighted mean of the 4 nearest pixels, their centres aligned as align_corners says (None means False).
    Backward: dx = A_Hᵀ dout A_W, the transpose of the interpolation (see functional/upsample.py).
    """

    def __init__(self, size: int | tuple[int, int] | None = None,
                 scale_factor: float | tuple[float, float] | None = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("size, scale_factor: expected exactly one of them, got "
                             f"size={size!r} and scale_factor={scale_factor!r}")
        if mode not in MODES:
            raise ValueError(f"mode: expected 'nearest' or 'bilinear', got {mode!r}")
        if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(f"align_corners: expected None, True or False, got {align_corners!r}")
        if align_corners is not None and mode == "nearest":
            raise ValueError(f"align_corners: expected None with mode 'nearest' (it aligns interpolating modes "
                             f"only), got {align_corners!r}")
        if recompute_scale_factor and size is not None:
            raise ValueError("recompute_scale_factor: expected None or False with an explicit size, got True")
        self.size = None if size is None else _size(size)
        self.scale_factor = None if scale_factor is None else _scale_factor(scale_factor)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def _out(self, name, shape):
        """(N, C, H_out, W_out) for an input of `shape`, with forward's errors."""
        check.image_shape(name, shape)
        h_out, w_out = F.output_size(shape[2:], self.size, self.scale_factor)
        if h_out < 1 or w_out < 1:
            raise ValueError(f"scale_factor: expected an output of at least 1x1 for {name} of shape {shape}, "
                             f"got {h_out}x{w_out} from scale_factor={self.scale_factor!r}")
        return shape[:2] + (h_out, w_out)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        out = self._out("x", x.shape)
        if self.recompute_scale_factor:  # torch then resizes to the integer size, as if given `size`
            y, cache = F.interpolate(x, out[2:], None, self.mode, self.align_corners)
        else:
            y, cache = F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)
        self.cache = cache, y.shape, x.dtype
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W) (None if input_grad=False)."""
        cache, y_shape, dtype = self.saved()
        dout = check.dout_like(y_shape, dout, dtype)
        return F.interpolate_backward(dout, cache) if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        return self._out("input_shape", check.shape("input_shape", input_shape))

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
