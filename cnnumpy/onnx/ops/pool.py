"""MaxPool -> nn.MaxPool2d (1-d pooling as 2-d over (1, L); 3-d over D alone as 2-d), AveragePool ->
nn.AvgPool2d, GlobalAveragePool / GlobalMaxPool -> nn.AdaptiveAvgPool2d(1) / nn.AdaptiveMaxPool2d(1).

ONNX's strides default to 1 (torch's to the kernel) and AveragePool's count_include_pad to 0 (torch's to True).
Symmetric pads within half the kernel are the layer's padding; other pads are applied before it (-inf for max
pooling, so a padded value never wins; zeros for average pooling counting the padding, and without counting it
the pooled zeros divided by the share of each window that is the input's own).
"""
from collections.abc import Callable

import numpy as np

from ... import nn
from ...functional import pool as F
from ...nn.traced import Reduce, apply
from ..model import submodule
from .common import Context, Step, layer_step, pad_spatial, padding, pre_pad, reshape, same_pads, shape


def _window(ctx: Context) -> tuple:
    """kernel, strides, dilations, ceil_mode, pad begins, pad ends, auto_pad, and the rank of the pooling: 2,
    1 (over L of (N, C, L): pooled as (1, L)) or 3 with a window of one plane (k, 1, 1), stride (s, 1, 1) and
    padding on D only (torch's LocalResponseNorm, exported: pooled as (D, H*W) with a (k, 1) window)."""
    a = ctx.attrs
    kernel = a.get("kernel_shape")
    if kernel is None or len(kernel) not in (1, 2, 3):
        ctx.unsupported("kernel_shape", kernel, "1 to 3 values")
    nd = len(kernel)
    strides = a.get("strides", [1] * nd)
    dilations = a.get("dilations", [1] * nd)
    ceil = a.get("ceil_mode", 0)
    begins, ends, auto = padding(ctx, nd, kernel, strides, dilations)
    if auto:  # SAME's output is ceil(n / s) by its padding: ceil_mode changes nothing
        ceil = 0
    if nd == 3:
        if kernel[1:] != [1, 1] or strides[1:] != [1, 1] or dilations[1:] != [1, 1] or auto or any(begins[1:]) \
                or any(ends[1:]):
            ctx.unsupported("3-d window (kernel_shape, strides, pads)", (kernel, strides, begins + ends),
                            "a window over D alone: kernel (k, 1, 1), strides (s, 1, 1), pads on D only")
        kernel, strides, dilations = ([v[0], 1] for v in (kernel, strides, dilations))
        begins, ends = [begins[0], 0], [ends[0], 0]
    if nd == 1:
        kernel, strides, dilations, begins, ends = ([one] + list(v) for one, v in (
            (1, kernel), (1, strides), (1, dilations), (0, begins), (0, ends)))
    return kernel, strides, dilations, bool(ceil), begins, ends, auto, nd


def _lifted(step: Step, nd: int) -> Step:
    """A 2-d pooling step run on (N, C, L) as (N, C, 1, L), or on (N, C, D, H, W) as (N, C, D, H*W)."""
    if nd == 2:
        return step

    def run(root, xs):
        s = shape(xs[0])
        flat = s[:2] + (1,) + s[2:] if nd == 1 else s[:3] + (s[3] * s[4],)
        y = step(root, [reshape(xs[0], flat)])[0]
        t = shape(y)
        return [reshape(y, t[:2] + t[3:] if nd == 1 else t[:3] + s[3:])]
    return run


def max_pool(ctx: Context) -> Step:
    kernel, strides, dilations, ceil, begins, ends, auto, nd = _window(ctx)
    ctx.attrs.get("storage_order", 0)  # the layout of the indices output, which we do not compute
    ctx.only_first_outputs(1)
    pre = pre_pad(begins, ends, auto, kernel, strides, dilations, value=float("-inf"))
    if pre is None and any(2 * p > k for p, k in zip(begins, kernel)):  # torch's limit: at most half the kernel
        def pre(x):
            return pad_spatial(x, begins, ends, float("-inf"))
    pad = begins if pre is None else [0, 0]
    m = nn.MaxPool2d(tuple(kernel), tuple(strides), tuple(pad), tuple(dilations), ceil_mode=ceil)
    return _lifted(layer_step(ctx.layer(m, {}), pre), nd)


def avg_pool(ctx: Context) -> Step:
    kernel, strides, dilations, ceil, begins, ends, auto, nd = _window(ctx)
    count_pad = ctx.attrs.get("count_include_pad", 0)
    if any(d != 1 for d in dilations):
        ctx.unsupported("dilations", dilations, "all 1")
    asym = auto or begins != ends or any(2 * p > k for p, k in zip(begins, kernel))
    if asym and not count_pad and (auto or any(begins) or any(ends)):
        m = nn.AvgPool2d(tuple(kernel), tuple(strides), 0, ceil_mode=ceil)
        return _lifted(_own_values_mean(ctx.layer(m, {}), begins, ends, auto, kernel, strides, dilations, ceil), nd)
    pre = None
    if asym:
        pre = pre_pad(begins, ends, auto, kernel, strides, dilations) or (lambda x: pad_spatial(x, begins, ends))
    pad = [0, 0] if asym else begins
    m = nn.AvgPool2d(tuple(kernel), tuple(strides), tuple(pad), ceil_mode=ceil, count_include_pad=bool(count_pad))
    return _lifted(layer_step(ctx.layer(m, {}), pre), nd)


def _own_values_mean(path: str, begins: list[int], ends: list[int], auto: str | None, kernel: list[int],
                     strides: list[int], dilations: list[int], ceil: bool) -> Step:
    """AveragePool with count_include_pad=0 and pads torch's layer cannot take (asymmetric, SAME, more than half
    the kernel): the mean of each window's own values, y = pool(pad(x)) / pool(pad(1)). The layer (padding 0)
    pools the zero-padded x, and the same pooling of a padded plane of ones gives the share of each window that
    is x's, a constant (whatever the layer's divisor, it cancels)."""
    def run(root, xs):
        x = xs[0]
        s = shape(x)
        b, e = same_pads(s[2:], kernel, strides, dilations, auto) if auto else (begins, ends)
        y = submodule(root, path)(pad_spatial(x, b, e))
        ones = np.zeros((1, 1) + tuple(n + p + q for n, p, q in zip(s[2:], b, e)), np.float64)
        ones[(0, 0) + tuple(slice(p, p + n) for n, p in zip(s[2:], b))] = 1
        share = F.avg_pool2d(ones, tuple(kernel), tuple(strides), (0, 0), ceil)[0]
        return [y / share.astype(y.dtype)]
    return run


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
