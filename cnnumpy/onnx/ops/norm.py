"""BatchNormalization -> nn.BatchNorm2d (running statistics as its buffers), InstanceNormalization ->
nn.InstanceNorm2d, LayerNormalization -> nn.LayerNorm, GroupNormalization -> nn.GroupNorm, LRN ->
nn.LocalResponseNorm.

ONNX's BatchNorm momentum is the weight of the old running value (running = m * running + (1 - m) * batch),
torch's the weight of the new one: momentum = 1 - m. training_mode=1 (a model exported for training) makes the
loaded model start in train mode; model.train() / model.eval() switch it as any cnnumpy model.
"""
import numpy as np

from ... import nn
from .common import Context, Step, as_4d, layer_step, shape


def batch_norm(ctx: Context) -> Step:
    a = ctx.attrs
    eps, momentum = a.get("epsilon", 1e-5), a.get("momentum", 0.9)
    if ctx.opset < 9 and a.get("spatial", 1) != 1:
        ctx.unsupported("spatial", 0, "1 (one mean and variance per channel)")
    training = a.get("training_mode", 0) if ctx.opset >= 14 else 0
    names = [ctx.weight(i, what)[0] for i, what in enumerate(("scale", "B", "mean", "var"), 1)]
    if None in names:
        ctx.unsupported("inputs", list(ctx.node.input), "X, scale, B, input_mean, input_var, all initializers")
    scale = ctx.floats[names[0]]
    if not 0 <= momentum <= 1:
        ctx.unsupported("momentum", momentum, "a value in [0, 1]")
    ctx.only_first_outputs(1)
    if training:
        ctx.training = True
    # 1 - m at float32's precision, the attribute's: 1 - 0.9 is torch's 0.1, not 0.09999999999999998
    m = nn.BatchNorm2d(scale.size, eps=eps, momentum=float(str(np.float32(1.0 - momentum))), dtype=scale.dtype)
    path = ctx.layer(m, dict(zip(("weight", "bias", "running_mean", "running_var"), names)))
    return as_4d(layer_step(path))


def instance_norm(ctx: Context) -> Step:
    eps = ctx.attrs.get("epsilon", 1e-5)
    scale, bias = ctx.const(1), ctx.const(2)
    if (ctx.node.input[1] not in ctx.floats and scale is not None and bias is not None
            and np.all(scale == 1) and np.all(bias == 0)):
        # torch.onnx's GroupNorm: InstanceNormalization over the groups, with constant ones and zeros, then the
        # per-channel affine as Mul and Add
        m = nn.InstanceNorm2d(scale.size, eps=eps, affine=False, dtype=scale.dtype)
        return as_4d(layer_step(ctx.layer(m, {})))
    wname, w = ctx.weight(1, "scale")
    bname, _ = ctx.weight(2, "B")
    m = nn.InstanceNorm2d(w.size, eps=eps, affine=True, dtype=w.dtype)
    return as_4d(layer_step(ctx.layer(m, {"weight": wname, "bias": bname})))


def layer_norm(ctx: Context) -> Step:
    a = ctx.attrs
    axis, eps = a.get("axis", -1), a.get("epsilon", 1e-5)
    a.get("stash_type", 1)  # the precision of the mean and variance: ours is the input's
    wname, w = ctx.weight(1, "Scale")
    bname, _ = ctx.weight(2, "B")
    ctx.only_first_outputs(1)
    m = nn.LayerNorm(tuple(w.shape), eps=eps, elementwise_affine=True, bias=bname is not None, dtype=w.dtype)
    path = ctx.layer(m, {"weight": wname, "bias": bname})
    where = ctx.where()

    def check(x):
        s = shape(x)
        if (axis % len(s)) != len(s) - w.ndim:
            raise ValueError(f"{where}: axis={axis} normalizes {s[axis:]}, but Scale has shape {w.shape}: expected "
                             "Scale to have the shape of the normalized axes")
        return x
    return layer_step(path, pre=check)


def group_norm(ctx: Context) -> Step:
    a = ctx.attrs
    groups, eps = a.get("num_groups"), a.get("epsilon", 1e-5)
    a.get("stash_type", 1)
    wname, w = ctx.weight(1, "scale")
    bname, _ = ctx.weight(2, "bias")
    if groups is None:
        ctx.unsupported("num_groups", None, "an int >= 1")
    if ctx.opset < 21:
        # opset 18's scale and bias are per group, ours per channel, and the channels are unknown until run
        ctx.unsupported("opset", ctx.opset, "GroupNormalization of opset 21 (scale and bias per channel)")
    m = nn.GroupNorm(groups, w.size, eps=eps, dtype=w.dtype)
    return layer_step(ctx.layer(m, {"weight": wname, "bias": bname}))


def lrn(ctx: Context) -> Step:
    a = ctx.attrs
    size = a.get("size")
    alpha, beta, bias = a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0)
    if size is None or size < 1 or size % 2 == 0:
        # ONNX sums floor((size-1)/2) channels before and ceil((size-1)/2) after, torch the other way round:
        # the two agree for odd sizes only
        ctx.unsupported("size", size, "an odd int >= 1")
    return layer_step(ctx.layer(nn.LocalResponseNorm(size, alpha, beta, bias), {}))


BUILDERS = {"BatchNormalization": batch_norm, "InstanceNormalization": instance_norm,
            "LayerNormalization": layer_norm, "GroupNormalization": group_norm, "LRN": lrn}
