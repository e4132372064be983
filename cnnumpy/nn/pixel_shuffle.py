"""PixelShuffle and PixelUnshuffle: channels to resolution and back, as torch.nn; the math is in
functional/pixel_shuffle.py."""
import numpy as np

from ..functional import pixel_shuffle as F
from . import check
from .module import Module


class PixelShuffle(Module):
    """(*, C r², H, W) -> (*, C, H r, W r), r = upscale_factor; backward is pixel_unshuffle of dout."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = check.positive_int("upscale_factor", upscale_factor)

    def _out(self, name, shape):
        r = self.upscale_factor
        if len(shape) < 3:
            raise ValueError(f"{name}: expected at least 3 dimensions (*, C, H, W), got {len(shape)} (shape {shape})")
        if shape[-3] % (r * r):
            raise ValueError(f"{name}: expected channels (dim -3) divisible by upscale_factor² = {r * r}, "
                             f"got shape {shape}")
        return shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        self._out("x", x.shape)
        y, cache = F.pixel_shuffle(x, self.upscale_factor)
        self.cache = cache, y.shape, x.dtype
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: (*, C, H r, W r) -> dx: (*, C r², H, W) (None if input_grad=False)."""
        cache, y_shape, dtype = self.saved()
        dout = check.dout_like(y_shape, dout, dtype)
        return F.pixel_shuffle_backward(dout, cache) if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        return self._out("input_shape", check.shape("input_shape", input_shape))

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r², H, W), r = downscale_factor; backward is pixel_shuffle of dout."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = check.positive_int("downscale_factor", downscale_factor)

    def _out(self, name, shape):
        r = self.downscale_factor
        if len(shape) < 3:
            raise ValueError(f"{name}: expected at least 3 dimensions (*, C, H, W), got {len(shape)} (shape {shape})")
        if shape[-2] % r or shape[-1] % r:
            raise ValueError(f"{name}: expected height and width (dims -2, -1) divisible by downscale_factor = {r}, "
                             f"got shape {shape}")
        return shape[:-3] + (shape[-3] * r * r, shape[-2] // r, shape[-1] // r)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        self._out("x", x.shape)
        y, cache = F.pixel_unshuffle(x, self.downscale_factor)
        self.cache = cache, y.shape, x.dtype
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: (*, C r², H, W) -> dx: (*, C, H r, W r) (None if input_grad=False)."""
        cache, y_shape, dtype = self.saved()
        dout = check.dout_like(y_shape, dout, dtype)
        return F.pixel_unshuffle_backward(dout, cache) if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        return self._out("input_shape", check.shape("input_shape", input_shape))

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
