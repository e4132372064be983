"""FusedConv2d and FusedLinear: a layer, the BatchNorm folded into its weights and the activation after it, as one
module for inference (what nn.fuse puts in a model; docs/inference.md derives the folding); FusedBatchNorm2d: a
BatchNorm that no layer before it takes in (DenseNet's pre-activation, after a concatenation), with its activation.

    y = act(conv(x, w') + b')        w', b': the conv's weights with the BatchNorm folded in (nn.fusion)
    y = act(x * s + t)               s, t: the BatchNorm's running statistics and affine parameters, folded
    act: None, "relu", "relu6" or "leaky_relu" (negative_slope), applied to each chunk of y as it is written
    max_pool=True: then a 2x2 max pool of stride 2 in the same pass (FusedConv2d only)

A fused layer computes an eval-mode forward only: its BatchNorm was folded with the running statistics, which
training would change, so forward in training mode and backward raise a RuntimeError that says so (train the
unfused model, then fuse again). The weights and keys are a Conv2d's (a Linear's, a BatchNorm2d's).
"""
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..functional import methods
from ..functional.tuned import conv_infer, norm, padding
from ..functional.tuned.linear import linear
from . import check
from .conv import Conv2d
from .linear import Linear
from .norm import BatchNorm2d
from .pool import Size
from .unbatched import unbatched

INFERENCE_ONLY = ("{name} is fused for inference: its BatchNorm was folded with the running statistics and its "
                  "activation runs inside its output pass, so it has no {what}; {how}")


def _activation(activation: str | None, negative_slope: float) -> tuple[str | None, float]:
    if activation is not None and activation not in conv_infer.ACTIVATIONS:
        raise ValueError(f"activation: expected None or one of {conv_infer.ACTIVATIONS}, got {activation!r}")
    return activation, check.real("negative_slope", negative_slope)


def _refuse_training(module: Any) -> None:
    if module.training:
        raise RuntimeError(INFERENCE_ONLY.format(name=type(module).__name__, what="training mode",
                                                 how="call .eval() to infer, or train the unfused model and fuse "
                                                     "it again"))


def _act_repr(module: Any) -> str:
    if module.activation is None:
        return ""
    if module.activation == "leaky_relu":
        return f", activation='leaky_relu', negative_slope={module.negative_slope}"
    return f", activation={module.activation!r}"


