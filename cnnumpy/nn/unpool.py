"""MaxUnpool2d: max pooling's partial inverse, around the unpooling of functional/methods.py's pooling methods
(the readable one is functional/pool.py)."""
import numbers
from collections.abc import Sequence

import numpy as np

from . import check
from .module import Module
from .pool import Size, _backward, _forward, _method
from .unbatched import unbatched


@unbatched(4, "(N, C, H, W)")
class MaxUnpool2d(Module):
    """Put each value back where MaxPool2d(return_indices=True) found it, zeros elsewhere, as torch.nn.MaxUnpool2d.

    x: (N, C, H, W) or (C, H, W), indices: int64 of x's shape -> y: (N, C, H_out, W_out) or (C, H_out, W_out)
    H_out = (H - 1)*stride - 2*padding + kernel_size, or output_size given to forward: (H_out, W_out) or with two
    leading sizes, (N, C, H_out, W_out), each strictly within stride of that default (as torch; it resolves the
    sizes that floor mode maps to one pooled size).

    y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]; backward gathers dx = dout[n, c].flat[indices] (where two
    indices coincide, forward keeps one value, torch leaves which undefined, and backward gives both dout there).
    stride=None means stride=kernel_size. method: "auto" (= "im2col", one scatter) or "naive" (loops).
    """

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, method: str = "auto") -> None:
        super().__init__()
        # torch's attributes are pairs
        self.kernel_size = check.pair("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else check.pair("stride", stride)
        self.padding = check.pair("padding", padding, minimum=0)
        self.method = _method(method, "max_unpool2d")

    def _default_hw(self, shape):
        return tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(shape[2:], self.stride, self.padding,
                                                                    self.kernel_size))

    def _out_hw(self, shape, output_size):
        """(H_out, W_out) for x of (N, C, H, W) and forward's output_size; torch's errors, and none empty."""
        default = self._default_hw(shape)
        if output_size is None:
            out = default
        else:
            if not isinstance(output_size, Sequence) or isinstance(output_size, str) or not all(
                    isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in output_size):
                raise TypeError(f"output_size: expected a tuple of 2 or 4 ints, e.g. (8, 8), got {output_size!r}")
            out = tuple(int(n) for n in output_size)
            if len(out) == 4:
                out = out[2:]
            if len(out) != 2:
                raise ValueError(f"output_size: expected 2 or 4 sizes, (H_out, W_out) or (N, C, H_out, W_out), "
                                 f"got {len(output_size)} ({tuple(output_size)})")
            for d, (n, m, s) in enumerate(zip(out, default, self.stride)):
                if not m - s < n < m + s:
                    raise ValueError(f"output_size: expected dim {d} strictly between {m - s} and {m + s} (the "
                                     f"default {m} -/+ stride {s}), got {tuple(output_size)}")
        if min(out) < 1:
            raise ValueError(f"x: the output would be {out[0]}x{out[1]} (H_out = (H - 1)*stride - 2*padding + "
                             f"kernel_size), expected at least 1x1; got x of shape {tuple(shape)}")
        return out

    def forward(self, x: np.ndarray, indices: np.ndarray, output_size: Sequence[int] | None = None) -> np.ndarray:
        check.image_batch("x", x)
        out = self._out_hw(x.shape, output_size)
        if not isinstance(indices, np.ndarray):
            raise TypeError(f"indices: expected a numpy.ndarray of int64, got {type(indices).__name__}")
        if indices.dtype != np.int64:
            raise TypeError(f"indices: expected dtype int64 (as MaxPool2d(return_indices=True) gives), "
                            f"got {indices.dtype}")
        if indices.shape != x.shape:
            raise ValueError(f"indices: expected the shape of x {x.shape}, got {indices.shape}")
        bad = (indices < 0) | (indices >= out[0] * out[1])
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"indices: expected values in [0, {out[0] * out[1]}) (positions in the {out[0]}x{out[1]} "
                             f"output plane), got {int(indices[where])} at {where}")
        return _forward(self, "max_unpool2d", x, indices, out)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: (N, C, H_out, W_out) -> dx: (N, C, H, W), dout at the indices (None if input_grad=False)."""
        return _backward(self, dout, input_grad)

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(N, C, H, W) -> (N, C, H_out, W_out) with the default H_out (forward may be given another)."""
        shape = check.image_shape("x", check.shape("input_shape", input_shape))
        return shape[:2] + self._out_hw(shape, None)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, method={self.method!r}"
