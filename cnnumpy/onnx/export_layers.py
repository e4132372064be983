"""The per-layer table of export.py: each cnnumpy layer as one ONNX node or a few, in eval mode.

A rule is rule(g, m, path, x, out_shape) -> the name of the output: g the export_graph.Graph, m the layer, path
its dotted name in the model (its weights' state_dict prefix), x the export_graph.Value it takes (name and shape
for a batch of export_graph.BATCH), out_shape the layer's compute_output_shape for it. Weights go in by
g.param(m, "weight"), named by their state_dict keys. Where ONNX and torch differ, the rule says how the two are made to agree.
"""
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from .export_graph import Graph, Value

Shape = tuple[int, ...]

SELU_ALPHA, SELU_GAMMA = 1.6732632423543772, 1.0507009873554805  # torch's constants


# --- convolution and linear ------------------------------------------------------------------------------

def _bias(g, m):
    return [g.param(m, "bias")] if getattr(m, "bias", None) is not None else []


def conv2d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """Conv; ONNX's pads are [top, left, bottom, right], ours (top, bottom, left, right). padding_mode='reflect':
    a reflecting Pad, then a Conv without padding (as torch exports it)."""
    top, bottom, left, right = m.pad
    xin, pads = x.name, [top, left, bottom, right]
    if m.padding_mode == "reflect" and any(m.pad):
        xin = g.node("Pad", [x.name, g.ints([0, 0, top, left, 0, 0, bottom, right], path)], path, mode="reflect")
        pads = [0, 0, 0, 0]
    return g.node("Conv", [xin, g.param(m, "weight")] + _bias(g, m), path, kernel_shape=list(m.kernel_size),
                  strides=list(m.stride), pads=pads, dilations=list(m.dilation), group=m.groups)


def conv1d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    left, right = m.pad
    xin, pads = x.name, [left, right]
    if m.padding_mode == "reflect" and any(m.pad):
        xin = g.node("Pad", [x.name, g.ints([0, 0, left, 0, 0, right], path)], path, mode="reflect")
        pads = [0, 0]
    return g.node("Conv", [xin, g.param(m, "weight")] + _bias(g, m), path, kernel_shape=list(m.kernel_size),
                  strides=list(m.stride), pads=pads, dilations=list(m.dilation), group=m.groups)


def conv_transpose2d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """ConvTranspose; output_padding is read off the output shape (it covers forward's output_size too):
    H_out = (H - 1) stride - 2 padding + dilation (k - 1) + 1 + output_padding."""
    extra = [o - ((n - 1) * s - 2 * p + d * (k - 1) + 1) for o, n, s, p, d, k in
             zip(out_shape[2:], x.shape[2:], m.stride, m.padding, m.dilation, m.kernel_size)]
    ph, pw = m.padding
    return g.node("ConvTranspose", [x.name, g.param(m, "weight")] + _bias(g, m), path,
                  kernel_shape=list(m.kernel_size), strides=list(m.stride), pads=[ph, pw, ph, pw],
                  dilations=list(m.dilation), group=m.groups, output_padding=extra)