@unbatched(4, "(N, C, H, W)")
class FusedConv2d(Conv2d):
    """y = act(conv2d(x, weight) + bias) in eval mode, then max_pool2d(y, 2) if max_pool: Conv2d's arguments (see
    there) plus the activation and the pool.

    x: (N, C_in, H, W) or (C_in, H, W) -> y: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), with max_pool
    (N, C_out, H_out // 2, W_out // 2): the windows of nn.MaxPool2d(2) (floor mode), whose max commutes with the
    bias and a non-decreasing activation, so the output pass takes the max of four values and writes one.
    method: "auto" picks per layer for a forward pass alone (functional/tuned/conv_infer.auto), or any of
    Conv2d's methods; the bias and the activation then run on each chunk of the output while it is in the cache
    (the "naive" method and depthwise layers: one pass after it).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | str = 0, dilation: Size = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", method: str = "auto", activation: str | None = None,
                 negative_slope: float = 0.01, max_pool: bool = False, rng: Any = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, method, rng, dtype)
        self.activation, self.negative_slope = _activation(activation, negative_slope)
        if not isinstance(max_pool, bool):
            raise TypeError(f"max_pool: expected a bool, got {max_pool!r} ({type(max_pool).__name__})")
        self.max_pool = max_pool
        self._prepared: tuple | None = None  # (weight array, method, the weights as that method multiplies them)

    def forward(self, x: np.ndarray) -> np.ndarray:
        _refuse_training(self)
        check.image_batch("x", x, channels=self.in_channels, dtype=self.weight.dtype)
        self._output_shape(x.shape)
        method = self.resolved_method(x.shape)
        if methods.CONV[method].compiled:
            check.compiled_dtype("x", x.dtype, method, "im2col")
        w, b, pad = self.weight.data, None if self.bias is None else self.bias.data, self.pad
        if self.padding_mode == "reflect" and any(pad):
            top, bottom, left, right = pad
            if max(top, bottom) >= x.shape[2] or max(left, right) >= x.shape[3]:
                raise ValueError(f"padding: padding_mode='reflect' needs each pad smaller than the input's side, got "
                                 f"padding {self.padding!r} for x of shape {x.shape}")
            x = padding.reflection_pad2d(x, (left, right, top, bottom))[0]
            pad = (0, 0, 0, 0)
        self.cache = None
        if method in conv_infer.METHODS:
            return conv_infer.conv2d(x, w, b, self.stride, pad, self.dilation, self.groups, self.activation,
                                     self.negative_slope, method, self._weights(method, x.shape, pad), self.max_pool)
        y = methods.CONV[method].module.conv2d(x, w, b, self.stride, pad, self.dilation, self.groups, keep=False)[0]
        y = conv_infer.activate_all(y, self.activation, self.negative_slope)
        return conv_infer.max_pool2(y) if self.max_pool else y

    def compute_output_shape(self, input_shape: Any) -> tuple[int, ...]:
        """Conv2d's, halved (floor) by the pool when max_pool."""
        shape = super().compute_output_shape(input_shape)
        return shape[:-2] + (shape[-2] // 2, shape[-1] // 2) if self.max_pool else shape

    def macs(self, input_shape: Any) -> int:
        """Conv2d's: the pool compares, it does not multiply."""
        n, _, ho, wo = self._output_shape(check.image_shape("x", check.shape("input_shape", input_shape),
                                                            channels=self.in_channels))
        kh, kw = self.kernel_size
        return n * self.out_channels * ho * wo * (self.in_channels // self.groups) * kh * kw

    def _weights(self, method, x_shape, pad):
        """conv_infer.prepare's weights, made again only when weight.data is another array or the method changed."""
        w = self.weight.data
        if self._prepared is None or self._prepared[0] is not w or self._prepared[1] != method:
            self._prepared = (w, method, conv_infer.prepare(w, method, x_shape, self.stride, pad, self.dilation,
                                                            self.groups))
        return self._prepared[2]

    def resolved_method(self, x_shape: Sequence[int] | None = None) -> str:
        """self.method, or for "auto" conv_infer.auto's choice for a forward pass alone (without x_shape: for an
        output too small for Winograd)."""
        if self.method != "auto":
            return self.method
        out_hw = (0, 0) if x_shape is None else self._output_shape(x_shape)[2:]
        return conv_infer.auto(self.kernel_size, self.stride, self.dilation, self.groups, self.in_channels,
                               self.out_channels, out_hw, self.weight.dtype)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Not available: a RuntimeError that says what to do instead."""
        raise RuntimeError(INFERENCE_ONLY.format(name="FusedConv2d", what="backward",
                                                 how="compute gradients with the unfused model"))

    def extra_repr(self) -> str:
        return super().extra_repr() + _act_repr(self) + (", max_pool=True" if self.max_pool else "")


class FusedLinear(Linear):
    """y = act(x W^T + b) in eval mode: Linear's arguments (see there) plus the activation.

    x: (..., in_features) -> y: (..., out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str | None = None,
                 negative_slope: float = 0.01, rng: Any = None, dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__(in_features, out_features, bias, rng, dtype)
        self.activation, self.negative_slope = _activation(activation, negative_slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        _refuse_training(self)
        check.array("x", x, dtype=self.weight.dtype)
        self._output_shape(x.shape)
        self.cache = None
        y = linear(x, self.weight.data, None if self.bias is None else self.bias.data)[0]
        return conv_infer.activate_all(y, self.activation, self.negative_slope)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Not available: a RuntimeError that says what to do instead."""
        raise RuntimeError(INFERENCE_ONLY.format(name="FusedLinear", what="backward",
                                                 how="compute gradients with the unfused model"))

    def extra_repr(self) -> str:
        return super().extra_repr() + _act_repr(self)


class FusedBatchNorm2d(BatchNorm2d):
    """y = act(batch_norm(x)) in eval mode with the running statistics, one pass: BatchNorm2d's arguments (see
    there) plus the activation.

        y = act(x * s + t)        s = weight / sqrt(running_var + eps),  t = bias - running_mean * s

    x: (N, C, H, W) -> y: the same shape. Needs running statistics (track_running_stats=True).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: npt.DTypeLike = np.float32, *, bias: bool = True,
                 activation: str | None = None, negative_slope: float = 0.01) -> None:
        if track_running_stats is not True:
            raise ValueError("track_running_stats: expected True (FusedBatchNorm2d folds the running statistics), "
                             f"got {track_running_stats!r}")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, bias=bias)
        self.activation, self.negative_slope = _activation(activation, negative_slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        _refuse_training(self)
        self._check(x)
        self.cache = None
        return norm.batch_norm_eval(x, self.running_mean, self.running_var,
                                    None if self.weight is None else self.weight.data,
                                    None if self.bias is None else self.bias.data, self.eps, self.activation,
                                    self.negative_slope)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Not available: a RuntimeError that says what to do instead."""
        raise RuntimeError(INFERENCE_ONLY.format(name="FusedBatchNorm2d", what="backward",
                                                 how="compute gradients with the unfused model"))

    def extra_repr(self) -> str:
        return super().extra_repr() + _act_repr(self)
