"""ConvTranspose2d: the module around functional/conv_transpose.py (readable) and its fast twin in tuned/."""
import math
import numbers
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..functional import methods
from ..functional.conv_transpose import out_size
from . import check
from .init import Rng, default_bound, uniform
from .module import Module, Parameter
from .pool import Size


class ConvTranspose2d(Module):
    """2-D transposed convolution (the input gradient of a convolution), as torch.nn.ConvTranspose2d.

    x: (N, C_in, H, W) or (C_in, H, W) -> y: (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
    H_out = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1
    weight: (C_in, C_out/groups, kh, kw), bias: (C_out,)

    output_padding (< stride or < dilation, checked at forward as torch does) adds rows at the bottom and
    columns at the right: a convolution of stride s maps s input sizes to the same output size, and this picks
    the one its transpose returns to. forward(x, output_size=(H_out, W_out)) picks it from the size instead
    (output_size may also hold the batch and channel sizes); output_padding is then not used.
    padding_mode: "zeros", the only one torch's ConvTranspose2d has.
    method: "auto" (the default: "im2col"), "im2col" (the im2col conv's backward and forward,
    functional/tuned/conv_transpose.py) or "naive" (loops over the definition, functional/conv_transpose.py):
    the names in functional.methods.CONV_TRANSPOSE.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1, padding: Size = 0,
                 output_padding: Size = 0, groups: int = 1, bias: bool = True, dilation: Size = 1,
                 padding_mode: str = "zeros", method: str = "auto", rng: Rng = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        self.in_channels = check.positive_int("in_channels", in_channels)
        self.out_channels = check.positive_int("out_channels", out_channels)
        self.kernel_size = check.pair("kernel_size", kernel_size)
        self.stride = check.pair("stride", stride)
        self.padding = check.pair("padding", padding, minimum=0)
        self.output_padding = check.pair("output_padding", output_padding, minimum=0)
        self.groups = check.positive_int("groups", groups)
        self.dilation = check.pair("dilation", dilation)
        dtype = check.float_dtype("dtype", dtype)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups: expected a divisor of in_channels ({in_channels}) and "
                             f"out_channels ({out_channels}), got {groups}")
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode: expected 'zeros' (the only one of ConvTranspose2d, as in PyTorch), "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode
        if method != "auto" and method not in methods.CONV_TRANSPOSE:
            raise ValueError(f"method: expected 'auto' or one of {sorted(methods.CONV_TRANSPOSE)}, got {method!r}")
        self.method = method
        kh, kw = self.kernel_size
        # torch's kaiming_uniform(a=sqrt(5)) reads fan_in from the weight's second axis: out_channels / groups
        bound = default_bound(out_channels // groups * kh * kw)
        self.weight = Parameter(uniform((in_channels, out_channels // groups, kh, kw), bound, rng, dtype))
        self.bias = Parameter(uniform((out_channels,), bound, rng, dtype)) if bias else None

    def forward(self, x: np.ndarray, output_size: Sequence[int] | None = None) -> np.ndarray:
        check.array("x", x, dtype=self.weight.dtype)
        unbatched = x.ndim == 3
        shape, output_padding = self._checked(x.shape, output_size)
        b = self.bias.data if self.bias is not None else None
        method = self.resolved_method()
        self.cache = None
        y, fcache = methods.CONV_TRANSPOSE[method].module.conv_transpose2d(
            x[None] if unbatched else x, self.weight.data, b, self.stride, self.padding, output_padding, self.groups,
            self.dilation)
        self.cache = (fcache, y.shape, method, unbatched)
        return y[0] if unbatched else y

    def resolved_method(self) -> str:
        """The method forward uses: self.method, or "im2col" for "auto"."""
        return "im2col" if self.method == "auto" else self.method

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as forward's output -> dx (None if input_grad=False); adds into weight.grad and bias.grad,
        except for a frozen one (requires_grad False), whose gradient is not computed."""
        fcache, y_shape, method, unbatched = self.saved()
        dout = check.dout_like(y_shape[1:] if unbatched else y_shape, dout, self.weight.dtype)
        bias_grad = self.bias is not None and self.bias.requires_grad
        dx, dw, db = methods.CONV_TRANSPOSE[method].module.conv_transpose2d_backward(
            dout[None] if unbatched else dout, fcache, input_grad, self.weight.requires_grad, bias_grad)
        if dw is not None:
            self.weight.grad += dw
        if db is not None:
            self.bias.grad += db
        return None if dx is None else dx[0] if unbatched else dx

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(N, C_in, H, W) -> (N, C_out, H_out, W_out) (or without N), H_out as in the class docstring with the
        layer's output_padding; forward's errors."""
        shape = check.shape("input_shape", input_shape)
        batched, _ = self._checked(shape, None)
        out = self._out_hw(batched, self.output_padding)
        return (self.out_channels, *out) if len(shape) == 3 else (batched[0], self.out_channels, *out)

    def _out_hw(self, shape, output_padding):
        return tuple(out_size(n, k, s, p, op, d) for n, k, s, p, op, d in zip(
            shape[2:], self.kernel_size, self.stride, self.padding, output_padding, self.dilation))

    def _checked(self, shape, output_size):
        """forward's checks of x's shape and output_size -> (x's shape with a batch axis, output_padding)."""
        if len(shape) not in (3, 4):
            raise ValueError(f"x: expected 4 dimensions (N, C, H, W) or 3 (C, H, W), got {len(shape)} "
                             f"(shape {tuple(shape)})")
        batched = tuple(shape) if len(shape) == 4 else (1, *shape)
        if batched[1] != self.in_channels:
            raise ValueError(f"x: expected {self.in_channels} channels (shape (N, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W)), got shape {tuple(shape)}")
        if 0 in shape:
            raise ValueError(f"x: expected a non-empty input, got shape {tuple(shape)}")
        if output_size is None:
            output_padding = self.output_padding
            for op, s, d in zip(output_padding, self.stride, self.dilation):
                if op >= max(s, d):
                    raise ValueError(f"output_padding: expected values smaller than stride {self.stride} or "
                                     f"dilation {self.dilation} (as in PyTorch), got {output_padding}")
        else:
            output_padding = self._output_padding(batched, len(shape), output_size)
        out = self._out_hw(batched, output_padding)
        if min(out) < 1:
            raise ValueError(f"x: the output would be {out[0]}x{out[1]} (H_out = (H - 1)*stride - 2*padding + "
                             f"dilation*(kernel_size - 1) + output_padding + 1), expected at least 1x1; "
                             f"got x of shape {tuple(shape)}")
        return batched, output_padding

    def _output_padding(self, batched, ndim, output_size):
        """The output_padding that gives output_size, as torch: (H_out, W_out), or with the leading sizes of x."""
        if not isinstance(output_size, (tuple, list)) or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in output_size):
            raise TypeError(f"output_size: expected a tuple of ints, e.g. (32, 32), got {output_size!r}")
        leading = ndim - 2
        size = tuple(int(n) for n in output_size)
        if len(size) == leading + 2:
            size = size[leading:]
        if len(size) != 2:
            raise ValueError(f"output_size: expected 2 or {leading + 2} sizes for an input of {ndim} dimensions, "
                             f"got {len(output_size)} ({output_size!r})")
        smallest = self._out_hw(batched, (0, 0))
        largest = tuple(m + s - 1 for m, s in zip(smallest, self.stride))
        if any(not lo <= n <= hi for n, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"output_size: expected sizes from {smallest} to {largest} for an input of "
                             f"{batched[2]}x{batched[3]}, got {tuple(output_size)}")
        return tuple(n - m for n, m in zip(size, smallest))

    def macs(self, input_shape: check.Shape) -> int:
        """N*H*W*C_in * (C_out/groups)*kh*kw: each input value scales one kernel onto the output (bias not
        counted)."""
        shape = self.compute_output_shape(input_shape)
        batch = shape[0] if len(shape) == 4 else 1
        kh, kw = self.kernel_size
        spatial = math.prod(input_shape[-2:])
        return batch * spatial * self.in_channels * (self.out_channels // self.groups) * kh * kw

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s + f", method={self.method!r}"
