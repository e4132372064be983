"""Flatten: merge a run of dimensions into one, as torch.nn.Flatten (e.g. conv features -> Linear)."""
import math

import numpy as np

from . import check
from .module import Module


class Flatten(Module):
    """Merge dimensions start_dim..end_dim (both included, negative counts from the end) into one.

    x: (N, C, H, W) -> y: (N, C*H*W) with the defaults start_dim=1, end_dim=-1.
    y is a reshape of x (a view when possible), so backward only reshapes dout back to x's shape.
    As in torch, a 0-d input counts as 1-d and comes out with shape (1,).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = check.dim("start_dim", start_dim)
        self.end_dim = check.dim("end_dim", end_dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        start = check.dim("start_dim", self.start_dim, x.shape)
        end = check.dim("end_dim", self.end_dim, x.shape)
        if start > end:
            raise ValueError(f"start_dim: expected start_dim <= end_dim for an input of shape {x.shape}, "
                             f"got start_dim={self.start_dim} (dim {start}) and end_dim={self.end_dim} (dim {end})")
        # math.prod(()) == 1 gives a 0-d input the shape (1,)
        shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
        y = x.reshape(shape)
        self.cache = x.shape, y.shape, x.dtype
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: forward's output shape -> dx: forward's input shape (None if input_grad=False)."""
        x_shape, y_shape, dtype = self.saved()
        dout = check.dout_like(y_shape, dout, dtype)
        return dout.reshape(x_shape) if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """The input's shape with dims start_dim..end_dim merged into their product; forward's errors."""
        shape = check.shape("input_shape", input_shape)
        start = check.dim("start_dim", self.start_dim, shape)
        end = check.dim("end_dim", self.end_dim, shape)
        if start > end:
            raise ValueError(f"start_dim: expected start_dim <= end_dim for an input of shape {shape}, "
                             f"got start_dim={self.start_dim} (dim {start}) and end_dim={self.end_dim} (dim {end})")
        return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]

    def output_is_view(self) -> bool:
        """True: y is a reshape of x, a view of it (for the contiguous inputs layers produce)."""
        return True

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
