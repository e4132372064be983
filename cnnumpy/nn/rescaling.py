"""Rescaling: multiply by a constant and add one, as keras.layers.Rescaling (torch writes `x * scale + offset`).

    y = scale * x + offset        dL/dx = scale * dL/dy

x: any floating array -> y: same shape and dtype. Nothing trains: scale and offset are constants. Used where a
network's output is scaled by a fixed factor (airbench94's logits times 1/9) or its input mapped to a range
(pixels / 255).
"""
import math
import numbers

import numpy as np

from . import check
from .module import Module


def _constant(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name}: expected a finite float, got {value!r} ({type(value).__name__})")
    return float(value)


class Rescaling(Module):
    """y = scale * x + offset, elementwise (keras.layers.Rescaling(scale, offset=0.0))."""

    def __init__(self, scale: float, offset: float = 0.0) -> None:
        super().__init__()
        self.scale = _constant("scale", scale)
        self.offset = _constant("offset", offset)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        self.cache = x.shape, x.dtype
        y = x * x.dtype.type(self.scale)
        if self.offset:
            y += x.dtype.type(self.offset)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: forward's output shape -> dx = scale * dout (None if input_grad=False)."""
        shape, dtype = self.saved()
        dout = check.dout_like(shape, dout, dtype)
        return dout * dtype.type(self.scale) if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        return check.shape("input_shape", input_shape)

    def extra_repr(self) -> str:
        return f"scale={self.scale}" + (f", offset={self.offset}" if self.offset else "")