def linear(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """y = x W^T + b: Gemm(transB=1) for (N, in); MatMul with W transposed (folded by the runtime), then Add, for
    (N, ..., in)."""
    if len(x.shape) == 2:
        return g.node("Gemm", [x.name, g.param(m, "weight")] + _bias(g, m), path, transB=1)
    y = g.node("MatMul", [x.name, g.node("Transpose", [g.param(m, "weight")], path, perm=[1, 0])], path)
    return g.node("Add", [y] + _bias(g, m), path) if m.bias is not None else y


def _fused(layer_rule: Callable[..., str]) -> Callable[..., str]:
    """nn.fuse's FusedConv2d, FusedLinear and FusedBatchNorm2d: the layer's node (a BatchNorm already folded into a
    layer's weights), then the activation it runs in its output pass, then its 2x2 max pool of stride 2
    (FusedConv2d's max_pool)."""
    def rule(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
        y = layer_rule(g, m, path, x, out_shape)
        if m.activation == "relu":
            y = g.node("Relu", [y], path)
        elif m.activation == "relu6":
            y = g.node("Clip", [y, g.const(0.0, path), g.const(6.0, path)], path)
        elif m.activation == "leaky_relu":
            y = g.node("LeakyRelu", [y], path, alpha=float(m.negative_slope))
        if getattr(m, "max_pool", False):
            y = g.node("MaxPool", [y], path, kernel_shape=[2, 2], strides=[2, 2])
        return y
    return rule


# --- normalisation --------------------------------------------------------------------------------------

def _scale_shift(g, m, path, c):
    """gamma and beta as initializers: the layer's by key, ones and zeros when it has none."""
    w = g.param(m, "weight") if getattr(m, "weight", None) is not None else g.const(np.ones(c), f"{path}/ones")
    b = g.param(m, "bias") if getattr(m, "bias", None) is not None else g.const(np.zeros(c), f"{path}/zeros")
    return w, b


def batch_norm(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """BatchNormalization with the running statistics; a layer without them (track_running_stats=False)
    normalises by the batch's even in eval mode, as torch: mean and biased variance over every axis but 1."""
    c = x.shape[1]
    w, b = _scale_shift(g, m, path, c)
    if m.running_mean is not None:
        return g.node("BatchNormalization", [x.name, w, b, g.param(m, "running_mean"), g.param(m, "running_var")],
                      path, epsilon=m.eps)
    axes = [0] + list(range(2, len(x.shape)))
    return _normalise(g, x, axes, m.eps, w, b, path)


def _normalise(g, x, axes, eps, w, b, path):
    """(x - mean) / sqrt(var + eps) * w + b, mean and biased var over axes, w and b per channel (axis 1)."""
    d = g.node("Sub", [x.name, g.reduce("ReduceMean", x.name, axes, True, path)], path)
    var = g.reduce("ReduceMean", g.node("Mul", [d, d], path), axes, True, path)
    y = g.node("Div", [d, g.node("Sqrt", [g.node("Add", [var, g.const(eps, path)], path)], path)], path)
    n = len(x.shape)
    return g.node("Add", [g.node("Mul", [y, g.per_channel(w, n, path)], path), g.per_channel(b, n, path)], path)


def instance_norm(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """InstanceNormalization (each sample's own statistics); with track_running_stats, the running ones in eval
    mode, as BatchNormalization."""
    c = x.shape[1]
    w, b = _scale_shift(g, m, path, c)
    if m.track_running_stats:
        return g.node("BatchNormalization", [x.name, w, b, g.param(m, "running_mean"), g.param(m, "running_var")],
                      path, epsilon=m.eps)
    return g.node("InstanceNormalization", [x.name, w, b], path, epsilon=m.eps)


def group_norm(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """(N, C, ...) seen as (N, G, C/G * ...): InstanceNormalization of the G groups, then the shape back and gamma,
    beta per channel (ONNX's GroupNormalization changed the meaning of its scale at opset 21: avoided)."""
    groups = m.num_groups
    flat = g.node("Reshape", [x.name, g.ints([0, groups, -1], path)], path)
    y = g.node("InstanceNormalization", [flat, g.const(np.ones(groups), f"{path}/ones"),
                                         g.const(np.zeros(groups), f"{path}/zeros")], path, epsilon=m.eps)
    y = g.reshape_like(y, x.name, path)
    n = len(x.shape)
    if m.weight is not None:
        y = g.node("Mul", [y, g.per_channel(g.param(m, "weight"), n, path)], path)
    if m.bias is not None:
        y = g.node("Add", [y, g.per_channel(g.param(m, "bias"), n, path)], path)
    return y


def layer_norm(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    shape = m.normalized_shape
    w = g.param(m, "weight") if m.weight is not None else g.const(np.ones(shape), f"{path}/ones")
    bias = [g.param(m, "bias")] if m.bias is not None else []
    return g.node("LayerNormalization", [x.name, w] + bias, path, axis=-len(shape), epsilon=m.eps)


def local_response_norm(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """y = x / (k + alpha/size * sum of squares over the channels around c)^beta. For an odd size ONNX's LRN has
    torch's window; for an even one torch's reaches one channel further back: the sum is made by a Pad of the
    channels (size//2 before, (size-1)//2 after) and an AveragePool over them."""
    if m.size % 2:
        return g.node("LRN", [x.name], path, size=m.size, alpha=float(m.alpha), beta=float(m.beta), bias=float(m.k))
    n, c = len(x.shape), x.shape[1]
    sq = g.node("Mul", [x.name, x.name], path)
    pads = [0, m.size // 2] + [0] * (n - 2) + [0, (m.size - 1) // 2] + [0] * (n - 2)
    sq = g.node("Pad", [sq, g.ints(pads, path)], path)
    sq = g.node("Reshape", [sq, g.ints([0, 1, c + m.size - 1, -1], path)], path)
    avg = g.node("AveragePool", [sq], path, kernel_shape=[m.size, 1])
    avg = g.reshape_like(avg, x.name, path)
    div = g.node("Add", [g.node("Mul", [avg, g.const(m.alpha, path)], path), g.const(m.k, path)], path)
    return g.node("Div", [x.name, g.node("Pow", [div, g.const(m.beta, path)], path)], path)


# --- activations ----------------------------------------------------------------------------------------

def _unary(op: str, **attrs: Any) -> Callable[..., str]:
    def rule(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
        return g.node(op, [x.name], path, **attrs)
    return rule


def leaky_relu(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("LeakyRelu", [x.name], path, alpha=float(m.negative_slope))


def elu(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("Elu", [x.name], path, alpha=float(m.alpha))


def relu6(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("Clip", [x.name, g.const(0.0, path), g.const(6.0, path)], path)


def rescaling(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """y = scale * x + offset: Mul by a constant, then Add one if the offset is not 0."""
    y = g.node("Mul", [x.name, g.const(m.scale, path)], path)
    return g.node("Add", [y, g.const(m.offset, path)], path) if m.offset else y


def hardsigmoid(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """torch's relu6(x + 3) / 6: HardSigmoid with alpha 1/6, beta 1/2."""
    return g.node("HardSigmoid", [x.name], path, alpha=1 / 6, beta=0.5)


def silu(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("Mul", [x.name, g.node("Sigmoid", [x.name], path)], path)


def mish(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """x tanh(softplus(x)): the Mish node from opset 18, its formula before."""
    if g.opset >= 18:
        return g.node("Mish", [x.name], path)
    return g.node("Mul", [x.name, g.node("Tanh", [g.node("Softplus", [x.name], path)], path)], path)


def gelu(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """Gelu from opset 20; before, x (1 + erf(x / sqrt 2)) / 2 or its tanh approximation."""
    if g.opset >= 20:
        return g.node("Gelu", [x.name], path, approximate=m.approximate)
    if m.approximate == "tanh":
        cube = g.node("Mul", [g.node("Mul", [x.name, x.name], path), x.name], path)
        inner = g.node("Add", [x.name, g.node("Mul", [cube, g.const(0.044715, path)], path)], path)
        t = g.node("Tanh", [g.node("Mul", [inner, g.const(math.sqrt(2 / math.pi), path)], path)], path)
    else:
        t = g.node("Erf", [g.node("Mul", [x.name, g.const(1 / math.sqrt(2), path)], path)], path)
    half = g.node("Mul", [x.name, g.const(0.5, path)], path)
    return g.node("Mul", [half, g.node("Add", [t, g.const(1.0, path)], path)], path)


def softplus(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (torch's switch to the identity)."""
    bx = g.node("Mul", [x.name, g.const(m.beta, path)], path) if m.beta != 1 else x.name
    y = g.node("Softplus", [bx], path)
    if m.beta != 1:
        y = g.node("Div", [y, g.const(m.beta, path)], path)
    over = g.node("Greater", [bx, g.const(m.threshold, path)], path)
    return g.node("Where", [over, x.name, y], path)


def prelu(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """PRelu; one slope per channel broadcasts as (C, 1, ..., 1) over (N, C, ...)."""
    w = g.param(m, "weight")
    if m.num_parameters > 1 and len(x.shape) > 2:
        w = g.per_channel(w, len(x.shape), path)
    return g.node("PRelu", [x.name, w], path)


def _softmax_axis(m, shape):
    from ..nn.activation import _axis_of
    return _axis_of(m.dim, shape)


def softmax(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("Softmax", [x.name], path, axis=_softmax_axis(m, x.shape))


def log_softmax(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("LogSoftmax", [x.name], path, axis=_softmax_axis(m, x.shape))


def softmax2d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("Softmax", [x.name], path, axis=len(x.shape) - 3)


# --- pooling --------------------------------------------------------------------------------------------

def _end_pads(x, out_shape, kernel, stride, pad, dilation):
    """The padding after each axis that makes ONNX's floor rule give our output size: ceil_mode's extra
    windows as explicit padding (which pooling ignores), so that torch's rule for the last window holds."""
    return [max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
            for n, o, k, s, p, d in zip(x.shape[2:], out_shape[2:], kernel, stride, pad, dilation)]


def max_pool2d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    if m.return_indices:
        raise TypeError(f"{path}: cannot export MaxPool2d(return_indices=True) (two outputs; MaxUnpool2d has no "
                        "rule)")
    kernel, stride, pad, dilation = m.args
    end = _end_pads(x, out_shape, kernel, stride, pad, dilation)
    return g.node("MaxPool", [x.name], path, kernel_shape=list(kernel), strides=list(stride),
                  pads=list(pad) + end, dilations=list(dilation))


def avg_pool2d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """The divisor as torch's: count_include_pad counts the padding but not ceil_mode's extra, so the padding is
    made a Pad of zeros, and AveragePool (count_include_pad=0) divides by what lies inside the padded input;
    divisor_override: a depthwise Conv with weights 1 / divisor (the window's sum, divided)."""
    kernel, stride, pad = m.args
    ones = (1, 1)
    if m.divisor_override is not None:
        c = x.shape[1]
        end = _end_pads(x, out_shape, kernel, stride, pad, ones)
        w = g.const(np.full((c, 1) + tuple(kernel), 1.0 / m.divisor_override), f"{path}/divisor")
        return g.node("Conv", [x.name, w], path, kernel_shape=list(kernel), strides=list(stride),
                      pads=list(pad) + end, group=c)
    xin = x
    if m.count_include_pad and any(pad):
        ph, pw = pad
        xin = type(x)(g.node("Pad", [x.name, g.ints([0, 0, ph, pw, 0, 0, ph, pw], path)], path),
                      x.shape[:2] + (x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
        pad = (0, 0)
    end = _end_pads(xin, out_shape, kernel, stride, pad, ones)
    return g.node("AveragePool", [xin.name], path, kernel_shape=list(kernel), strides=list(stride),
                  pads=list(pad) + end, count_include_pad=0)


def _adaptive(op: str) -> Callable[..., str]:
    def rule(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
        """Global pooling for a 1x1 output; windows of H / H_out where the output divides the input; else an
        error (torch's windows of varying size have no ONNX pooling)."""
        if op == "MaxPool" and m.return_indices:
            raise TypeError(f"{path}: cannot export AdaptiveMaxPool2d(return_indices=True) (two outputs)")
        if tuple(out_shape[2:]) == (1, 1):
            return g.node("Global" + op, [x.name], path)
        if any(n % o for n, o in zip(x.shape[2:], out_shape[2:])):
            raise ValueError(f"{path}: cannot export {type(m).__name__}(output_size={m.output_size!r}) for an "
                             f"input of {tuple(x.shape[2:])}: ONNX pools in windows of one size, which needs an "
                             "output size dividing the input's")
        kernel = [n // o for n, o in zip(x.shape[2:], out_shape[2:])]
        return g.node(op, [x.name], path, kernel_shape=kernel, strides=kernel)
    return rule


# --- reshaping ------------------------------------------------------------------------------------------

def identity(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return x.name


def flatten(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    from .export_ops import flatten as flat
    n = max(len(x.shape), 1)
    return flat(g, x.name, x.shape, m.start_dim % n, m.end_dim % n, path)


def _pads4(g, path, ndim, left, right, top, bottom):
    before, after = [0] * (ndim - 2) + [top, left], [0] * (ndim - 2) + [bottom, right]
    return g.ints(before + after, path)


def constant_pad2d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    pads = _pads4(g, path, len(x.shape), *m.padding)
    return g.node("Pad", [x.name, pads, g.const(m.value, path)], path, mode="constant")


def reflection_pad2d(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    return g.node("Pad", [x.name, _pads4(g, path, len(x.shape), *m.padding)], path, mode="reflect")


def pixel_shuffle(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """torch's channel order c r r is DepthToSpace's CRD mode."""
    return g.node("DepthToSpace", [x.name], path, blocksize=m.upscale_factor, mode="CRD")


def pixel_unshuffle(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """(N, C, H r, W r) -> (N, C, H, r, W, r) -> (N, C, r, r, H, W) -> (N, C r r, H, W): torch's channel order
    (SpaceToDepth puts the offsets first)."""
    r = m.downscale_factor
    _, c, h, w = x.shape
    y = g.node("Reshape", [x.name, g.ints([0, c, h // r, r, w // r, r], path)], path)
    y = g.node("Transpose", [y], path, perm=[0, 1, 3, 5, 2, 4])
    return g.node("Reshape", [y, g.ints([0, c * r * r, h // r, w // r], path)], path)


def upsample(g: Graph, m: Any, path: str, x: Value, out_shape: Shape) -> str:
    """Resize. nearest: torch's legacy rule src = floor(dst * s), ONNX's asymmetric mode with floor; bilinear:
    align_corners, or pytorch_half_pixel. s is 1 / scale_factor when one was given (so the scales go in),
    else in / out (the sizes go in), as torch."""
    if m.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners" if m.align_corners
                     else "pytorch_half_pixel")
    if m.scale_factor is not None and not m.recompute_scale_factor:
        s = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor, m.scale_factor)
        return g.node("Resize", [x.name, "", g.const([1.0, 1.0, *s], path)], path, **attrs)
    # the sizes of all four axes, the batch's read from x at run time
    batch_channels = g.node("Slice", [g.node("Shape", [x.name], path), g.ints([0], path), g.ints([2], path)], path)
    sizes = g.node("Concat", [batch_channels, g.ints(out_shape[2:], path)], path, axis=0)
    return g.node("Resize", [x.name, "", "", sizes], path, **attrs)


# --- the table ------------------------------------------------------------------------------------------

RULES: dict[type, Callable[..., str]] = {
    nn.Conv2d: conv2d, nn.Conv1d: conv1d, nn.ConvTranspose2d: conv_transpose2d, nn.Linear: linear,
    nn.FusedConv2d: _fused(conv2d), nn.FusedLinear: _fused(linear), nn.FusedBatchNorm2d: _fused(batch_norm),
    nn.BatchNorm1d: batch_norm, nn.BatchNorm2d: batch_norm, nn.InstanceNorm2d: instance_norm,
    nn.GroupNorm: group_norm, nn.LayerNorm: layer_norm, nn.LocalResponseNorm: local_response_norm,
    nn.ReLU: _unary("Relu"), nn.ReLU6: relu6, nn.LeakyReLU: leaky_relu, nn.PReLU: prelu, nn.ELU: elu,
    nn.SELU: _unary("Selu", alpha=SELU_ALPHA, gamma=SELU_GAMMA), nn.GELU: gelu, nn.SiLU: silu,
    nn.Hardswish: _unary("HardSwish"), nn.Hardsigmoid: hardsigmoid, nn.Mish: mish, nn.Softplus: softplus,
    nn.Sigmoid: _unary("Sigmoid"), nn.Tanh: _unary("Tanh"), nn.Softmax: softmax, nn.LogSoftmax: log_softmax,
    nn.Softmax2d: softmax2d,
    nn.MaxPool2d: max_pool2d, nn.AvgPool2d: avg_pool2d, nn.AdaptiveAvgPool2d: _adaptive("AveragePool"),
    nn.AdaptiveMaxPool2d: _adaptive("MaxPool"),
    nn.Identity: identity, nn.Dropout: identity, nn.Dropout2d: identity, nn.Flatten: flatten,
    nn.ConstantPad2d: constant_pad2d, nn.ZeroPad2d: constant_pad2d, nn.ReflectionPad2d: reflection_pad2d,
    nn.PixelShuffle: pixel_shuffle, nn.PixelUnshuffle: pixel_unshuffle, nn.Upsample: upsample,
    nn.Rescaling: rescaling,
}


def rule(module: Any) -> Callable[..., str] | None:
    """The rule for module's class, or for the class it inherits its forward from (a subclass that only adds
    to __init__); None for a layer that computes something else."""
    for cls in type(module).__mro__:
        if cls in RULES:
            return RULES[cls] if type(module).forward is cls.forward else None
    return None


def supported() -> list[str]:
    return sorted(cls.__name__ for cls in RULES)
