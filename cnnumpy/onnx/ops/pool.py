"""MaxPool -> nn.MaxPool2d, AveragePool -> nn.AvgPool2d, GlobalAveragePool / GlobalMaxPool ->
nn.AdaptiveAvgPool2d(1) / nn.AdaptiveMaxPool2d(1).

ONNX's strides default to 1 (torch's to the kernel) and AveragePool's count_include_pad to 0 (torch's to True).
Symmetric pads within half the kernel are the layer's padding; other pads are applied before it (-inf for max
pooling, so a padded value never wins; zeros for average pooling counting the padding).
"""
from collections.abc import Callable

from ... import nn
from ...nn.traced import Reduce, apply
from .common import Context, Step, layer_step, pad_spatial, padding, pre_pad, shape


def _window(ctx: Context) -> Step:
    a = ctx.attrs
    kernel = a.get("kernel_shape")
    if kernel is None or len(kernel) != 2:
        ctx.unsupported("kernel_shape", kernel, "2 values (pooling over H and W of (N, C, H, W))")
    strides = a.get("strides", [1, 1])
    dilations = a.get("dilations", [1, 1])
    ceil = a.get("ceil_mode", 0)
    begins, ends, auto = padding(ctx, 2, kernel, strides, dilations)
    if auto:  # SAME's output is ceil(n / s) by its padding: ceil_mode changes nothing
        ceil = 0
    return kernel, strides, dilations, bool(ceil), begins, ends, auto


def max_pool(ctx: Context) -> Step:
    kernel, strides, dilations, ceil, begins, ends, auto = _window(ctx)
    ctx.attrs.get("storage_order", 0)  # the layout of the indices output, which we do not compute
    ctx.only_first_outputs(1)
    pre = pre_pad(begins, ends, auto, kernel, strides, dilations, value=float("-inf"))
    if pre is None and any(2 * p > k for p, k in zip(begins, kernel)):  # torch's limit: at most half the kernel
        def pre(x):
            return pad_spatial(x, begins, ends, float("-inf"))
    pad = begins if pre is None else [0, 0]
    m = nn.MaxPool2d(tuple(kernel), tuple(strides), tuple(pad), tuple(dilations), ceil_mode=ceil)
    return layer_step(ctx.layer(m, {}), pre)


def avg_pool(ctx: Context) -> Step:
    kernel, strides, dilations, ceil, begins, ends, auto = _window(ctx)
    count_pad = ctx.attrs.get("count_include_pad", 0)
    if dilations != [1, 1]:
        ctx.unsupported("dilations", dilations, "[1, 1]")
    asym = auto or begins != ends or any(2 * p > k for p, k in zip(begins, kernel))
    if asym and not count_pad and (auto or any(begins) or any(ends)):
        ctx.unsupported("pads (with count_include_pad=0)", auto or begins + ends,
                        "symmetric pads of at most half the kernel, or count_include_pad=1")
    pre = None
    if asym:
        pre = pre_pad(begins, ends, auto, kernel, strides, dilations) or (lambda x: pad_spatial(x, begins, ends))
    pad = [0, 0] if asym else begins
    m = nn.AvgPool2d(tuple(kernel), tuple(strides), tuple(pad), ceil_mode=ceil, count_include_pad=bool(count_pad))
    return layer_step(ctx.layer(m, {}), pre)


def global_pool(kind: type, reduce: str | None) -> Callable[[Context], Step]:
    def build(ctx):
        run = layer_step(ctx.layer(kind(1), {}))

        def any_rank(root, xs):  # (N, C, H, W) through the layer; (N, C, L) and others by a traced reduction
            s = shape(xs[0])
            if len(s) == 4:
                return run(root, xs)
            if reduce is None:
                raise ValueError(f"GlobalMaxPool: expected an input of 4 dimensions, got shape {s}")
            return [apply(Reduce(reduce, tuple(range(2, len(s))), True), xs[0])]
        return any_rank
    return build


BUILDERS = {"MaxPool": max_pool, "AveragePool": avg_pool,
            "GlobalAveragePool": global_pool(nn.AdaptiveAvgPool2d, "mean"),
            "GlobalMaxPool": global_pool(nn.AdaptiveMaxPool2d, None)}
