"""AdaptiveAvgPool2d and AdaptiveMaxPool2d: pooling to a given output size, around the pooling methods of
functional/methods.py (the readable one is functional/pool.py)."""
import numbers

import numpy as np

from . import check
from .module import Module
from .pool import _backward, _flag, _forward, _image_shape, _indices, _method
from .unbatched import unbatched

OutputSize = int | None | tuple[int | None, int | None]


def _sizes(output_size):
    """output_size (an int, or a pair whose None entries keep the input's size) -> (H_out or None, W_out or None)."""
    items = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(items) != 2:
        raise ValueError(f"output_size: expected an int or a pair of ints or None, got {output_size!r}")
    for v in items:
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
            raise TypeError(f"output_size: expected an int or a pair of ints or None, "
                            f"got {output_size!r} ({type(v).__name__})")
        if v is not None and not 1 <= v <= np.iinfo(np.intp).max:  # an array dimension is an intp
            raise ValueError(f"output_size: expected values in [1, {np.iinfo(np.intp).max}], got {output_size!r}")
    return tuple(None if v is None else int(v) for v in items)


class _AdaptivePool2d(Module):
    """What the two adaptive pools share: output_size, the output shape, backward."""

    op = ""  # the functional op, "adaptive_avg_pool2d" or "adaptive_max_pool2d"

    def __init__(self, output_size: OutputSize, method: str = "auto") -> None:
        super().__init__()
        self.output_size = output_size
        self.sizes = _sizes(output_size)
        self.method = _method(method, self.op)

    def _out(self, shape):
        """(H_out, W_out) for an input of shape (N, C, H, W): output_size, its None entries taking H or W."""
        return tuple(size if v is None else v for v, size in zip(self.sizes, shape[2:]))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.image_batch("x", x)
        return _forward(self, self.op, x, self._out(x.shape))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, dout, input_grad)

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(N, C, H, W) -> (N, C, H_out, W_out), output_size's None entries taking the input's size."""
        shape = _image_shape(input_shape)
        return shape[:2] + self._out(shape)


@unbatched(4, "(N, C, H, W)")
class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Average pooling to a fixed output size, as torch.nn.AdaptiveAvgPool2d.

    x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out) or (C, H_out, W_out), (H_out, W_out) = output_size
    (an int, or a pair whose None entries keep the input's size). Output i averages rows floor(i*H/H_out) ..
    ceil((i+1)*H/H_out) - 1, and likewise for columns; output size 1 is global average pooling, and an output
    larger than the input repeats rows and columns.
    """

    op = "adaptive_avg_pool2d"

    def extra_repr(self) -> str:
        return f"output_size={self.output_size!r}, method={self.method!r}"


@unbatched(4, "(N, C, H, W)")
class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Max pooling to a fixed output size, as torch.nn.AdaptiveMaxPool2d.

    x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out) or (C, H_out, W_out), the windows of
    AdaptiveAvgPool2d, each giving its largest value (the first in row-major order on a tie, a NaN wins, as
    torch). Backward sends each output's gradient to its one winner. return_indices=True: forward returns
    (y, indices), the winners' flat positions r*W + s in their planes (int64); backward takes dL/dy alone.
    method: "auto" (= "im2col", two vectorized sweeps) or "naive" (loops over the definition).
    """

    op = "adaptive_max_pool2d"

    def __init__(self, output_size: OutputSize, return_indices: bool = False, method: str = "auto") -> None:
        super().__init__(output_size, method)
        self.return_indices = _flag("return_indices", return_indices)

    def forward(self, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        y = super().forward(x)
        return (y, _indices(self)) if self.return_indices else y

    def extra_repr(self) -> str:
        return f"output_size={self.output_size!r}, method={self.method!r}"
