"""Conv2d: the module around the conv methods of functional/methods.py (the readable one is functional/conv.py)."""
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..functional import methods
from ..functional.tuned import padding
from ..functional.shapes import out_size
from . import check
from .init import Rng, default_bound, uniform
from .module import Module, Parameter
from .pool import Size
from .unbatched import unbatched


@unbatched(4, "(N, C, H, W)")
class Conv2d(Module):
    """2-D cross-correlation over a batch of images, as torch.nn.Conv2d.

    x: (N, C_in, H, W) or (C_in, H, W) -> y: (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
    H_out = (H + pad_top + pad_bottom - dilation*(kh-1) - 1) // stride + 1
    weight: (C_out, C_in/groups, kh, kw), bias: (C_out,)

    padding: int, pair, "valid" (0) or "same" (output size = input size; stride 1 only;
    odd total padding puts the extra row/column at the bottom/right, as PyTorch does).
    method: "auto" (the default: whichever method is fastest for the layer's shapes, see
    functional.methods.auto_conv; im2col without numba), "im2col" (NumPy GEMMs), "numba" (compiled loops
    around the same GEMMs; needs the extra cnnumpy[numba]), "winograd" (Winograd's F(2x2, 3x3): 3x3 kernels of
    stride 1, no dilation, one group; needs numba) or "naive" (loops over the definition, functional/conv.py):
    the names in functional.methods.CONV. The methods agree to float rounding (~1e-7 relative in float32),
    on finite inputs: Winograd spreads an inf or NaN pixel to the whole 2x2 output block of each tile that
    holds it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | str = 0, dilation: Size = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", method: str = "auto", rng: Rng = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        self.padding_mode = check.padding_mode(padding_mode)
        self.in_channels = check.positive_int("in_channels", in_channels)
        self.out_channels = check.positive_int("out_channels", out_channels)
        self.kernel_size = check.pair("kernel_size", kernel_size)
        self.stride = check.pair("stride", stride)
        self.dilation = check.pair("dilation", dilation)
        self.groups = check.positive_int("groups", groups)
        dtype = check.float_dtype("dtype", dtype)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups: expected a divisor of in_channels ({in_channels}) and "
                             f"out_channels ({out_channels}), got {groups}")
        self.pad = self._pad(padding)
        # torch's attribute: the string as given, else a pair
        self.padding = padding if isinstance(padding, str) else check.pair("padding", padding, minimum=0)
        if method != "auto" and method not in methods.CONV:
            raise ValueError(f"method: expected 'auto' or one of {sorted(methods.CONV)}, got {method!r}")
        applies = method != "auto" and methods.CONV[method].applies
        if applies and not applies(self.kernel_size, self.stride, self.dilation, self.groups):
            raise ValueError(f"method: {method!r} computes 3x3 kernels of stride 1, dilation 1 and one group; got "
                             f"kernel_size {self.kernel_size}, stride {self.stride}, dilation {self.dilation}, "
                             f"groups {self.groups} (use method='auto')")
        self.method = method
        kh, kw = self.kernel_size
        bound = default_bound(in_channels // groups * kh * kw)
        self.weight = Parameter(uniform((out_channels, in_channels // groups, kh, kw), bound, rng, dtype))
        self.bias = Parameter(uniform((out_channels,), bound, rng, dtype)) if bias else None

    def _pad(self, padding):
        """padding -> (top, bottom, left, right)."""
        if isinstance(padding, str):
            if padding == "valid":
                return (0, 0, 0, 0)
            if padding == "same":
                if self.stride != (1, 1):
                    raise ValueError(f"padding: 'same' needs stride 1 (as in PyTorch), got stride {self.stride}")
                pads = []
                for k, d in zip(self.kernel_size, self.dilation):
                    total = d * (k - 1)
                    pads += [total // 2, total - total // 2]
                return tuple(pads)
            raise ValueError(f"padding: expected an int, a pair, 'same' or 'valid', got {padding!r}")
        ph, pw = check.pair("padding", padding, minimum=0)
        return (ph, ph, pw, pw)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.image_batch("x", x, channels=self.in_channels, dtype=self.weight.dtype)
        self._output_shape(x.shape)  # the kernel must fit the padded input
        b = self.bias.data if self.bias is not None else None
        method = self.resolved_method(x.shape)
        if methods.CONV[method].compiled:
            check.compiled_dtype("x", x.dtype, method, "im2col")
        # the last step's columns go before this step's are made (half the peak, and their memory is reused);
        # in eval mode none are kept: a backward then (gradients of an input) unfolds x again. Nor for a frozen
        # weight: only dW reads them
        self.cache = None
        pad, reflected = self.pad, None
        if self.padding_mode == "reflect" and any(self.pad):  # the border mirrored first, then no zeros
            top, bottom, left, right = self.pad
            if max(top, bottom) >= x.shape[2] or max(left, right) >= x.shape[3]:
                raise ValueError(f"padding: padding_mode='reflect' needs each pad smaller than the input's side, got "
                                 f"padding {self.padding!r} for x of shape {x.shape}")
            x, reflected = padding.reflection_pad2d(x, (left, right, top, bottom))
            pad = (0, 0, 0, 0)
        y, fcache = methods.CONV[method].module.conv2d(x, self.weight.data, b, self.stride, pad, self.dilation,
                                                       self.groups, keep=self.training and self.weight.requires_grad)
        self.cache = (fcache, y.shape, method, reflected)
        return y

    def resolved_method(self, x_shape: Sequence[int] | None = None) -> str:
        """The method a forward pass of x: x_shape uses: self.method, or methods.auto_conv's choice for "auto"
        (kept with the cache, so that backward uses the same one). Without x_shape, the choice for inputs too
        small for Winograd's transforms to pay."""
        if self.method != "auto":
            return self.method
        out_hw = None if x_shape is None else self._output_shape(x_shape)[2:]
        return methods.auto_conv(self.kernel_size, self.stride, self.dilation, self.groups, self.in_channels,
                                 self.out_channels, out_hw, self.weight.dtype)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: (N, C_out, H_out, W_out) -> dx (None if input_grad=False); adds into weight.grad and bias.grad,
        except for a frozen one (requires_grad False), whose gradient is not computed: a frozen weight skips
        dW's unfolding and GEMM, the larger half of the backward."""
        fcache, y_shape, method, reflected = self.saved()
        dout = check.dout_like(y_shape, dout, self.weight.dtype)
        bias_grad = self.bias is not None and self.bias.requires_grad
        dx, dw, db = methods.CONV[method].module.conv2d_backward(dout, fcache, input_grad, self.weight.requires_grad,
                                                                 bias_grad)
        if dx is not None and reflected is not None:  # each input pixel sums the gradients of its mirrored copies
            dx = padding.reflection_pad2d_backward(dx, reflected)
        if dw is not None:
            self.weight.grad += dw
        if db is not None:
            self.bias.grad += db
        return dx

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(N, C_in, H, W) -> (N, C_out, H_out, W_out), H_out as in the class docstring; forward's errors."""
        return self._output_shape(check.image_shape("x", check.shape("input_shape", input_shape),
                                                    channels=self.in_channels))

    def _output_shape(self, shape):
        """compute_output_shape of a checked (N, C_in, H, W): the one place of the rule that the kernel fits."""
        top, bottom, left, right = self.pad
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        hp, wp = shape[2] + top + bottom, shape[3] + left + right
        if hp < dh * (kh - 1) + 1 or wp < dw * (kw - 1) + 1:
            raise ValueError(
                f"x: the padded input ({hp}x{wp}) is smaller than the dilated kernel "
                f"({dh * (kh - 1) + 1}x{dw * (kw - 1) + 1}); got x of shape {shape}")
        return (shape[0], self.out_channels, out_size(shape[2], kh, self.stride[0], top, bottom, dh),
                out_size(shape[3], kw, self.stride[1], left, right, dw))

    def macs(self, input_shape: check.Shape) -> int:
        """N*H_out*W_out*C_out * (C_in/groups)*kh*kw: each output value is one dot product (bias not counted)."""
        kh, kw = self.kernel_size
        return math.prod(self.compute_output_shape(input_shape)) * (self.in_channels // self.groups) * kh * kw

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"  # a string unquoted, as torch writes it
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"  # unquoted, as torch writes it
        if self.bias is None:
            s += ", bias=False"
        return s + f", method={self.method!r}"
