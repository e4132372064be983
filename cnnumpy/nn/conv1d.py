"""Conv1d: a 1-D convolution computed by Conv2d's methods (functional/methods.py) on (N, C, 1, L) views."""
import math
import numbers

import numpy as np
import numpy.typing as npt

from ..functional import methods
from ..functional.tuned import padding
from ..functional.shapes import out_size
from . import check
from .init import Rng, default_bound, uniform
from .module import Module, Parameter


def single(name: str, value: int | tuple[int] | list[int], minimum: int = 1) -> tuple[int]:
    """An int or a 1-tuple of ints, >= minimum -> (a,), as torch's _single."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    if len(items) != 1:
        raise ValueError(f"{name}: expected an int or a tuple of one int, got {value!r}")
    v = items[0]
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int or a tuple of one int, got {value!r} ({type(v).__name__})")
    if v < minimum:
        raise ValueError(f"{name}: expected values >= {minimum}, got {value!r}")
    return (int(v),)


class Conv1d(Module):
    """1-D cross-correlation over a batch of sequences, as torch.nn.Conv1d.

    x: (N, C_in, L) or (C_in, L) -> y: (N, C_out, L_out) or (C_out, L_out)
    L_out = (L + pad_left + pad_right - dilation*(k-1) - 1) // stride + 1
    weight: (C_out, C_in/groups, k), bias: (C_out,)

    padding: int, "valid" (0) or "same" (L_out = L; stride 1 only; an odd total padding puts the extra column at
    the right, as PyTorch does). The layer is Conv2d's arithmetic on the view (N, C_in, 1, L) with a (1, k) kernel:
    method is one of Conv2d's (functional.methods.CONV) that computes such kernels, or "auto" for
    methods.auto_conv's choice; no Python loop over the sequence or the batch.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int], stride: int | tuple[int] = 1,
                 padding: int | tuple[int] | str = 0, dilation: int | tuple[int] = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", method: str = "auto", rng: Rng = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        self.padding_mode = check.padding_mode(padding_mode)
        self.in_channels = check.positive_int("in_channels", in_channels)
        self.out_channels = check.positive_int("out_channels", out_channels)
        self.kernel_size = single("kernel_size", kernel_size)
        self.stride = single("stride", stride)
        self.dilation = single("dilation", dilation)
        self.groups = check.positive_int("groups", groups)
        dtype = check.float_dtype("dtype", dtype)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups: expected a divisor of in_channels ({in_channels}) and "
                             f"out_channels ({out_channels}), got {groups}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding: expected an int, 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1,):
                raise ValueError(f"padding: 'same' needs stride 1 (as in PyTorch), got stride {self.stride}")
            total = self.dilation[0] * (self.kernel_size[0] - 1) if padding == "same" else 0
            self.padding = padding
            self.pad = (total // 2, total - total // 2)
        else:
            self.padding = single("padding", padding, minimum=0)
            self.pad = (self.padding[0], self.padding[0])
        if method != "auto" and method not in methods.CONV:
            raise ValueError(f"method: expected 'auto' or one of {sorted(methods.CONV)}, got {method!r}")
        applies = method != "auto" and methods.CONV[method].applies
        if applies and not applies(*self._layer2d()):
            raise ValueError(f"method: {method!r} does not compute Conv1d's (1, k) kernels (use method='auto' or "
                             f"one of {methods.general(methods.CONV)})")
        self.method = method
        k = self.kernel_size[0]
        bound = default_bound(in_channels // groups * k)
        self.weight = Parameter(uniform((out_channels, in_channels // groups, k), bound, rng, dtype))
        self.bias = Parameter(uniform((out_channels,), bound, rng, dtype)) if bias else None

    def _layer2d(self):
        """(kernel, stride, dilation, groups) of the 2-D layer on (N, C, 1, L) views."""
        return (1, self.kernel_size[0]), (1, self.stride[0]), (1, self.dilation[0]), self.groups

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x, dtype=self.weight.dtype)
        unbatched = x.ndim == 2
        length = self._output_length(x.shape)
        method = self.resolved_method(length)
        if methods.CONV[method].compiled:
            check.compiled_dtype("x", x.dtype, method, "im2col")
        kernel, stride, dilation, groups = self._layer2d()
        b = self.bias.data if self.bias is not None else None
        self.cache = None
        x4 = x[None, :, None, :] if unbatched else x[:, :, None, :]
        pad, reflected = (0, 0, *self.pad), None
        if self.padding_mode == "reflect" and any(self.pad):  # the ends mirrored first, then no zeros
            if max(self.pad) >= x.shape[-1]:
                raise ValueError(f"padding: padding_mode='reflect' needs each pad smaller than the input's length, "
                                 f"got padding {self.padding!r} for x of shape {x.shape}")
            x4, reflected = padding.reflection_pad2d(x4, (*self.pad, 0, 0))
            pad = (0, 0, 0, 0)
        y, fcache = methods.CONV[method].module.conv2d(x4, self._weight2d(), b, stride, pad, dilation, groups,
                                                      keep=self.training and self.weight.requires_grad)
        self.cache = (fcache, y.shape, method, unbatched, reflected)
        return y[0, :, 0, :] if unbatched else y[:, :, 0, :]

    def _weight2d(self):
        return self.weight.data.reshape(self.out_channels, -1, 1, self.kernel_size[0])

    def resolved_method(self, length: int | None = None) -> str:
        """self.method, or methods.auto_conv's choice for "auto" on the (1, k) layer (length: L_out, if known)."""
        if self.method != "auto":
            return self.method
        kernel, stride, dilation, groups = self._layer2d()
        return methods.auto_conv(kernel, stride, dilation, groups, self.in_channels, self.out_channels,
                                 None if length is None else (1, length), self.weight.dtype)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as forward's output -> dx (None if input_grad=False); adds into weight.grad and bias.grad,
        except for a frozen one (requires_grad False), whose gradient is not computed."""
        fcache, y_shape, method, unbatched, reflected = self.saved()
        expected = (y_shape[1], y_shape[3]) if unbatched else (y_shape[0], y_shape[1], y_shape[3])
        dout = check.dout_like(expected, dout, self.weight.dtype)
        d4 = dout[None, :, None, :] if unbatched else dout[:, :, None, :]
        bias_grad = self.bias is not None and self.bias.requires_grad
        dx, dw, db = methods.CONV[method].module.conv2d_backward(d4, fcache, input_grad, self.weight.requires_grad,
                                                                bias_grad)
        if dw is not None:
            self.weight.grad += dw.reshape(self.weight.shape)
        if db is not None:
            self.bias.grad += db
        if dx is None:
            return None
        if reflected is not None:  # each input sample sums the gradients of its mirrored copies
            dx = padding.reflection_pad2d_backward(dx, reflected)
        return dx[0, :, 0, :] if unbatched else dx[:, :, 0, :]

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(N, C_in, L) -> (N, C_out, L_out), or (C_in, L) -> (C_out, L_out); forward's errors."""
        shape = check.shape("input_shape", input_shape)
        return (*shape[:-2], self.out_channels, self._output_length(shape))

    def _output_length(self, shape):
        """L_out of a (N, C_in, L) or (C_in, L) shape, after forward's checks of it."""
        if len(shape) not in (2, 3):
            raise ValueError(f"x: expected 3 dimensions (N, C, L) or 2 (C, L), got {len(shape)} "
                             f"(shape {tuple(shape)})")
        if shape[-2] != self.in_channels:
            raise ValueError(f"x: expected {self.in_channels} channels (shape (N, {self.in_channels}, L) or "
                             f"({self.in_channels}, L)), got shape {tuple(shape)}")
        if 0 in shape:
            raise ValueError(f"x: expected a non-empty input, got shape {tuple(shape)}")
        (k,), (s,), (d,) = self.kernel_size, self.stride, self.dilation
        padded = shape[-1] + sum(self.pad)
        if padded < d * (k - 1) + 1:
            raise ValueError(f"x: the padded input (length {padded}) is shorter than the dilated kernel "
                             f"({d * (k - 1) + 1}); got x of shape {tuple(shape)}")
        return out_size(shape[-1], k, s, self.pad[0], self.pad[1], d)

    def macs(self, input_shape: check.Shape) -> int:
        """N*L_out*C_out * (C_in/groups)*k (bias not counted)."""
        return math.prod(self.compute_output_shape(input_shape)) * (self.in_channels // self.groups) * \
            self.kernel_size[0]

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding!r}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"  # unquoted, as torch writes it
        if self.bias is None:
            s += ", bias=False"
        return s + f", method={self.method!r}"
