"""Resize and Upsample -> nn.Upsample: "nearest" as torch's (coordinate_transformation_mode "asymmetric",
nearest_mode "floor": source = floor(i / scale)), "linear" as torch's bilinear ("align_corners" ->
align_corners=True; "pytorch_half_pixel" and "half_pixel" -> align_corners=False, the two differing only for an
output of length 1). Scales or sizes known at load time fix the layer; sizes computed from the input's shape
(a shape subgraph) set the layer's size on each call.
"""
import numpy as np

from ... import nn
from ..model import submodule
from .common import Context, Step, shape


def _pair(ctx, values, what, axes):
    """The (H, W) entries of scales or sizes given for all 4 axes (N and C untouched) or for `axes`."""
    v = [float(s) for s in np.asarray(values).reshape(-1)]
    if axes is not None:
        if sorted(a % 4 for a in axes) != [2, 3] or len(v) != 2:
            ctx.unsupported(f"{what} with axes", (v, axes), "the last two axes (H, W) of a 4-d input")
        return v if axes[0] % 4 == 2 else v[::-1]
    if len(v) != 4 or (what == "scales" and v[:2] != [1.0, 1.0]):
        ctx.unsupported(what, v, "4 values, the first two (N, C) unchanged" + (" (1.0)" if what == "scales" else ""))
    return v[2:]


def resize(ctx: Context) -> Step:
    a = ctx.attrs
    mode = a.get("mode", "nearest")
    if ctx.opset >= 11:
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        nearest = a.get("nearest_mode", "round_prefer_floor")
        a.get("cubic_coeff_a", -0.75)
        if a.get("exclude_outside", 0):
            ctx.unsupported("exclude_outside", 1, "0")
        a.get("extrapolation_value", 0.0)  # used by tf_crop_and_resize only
    else:  # opset 10: the coordinates are asymmetric, nearest rounds down
        ctm, nearest = "asymmetric", "floor"
    axes = None
    if ctx.opset >= 18:
        if a.get("antialias", 0):
            ctx.unsupported("antialias", 1, "0")
        policy = a.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ctx.unsupported("keep_aspect_ratio_policy", policy, "'stretch'")
        axes = a.get("axes")
    if mode == "nearest":
        if ctm != "asymmetric" or nearest != "floor":
            ctx.unsupported("(coordinate_transformation_mode, nearest_mode)", (ctm, nearest),
                            "('asymmetric', 'floor'), torch's nearest")
        kwargs = {"mode": "nearest"}
    elif mode == "linear":
        if ctm not in ("align_corners", "pytorch_half_pixel", "half_pixel"):
            ctx.unsupported("coordinate_transformation_mode", ctm,
                            "'align_corners', 'pytorch_half_pixel' or 'half_pixel' with mode 'linear'")
        kwargs = {"mode": "bilinear", "align_corners": ctm == "align_corners"}
    else:
        ctx.unsupported("mode", mode, "'nearest' or 'linear'")
    scales_at, sizes_at = (1, None) if ctx.opset < 11 else (2, 3)
    scales = ctx.const(scales_at)
    if scales is not None and np.size(scales) == 0:
        scales = None
    sizes = ctx.const(sizes_at) if sizes_at is not None else None
    if scales is not None:
        layer = nn.Upsample(scale_factor=tuple(_pair(ctx, scales, "scales", axes)), **kwargs)
    elif sizes is not None:
        layer = nn.Upsample(size=tuple(int(s) for s in _pair(ctx, sizes, "sizes", axes)), **kwargs)
    elif sizes_at is not None and ctx.has(sizes_at):
        layer = nn.Upsample(scale_factor=1.0, **kwargs)  # its size is set on each call, from the input
    else:
        ctx.need_const(scales_at, "scales")
    path = ctx.layer(layer, {})
    dynamic = scales is None and sizes is None
    where = ctx.where()

    def run(root, xs):
        x = xs[0]
        m = submodule(root, path)
        if len(shape(x)) != 4:
            raise ValueError(f"{where}: expected an input of 4 dimensions (N, C, H, W), got shape {shape(x)}")
        if dynamic:
            size = xs[sizes_at]
            if not isinstance(size, np.ndarray):
                raise ValueError(f"{where}: sizes must be known from shapes alone, got a tensor computed from values")
            v = [int(s) for s in size.reshape(-1)]
            m.size, m.scale_factor = (tuple(v[2:]) if len(v) == 4 else tuple(v)), None
        return [m(x)]
    return run


def upsample(ctx: Context) -> Step:
    """Upsample (opsets 7 to 9): scales as an attribute (7, 8) or an input (9), asymmetric coordinates."""
    mode = ctx.attrs.get("mode", "nearest")
    if mode != "nearest":
        ctx.unsupported("mode", mode, "'nearest' (Upsample's linear mode uses asymmetric coordinates, which torch's "
                        "bilinear does not)")
    scales = ctx.attrs.get("scales") if ctx.opset < 9 else ctx.need_const(1, "scales")
    layer = nn.Upsample(scale_factor=tuple(_pair(ctx, scales, "scales", None)), mode="nearest")
    path = ctx.layer(layer, {})
    return lambda root, xs: [submodule(root, path)(xs[0])]


BUILDERS = {"Resize": resize, "Upsample": upsample}
