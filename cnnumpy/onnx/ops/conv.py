"""Conv -> nn.Conv2d / nn.Conv1d, ConvTranspose -> nn.ConvTranspose2d, their weights from the initializers.

ONNX pads are [x1_begin, x2_begin, x1_end, x2_end]; cnnumpy's layers (as torch's) pad both sides alike, so
symmetric pads become the layer's padding and others an explicit pad before it (a crop after a transposed conv).
"""
from ... import nn
from ..model import submodule
from .common import Context, Step, index, layer_step, padding, pre_pad, same_pads, shape


def _geometry(ctx, w, transposed=False):
    a = ctx.attrs
    kernel = list(w.shape[2:])
    nd = len(kernel)
    given = a.get("kernel_shape")
    if given is not None and list(given) != kernel:
        ctx.unsupported("kernel_shape", given, f"the weight's spatial shape {kernel}")
    strides = a.get("strides", [1] * nd)
    dilations = a.get("dilations", [1] * nd)
    group = a.get("group", 1)
    for name, v in (("strides", strides), ("dilations", dilations)):
        if len(v) != nd or any(s < 1 for s in v):
            ctx.unsupported(name, v, f"{nd} values >= 1")
    begins, ends, auto = padding(ctx, nd, kernel, strides, dilations)
    return kernel, strides, dilations, group, begins, ends, auto


def conv(ctx: Context) -> Step:
    """Conv(X, W, B): y = conv(x, w) + b, X: (N, C, H, W) with W: (F, C/group, kh, kw), or 1-d."""
    wname, w = ctx.weight(1, "W")
    bname, b = ctx.weight(2, "B")
    if w.ndim not in (3, 4):
        ctx.unsupported("weight rank", w.ndim, "3 (Conv1d) or 4 (Conv2d)")
    kernel, strides, dilations, group, begins, ends, auto = _geometry(ctx, w)
    pre = pre_pad(begins, ends, auto, kernel, strides, dilations)
    pad = begins if pre is None else [0] * len(kernel)
    kind = nn.Conv2d if w.ndim == 4 else nn.Conv1d
    m = nn.utils.skip_init(kind, w.shape[1] * group, w.shape[0], tuple(kernel), stride=tuple(strides),
                           padding=tuple(pad), dilation=tuple(dilations), groups=group, bias=b is not None,
                           dtype=w.dtype)
    return layer_step(ctx.layer(m, {"weight": wname, "bias": bname}), pre)


def conv_transpose(ctx: Context) -> Step:
    """ConvTranspose(X, W, B): W: (C, F/group, kh, kw); out = (n-1)*s + (k-1)*d + 1 + output_padding - pads."""
    a = ctx.attrs
    wname, w = ctx.weight(1, "W")
    bname, b = ctx.weight(2, "B")
    if w.ndim != 4:
        ctx.unsupported("weight rank", w.ndim, "4 (ConvTranspose2d)")
    kernel, strides, dilations, group, begins, ends, auto = _geometry(ctx, w, transposed=True)
    out_pad = a.get("output_padding", [0, 0])
    out_shape = a.get("output_shape")
    if len(out_pad) != 2 or any(p < 0 or p >= max(s, d) for p, s, d in zip(out_pad, strides, dilations)):
        ctx.unsupported("output_padding", out_pad, "2 values, each below its stride or dilation")
    if out_shape is not None and len(out_shape) not in (2, 4):
        ctx.unsupported("output_shape", out_shape, "2 values (H_out, W_out)")
    fixed = out_shape is None and auto is None
    pad = [min(p, q) for p, q in zip(begins, ends)] if fixed else [0, 0]
    m = nn.utils.skip_init(nn.ConvTranspose2d, w.shape[0], w.shape[1] * group, tuple(kernel),
                           stride=tuple(strides), padding=tuple(pad), output_padding=tuple(out_pad) if fixed else 0,
                           groups=group, bias=b is not None, dilation=tuple(dilations), dtype=w.dtype)
    path = ctx.layer(m, {"weight": wname, "bias": bname})
    where = ctx.where()
    if fixed:
        if begins == ends:
            return layer_step(path)
        def crop(y, x):  # the layer padded min(begin, end) on both sides: crop the rest
            h, wd = shape(y)[2:]
            cut = [(p - q, n - (r - q)) for p, r, q, n in zip(begins, ends, pad, (h, wd))]
            return index(y, (slice(None), slice(None), slice(*cut[0]), slice(*cut[1])))
        return layer_step(path, post=crop)

    def run(root, xs):  # pads from output_shape or SAME, which depend on the input's size
        x = xs[0]
        sizes = shape(x)[2:]
        full = [(n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip(sizes, strides, kernel, dilations)]
        target = list(out_shape[-2:]) if out_shape is not None else [n * s for n, s in zip(sizes, strides)]
        cuts, grow = [], []
        for n, f, t, p, s, k, d in zip(sizes, full, target, out_pad, strides, kernel, dilations):
            total = s * (n - 1) + p + (k - 1) * d + 1 - t
            begin = total // 2 if auto == "SAME_UPPER" else total - total // 2
            end = f + p - (total - begin)
            if begin < 0:
                raise ValueError(f"{where}: output_shape {target} needs padding before the output; not supported")
            cuts.append((begin, end))
            grow.append(max(end - f, 0))  # rows past the full output: bias only, as output_padding makes them
        m = submodule(root, path)
        y = m(x, output_size=tuple(f + g for f, g in zip(full, grow))) if any(grow) else m(x)
        return [index(y, (slice(None), slice(None), slice(*cuts[0]), slice(*cuts[1])))]
    return run
