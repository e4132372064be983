"""Resize and Upsample -> nn.Upsample: "nearest" as torch's (coordinate_transformation_mode "asymmetric",
nearest_mode "floor": source = floor(i / scale)), "linear" as torch's bilinear ("align_corners" ->
align_corners=True; "pytorch_half_pixel" and "half_pixel" -> align_corners=False, the two differing only for an
output of length 1). Scales or sizes known at load time fix the layer; sizes computed from the input's shape
(a shape subgraph) set the layer's size on each call. The other coordinate modes and roundings (ONNX's default
for nearest, half_pixel with round_prefer_floor, among them) run as takes along each axis (_separable).
"""
import numpy as np

from ... import nn
from ...nn.traced import apply
from ..model import submodule
from .common import Context, Step, shape
from .traced_ops import Take


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
    if mode not in ("nearest", "linear"):
        ctx.unsupported("mode", mode, "'nearest' or 'linear'")
    if ctm not in COORDINATES:
        ctx.unsupported("coordinate_transformation_mode", ctm, ", ".join(map(repr, COORDINATES)))
    if mode == "nearest" and nearest not in ROUNDING:
        ctx.unsupported("nearest_mode", nearest, ", ".join(map(repr, ROUNDING)))
    scales_at, sizes_at = (1, None) if ctx.opset < 11 else (2, 3)
    scales = ctx.const(scales_at)
    if scales is not None and np.size(scales) == 0:
        scales = None
    sizes = ctx.const(sizes_at) if sizes_at is not None else None
    dynamic = scales is None and sizes is None
    if dynamic and not (sizes_at is not None and ctx.has(sizes_at)):
        ctx.need_const(scales_at, "scales")
    given = _pair(ctx, scales, "scales", axes) if scales is not None else None
    fixed = [int(v) for v in _pair(ctx, sizes, "sizes", axes)] if sizes is not None else None
    where = ctx.where()
    general = _separable(mode, ctm, nearest, given, fixed, sizes_at, where)
    if mode == "nearest" and (ctm, nearest) != ("asymmetric", "floor") or mode == "linear" and ctm not in (
            "align_corners", "pytorch_half_pixel", "half_pixel"):
        return general
    kwargs = {"mode": "nearest"} if mode == "nearest" else {"mode": "bilinear", "align_corners": ctm == "align_corners"}
    if given is not None:
        layer = nn.Upsample(scale_factor=tuple(given), **kwargs)
    elif fixed is not None:
        layer = nn.Upsample(size=tuple(fixed), **kwargs)
    else:
        layer = nn.Upsample(scale_factor=1.0, **kwargs)  # its size is set on each call, from the input
    path = ctx.layer(layer, {})

    def run(root, xs):
        x = xs[0]
        m = submodule(root, path)
        if len(shape(x)) != 4:
            raise ValueError(f"{where}: expected an input of 4 dimensions (N, C, H, W), got shape {shape(x)}")
        outs, _, lengths = _plan(shape(x), given, fixed, _sizes(xs, sizes_at))
        # where torch's layer and ONNX part: pytorch_half_pixel's output of length 1 (its source is 0, torch's
        # the middle), align_corners at scales whose output length is not whole (ONNX divides by n_in * s - 1)
        if (ctm == "pytorch_half_pixel" and 1 in outs
                or ctm == "align_corners" and any(o != length for o, length in zip(outs, lengths))):
            return general(root, xs)
        if dynamic:
            m.size, m.scale_factor = tuple(outs), None
        return [m(x)]
    return run


# ONNX's coordinate_transformation_mode: the source coordinate of output index i along an axis of n_in values
# resized to n_out, `length` = n_in * scale (not rounded, when scales are given), at scale s, as onnx.reference
COORDINATES = {
    "half_pixel": lambda i, n_in, n_out, length, s: (i + 0.5) / s - 0.5,
    "pytorch_half_pixel": lambda i, n_in, n_out, length, s: (i + 0.5) / s - 0.5 if length > 1 else 0 * i,
    "align_corners": lambda i, n_in, n_out, length, s: i * (n_in - 1) / (length - 1) if length > 1 else 0 * i,
    "asymmetric": lambda i, n_in, n_out, length, s: i / s,
    "half_pixel_symmetric": lambda i, n_in, n_out, length, s: (n_in / 2 * (1 - n_out / length) + (i + 0.5) / s
                                                                - 0.5),
}
# nearest_mode: the source index of a source coordinate
ROUNDING = {"round_prefer_floor": lambda c: np.ceil(c - 0.5), "round_prefer_ceil": lambda c: np.floor(c + 0.5),
            "floor": np.floor, "ceil": np.ceil}


def _sizes(xs: list, at: int | None) -> object:
    """The step's sizes input (None when the node has none)."""
    return xs[at] if at is not None and len(xs) > at else None


def _plan(s: tuple[int, ...], given: list[float] | None, fixed: list[int] | None, size: object) -> tuple:
    """(outputs, scales, lengths) along H and W for an input of shape s: the output's sizes, the scale of each axis
    and ONNX's length_resized (n_in * scale, not rounded, when scales are given: align_corners reads it), from the
    scales given, else the sizes (fixed at load, else `size`, computed from shapes on this call)."""
    if given is not None:
        return [int(np.floor(n * f)) for n, f in zip(s[2:], given)], list(given), [n * f for n, f in zip(s[2:], given)]
    if fixed is None:
        if not isinstance(size, np.ndarray):
            raise ValueError("sizes must be known from shapes alone, got a tensor computed from values")
        fixed = [int(v) for v in size.reshape(-1)[-2:]]
    return list(fixed), [o / n for o, n in zip(fixed, s[2:])], [float(o) for o in fixed]


def _separable(mode: str, ctm: str, nearest: str, given: list[float] | None, fixed: list[int] | None,
               sizes_at: int | None, where: str) -> Step:
    """Resize in the modes torch's Upsample has no twin for, one spatial axis after the other, as traced
    operations: nearest takes the source row (or column) its rounding picks, y = x[idx]; linear mixes the two
    around the source coordinate c, y = (1 - t) x[floor c] + t x[floor c + 1], t = c - floor c, the indices
    clipped to the input (ONNX's edge padding). The backward of a take adds dout back into the rows it read."""
    to_source, rounding = COORDINATES[ctm], ROUNDING.get(nearest)

    def run(root, xs):
        x = xs[0]
        s = shape(x)
        if len(s) != 4:
            raise ValueError(f"{where}: expected an input of 4 dimensions (N, C, H, W), got shape {s}")
        outs, steps, lengths = _plan(s, given, fixed, _sizes(xs, sizes_at))
        for axis, n_in, n_out, f, length in zip((2, 3), s[2:], outs, steps, lengths):
            c = to_source(np.arange(n_out, dtype=np.float64), n_in, n_out, length, f)
            if mode == "nearest":
                x = apply(Take(np.clip(rounding(c), 0, n_in - 1).astype(np.int64), axis), x)
                continue
            lo = np.floor(c)
            t = (c - lo).reshape((-1, 1) if axis == 2 else (-1,)).astype(np.dtype(x.dtype))
            first = apply(Take(np.clip(lo, 0, n_in - 1).astype(np.int64), axis), x)
            second = apply(Take(np.clip(lo + 1, 0, n_in - 1).astype(np.int64), axis), x)
            x = first * (1 - t) + second * t
        return [x]
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
