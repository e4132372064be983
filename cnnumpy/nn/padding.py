"""ZeroPad2d, ConstantPad2d and ReflectionPad2d: pad the last two axes, as torch.nn; the math is in
functional/padding.py, run by its tuned twin functional/tuned/padding.py."""
import numbers

import numpy as np

from ..functional.tuned import padding as tuned
from . import check
from .module import Module


def _quadruple(name: str, padding) -> tuple[int, int, int, int]:
    """An int (every side) or a 4-tuple (left, right, top, bottom) of ints, negative ones crop -> a 4-tuple."""
    items = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * 4
    if len(items) != 4 or any(isinstance(p, bool) or not isinstance(p, numbers.Integral) for p in items):
        raise TypeError(f"{name}: expected an int or a 4-tuple of ints (left, right, top, bottom), got {padding!r}")
    return tuple(int(p) for p in items)


class _Pad2d(Module):
    """What the three paddings share: the checks, the output shape, the cache and backward."""

    def _check_shape(self, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        """(C, H, W) or (N, C, H, W) -> the output shape; the errors torch raises, naming `name` and the shape."""
        check.dims(name, shape, (3, 4))
        left, right, top, bottom = self.padding
        out = list(shape)
        for axis, (before, after) in ((-2, (top, bottom)), (-1, (left, right))):
            n = shape[axis]
            out[axis] = n + before + after
            if n + min(before, 0) + min(after, 0) < 0:
                raise ValueError(f"padding: expected negative amounts that crop at most the {n} elements of dim "
                                 f"{len(shape) + axis} of {name} (shape {shape}), got {(before, after)}")
        return tuple(out)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        self._check_shape("x", x.shape)
        y, cache = self._pad(x)
        self.cache = cache, y.shape, x.dtype
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: forward's output shape -> dx: forward's input shape (None if input_grad=False)."""
        cache, y_shape, dtype = self.saved()
        dout = check.dout_like(y_shape, dout, dtype)
        return self._pad_backward(dout, cache) if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(..., H + top + bottom, W + left + right); forward's errors."""
        return self._check_shape("input_shape", check.shape("input_shape", input_shape))

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad2d(_Pad2d):
    """Pad (left, right, top, bottom) with `value`: (N, C, H, W) -> (N, C, H + top + bottom, W + left + right).

    dx is dout without the padded border (the border holds `value`, which does not depend on x).
    """

    def __init__(self, padding: int | tuple[int, int, int, int], value: float) -> None:
        super().__init__()
        self.padding = _quadruple("padding", padding)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"value: expected a float, got {value!r} ({type(value).__name__})")
        self.value = value

    def _pad(self, x):
        return tuned.constant_pad2d(x, self.padding, self.value)

    def _pad_backward(self, dout, cache):
        return tuned.constant_pad2d_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    """ConstantPad2d with value 0."""

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad2d(_Pad2d):
    """Pad by mirroring about the edge pixels (not repeating them): [a b c] with 2 on the left is [c b a b c].

    Each amount must be less than its axis' size, as in torch. dx sums dout over each pixel's copies.
    """

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = _quadruple("padding", padding)

    def _check_shape(self, name, shape):
        out = super()._check_shape(name, shape)
        left, right, top, bottom = self.padding
        for axis, (before, after) in ((-2, (top, bottom)), (-1, (left, right))):
            n = shape[axis]
            if before >= n or after >= n:
                raise ValueError(f"padding: expected amounts less than the size {n} of dim {len(shape) + axis} of "
                                 f"{name} (shape {shape}) for reflection, got {(before, after)}")
        if 0 in out:
            raise ValueError(f"padding: expected a non-empty output for {name} of shape {shape}, "
                             f"got output shape {out} from padding {self.padding}")
        return out

    def _pad(self, x):
        return tuned.reflection_pad2d(x, self.padding)

    def _pad_backward(self, dout, cache):
        return tuned.reflection_pad2d_backward(dout, cache)
