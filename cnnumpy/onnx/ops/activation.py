"""Activations -> cnnumpy's activation layers: Relu -> nn.ReLU, Clip(0, 6) -> nn.ReLU6, HardSigmoid with torch's
(1/6, 1/2) -> nn.Hardsigmoid, Softmax(axis) -> nn.Softmax(dim=axis), ...; Clip with other bounds is a traced
clip. Before opset 13, Softmax and LogSoftmax flatten the input to 2-d at `axis` (axis=1 by default)."""
import math
from collections.abc import Callable

import numpy as np

from ... import nn
from ...nn.traced import Add, Multiply, apply
from .common import Context, Step, layer_step, reshape, shape
from .traced_ops import Clip


def _simple(kind, **defaults):
    """A builder for an activation whose attributes map one to one on the layer's arguments."""
    def build(ctx):
        kwargs = {ours: ctx.attrs.get(theirs, default) for theirs, (ours, default) in defaults.items()}
        return layer_step(ctx.layer(kind(**kwargs), {}))
    return build


def hard_sigmoid(ctx: Context) -> Step:
    alpha, beta = ctx.attrs.get("alpha", 0.2), ctx.attrs.get("beta", 0.5)
    if math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5:
        return layer_step(ctx.layer(nn.Hardsigmoid(), {}))
    clip = Clip(0.0, 1.0)  # other slopes: y = clip(alpha x + beta, 0, 1) as traced operations
    return lambda root, xs: [apply(clip, apply(Add(), apply(Multiply(), xs[0], alpha), beta))]


def selu(ctx: Context) -> Step:
    alpha, gamma = ctx.attrs.get("alpha", 1.67326319217681884765625), ctx.attrs.get("gamma", 1.05070102214813232421875)
    if not (math.isclose(alpha, 1.6732632, rel_tol=1e-6) and math.isclose(gamma, 1.0507010, rel_tol=1e-6)):
        ctx.unsupported("(alpha, gamma)", (alpha, gamma), "SELU's own constants")
    return layer_step(ctx.layer(nn.SELU(), {}))


def gelu(ctx: Context) -> Step:
    approximate = ctx.attrs.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        ctx.unsupported("approximate", approximate, "'none' or 'tanh'")
    return layer_step(ctx.layer(nn.GELU(approximate), {}))


def prelu(ctx: Context) -> Step:
    name, slope = ctx.weight(1, "slope")
    if name is None:
        ctx.unsupported("slope", None, "an initializer")
    s = slope.shape
    if slope.size > 1 and not (slope.ndim >= 1 and s[0] == slope.size):
        ctx.unsupported("slope shape", s, "(C,), (C, 1, 1) or a single value: one slope per channel on axis 1")
    m = nn.PReLU(slope.size, dtype=slope.dtype)
    where = ctx.where()

    def check(x):  # ONNX broadcasts the slope NumPy's way: (C,) lines up with the last axis
        if slope.size > 1 and len(shape(x)) - 1 != slope.ndim:
            raise ValueError(f"{where}: slope of shape {s} broadcasts onto an input of shape {shape(x)} along other "
                             "axes than the channels; supported: a slope shaped (C, 1, ..., 1) for the input's rank")
        return x
    return layer_step(ctx.layer(m, {"weight": (name, np.array(slope, dtype=slope.dtype).reshape(-1),
                                               lambda v: v.reshape(s), lambda v: v.reshape(-1))}), pre=check)


def clip(ctx: Context) -> Step:
    if ctx.opset < 11:
        low, high = ctx.attrs.get("min", -3.4028234663852886e38), ctx.attrs.get("max", 3.4028234663852886e38)
    else:
        lo, hi = ctx.const(1), ctx.const(2)
        if ctx.has(1) and lo is None or ctx.has(2) and hi is None:
            ctx.need_const(1 if lo is None else 2, "min" if lo is None else "max")
        low = -np.inf if lo is None else float(np.asarray(lo).reshape(-1)[0])
        high = np.inf if hi is None else float(np.asarray(hi).reshape(-1)[0])
    if low == 0 and high == 6:
        return layer_step(ctx.layer(nn.ReLU6(), {}))
    if low == 0 and high >= 3.4028234663852886e38:
        return layer_step(ctx.layer(nn.ReLU(), {}))
    op = Clip(low, high)
    return lambda root, xs: [apply(op, xs[0])]


def softmax(kind: type) -> Callable[[Context], Step]:
    def build(ctx):
        axis = ctx.attrs.get("axis", -1 if ctx.opset >= 13 else 1)
        if ctx.opset >= 13:
            return layer_step(ctx.layer(kind(dim=axis), {}))
        path = ctx.layer(kind(dim=-1), {})
        run = layer_step(path)

        def flat(root, xs):  # before opset 13: over the axes from `axis` on, as one
            s = shape(xs[0])
            k = axis % len(s)
            if k == len(s) - 1:
                return run(root, xs)
            y = run(root, [reshape(xs[0], (math.prod(s[:k]), math.prod(s[k:])))])[0]
            return [reshape(y, s)]
        return flat
    return build


BUILDERS = {
    "Relu": _simple(nn.ReLU), "Sigmoid": _simple(nn.Sigmoid), "Tanh": _simple(nn.Tanh),
    "LeakyRelu": _simple(nn.LeakyReLU, alpha=("negative_slope", 0.01)), "Elu": _simple(nn.ELU, alpha=("alpha", 1.0)),
    "HardSwish": _simple(nn.Hardswish), "Softplus": _simple(nn.Softplus), "Mish": _simple(nn.Mish),
    "HardSigmoid": hard_sigmoid, "Selu": selu, "Gelu": gelu, "PRelu": prelu, "Clip": clip,
    "Softmax": softmax(nn.Softmax), "LogSoftmax": softmax(nn.LogSoftmax),
}
