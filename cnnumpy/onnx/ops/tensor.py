"""Arithmetic, shapes and plumbing: Add/Sub/Mul/Div/Min/Max as traced operations (a constant operand from an
initializer stays an array, a float initializer with several values is a trainable Parameter), Concat, Split,
Slice, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, ReduceMean/ReduceSum, Pad, Dropout, Identity, and the
shape arithmetic (Shape, Gather, Cast, ConstantOfShape, Equal, Where, Range, ...) that exporters write to compute
sizes, computed on plain integer arrays.
"""
import math
from collections.abc import Sequence

import numpy as np

from ... import nn
from ...functional.tuned.erf import erf_numpy
from ...nn.traced import Add, Divide, Index, Multiply, Permute, Reduce, Subtract, apply
from .. import parse as L
from .common import Context, Step, is_tensor, layer_step, reshape, shape
from .traced_ops import Expand, Extreme, Pad, Take, Unary, Where


MAX_ELEMENTS = 2 ** 28  # the largest array a shape computation may make (ConstantOfShape, Expand, Range)


def _bounded(shape: Sequence[int], what: str) -> tuple[int, ...]:
    """shape, checked to make at most MAX_ELEMENTS elements: a hostile file must not allocate without bound."""
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape) or math.prod(shape) > MAX_ELEMENTS:
        raise ValueError(f"{what}: shape {shape}: expected sizes >= 0 and at most {MAX_ELEMENTS} elements")
    return shape


def _binary(op):
    def build(ctx):
        def run(root, xs):
            a, b = xs
            if op is Divide and not is_tensor(a) and not is_tensor(b) and np.asarray(a).dtype.kind in "iu":
                return [np.trunc(np.asarray(a) / np.asarray(b)).astype(np.asarray(a).dtype)]  # C's integer division
            return [apply(op(), a, b)]
        return run
    return build


def _variadic(make):
    def build(ctx):
        def run(root, xs):
            y = xs[0]
            for x in xs[1:]:
                y = apply(make(), y, x)
            return [y]
        return run
    return build


def _unary(name, fn, grad):
    op = Unary(name, fn, grad)
    return lambda ctx: (lambda root, xs: [apply(op, xs[0])])


def _numpy_only(name, fn):
    """Ops on values known without the input (shapes, masks): their result is not differentiable."""
    def build(ctx):
        where = ctx.where()

        def run(root, xs):
            if any(is_tensor(x) for x in xs):
                raise ValueError(f"{where}: {name} of a tensor computed from the input is not differentiable; "
                                 "supported: on shapes and constants only")
            return [fn(*xs)]
        return run
    return build


def pow_(ctx: Context) -> Step:
    def run(root, xs):
        x, p = xs
        if is_tensor(p):
            raise ValueError(f"{ctx_where}: Pow with an exponent computed from the input is not supported")
        if not is_tensor(x):
            return [np.power(x, p).astype(np.asarray(x).dtype)]
        e = float(np.asarray(p).reshape(-1)[0])
        return [apply(Unary("pow", lambda v: v ** e, lambda v, y: e * v ** (e - 1)), x)]
    ctx_where = ctx.where()
    return run


def _axes(ctx, i_input, attr="axes", first_input_opset=13):
    """Axes from the attribute (older opsets) or from input i (newer): a list of ints, or None."""
    if ctx.opset >= first_input_opset:
        return ctx.ints(i_input, "axes")
    return ctx.attrs.get(attr)


def concat(ctx: Context) -> Step:
    axis = ctx.attrs.get("axis")
    if axis is None:
        ctx.unsupported("axis", None, "an int")

    def run(root, xs):
        if not any(is_tensor(x) for x in xs):
            return [np.concatenate([np.asarray(x) for x in xs], axis=axis)]
        xs = [x for x in xs if math.prod(shape(x)) or len(shape(x)) != 1]  # ONNX allows empty 1-d operands
        return [nn.cat(xs, dim=axis)]
    return run


def split(ctx: Context) -> Step:
    axis = ctx.attrs.get("axis", 0)
    n_out = len(ctx.node.output)
    sizes = ctx.ints(1, "split") if ctx.opset >= 13 else ctx.attrs.get("split")
    if ctx.opset >= 18:
        k = ctx.attrs.get("num_outputs")
        if k is not None and k != n_out:
            ctx.unsupported("num_outputs", k, f"the number of outputs ({n_out})")

    def run(root, xs):
        x = xs[0]
        s = shape(x)
        d = axis % len(s)
        parts = sizes or [-(-s[d] // n_out)] * (n_out - 1) + [s[d] - (n_out - 1) * -(-s[d] // n_out)]
        out, start = [], 0
        for p in parts:
            idx = (slice(None),) * d + (slice(start, start + p),)
            out.append(apply(Index(idx), x))
            start += p
        return out
    return run


def _slice_index(s, starts, ends, axes, steps):
    """Python slices for ONNX's Slice: starts and ends clamped to the axis as the spec says."""
    idx = [slice(None)] * len(s)
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    for b, e, a, k in zip(starts, ends, axes, steps):
        n = s[a % len(s)]
        if k == 0:
            raise ValueError("Slice: steps must not be 0")
        b = b + n if b < 0 else b
        e = e + n if e < 0 else e
        if k > 0:
            b, e = min(max(b, 0), n), min(max(e, 0), n)
        else:
            b, e = min(max(b, 0), n - 1), min(max(e, -1), n - 1)
        idx[a % len(s)] = slice(b, e if e >= 0 else None, k)
    return tuple(idx)


def slice_(ctx: Context) -> Step:
    if ctx.opset < 10:
        a = ctx.attrs
        fixed = (a.get("starts"), a.get("ends"), a.get("axes"), None)

    def run(root, xs):
        x = xs[0]
        if ctx_opset < 10:
            args = fixed
        else:
            for v in xs[1:]:
                if is_tensor(v):
                    raise ValueError(f"{where}: Slice bounds computed from the input's values are not supported")
            args = [None if v is None else [int(i) for i in np.asarray(v).reshape(-1)] for v in xs[1:5]]
            args += [None] * (4 - len(args))
        return [apply(Index(_slice_index(shape(x), *args)), x)]
    ctx_opset, where = ctx.opset, ctx.where()
    return run


def flatten(ctx: Context) -> Step:
    axis = ctx.attrs.get("axis", 1)

    def run(root, xs):
        s = shape(xs[0])
        k = axis % len(s) if axis < 0 else axis
        return [reshape(xs[0], (math.prod(s[:k]), math.prod(s[k:])))]
    return run


def reshape_(ctx: Context) -> Step:
    allowzero = ctx.attrs.get("allowzero", 0) if ctx.opset >= 14 else 0
    where = ctx.where()

    def run(root, xs):
        x, target = xs
        if is_tensor(target):
            raise ValueError(f"{where}: a shape computed from the input's values is not supported")
        s = shape(x)
        t = [s[i] if n == 0 and not allowzero else int(n) for i, n in enumerate(np.asarray(target).reshape(-1))]
        if -1 in t:
            known = math.prod(n for n in t if n != -1)
            t[t.index(-1)] = math.prod(s) // known if known else 0
        if math.prod(t) != math.prod(s):
            raise ValueError(f"{where}: cannot reshape shape {s} to {t}")
        return [reshape(x, tuple(t))]
    return run


def transpose(ctx: Context) -> Step:
    perm = ctx.attrs.get("perm")

    def run(root, xs):
        p = perm if perm is not None else list(range(len(shape(xs[0]))))[::-1]
        return [apply(Permute(tuple(p)), xs[0])]
    return run


def squeeze(ctx: Context) -> Step:
    axes = _axes(ctx, 1)

    def run(root, xs):
        s = shape(xs[0])
        drop = {a % len(s) for a in axes} if axes else {i for i, n in enumerate(s) if n == 1}
        return [reshape(xs[0], tuple(n for i, n in enumerate(s) if i not in drop))]
    return run


def unsqueeze(ctx: Context) -> Step:
    axes = _axes(ctx, 1)
    if axes is None:
        ctx.unsupported("axes", None, "a list of ints")

    def run(root, xs):
        s = list(shape(xs[0]))
        rank = len(s) + len(axes)
        for a in sorted(a % rank for a in axes):
            s.insert(a, 1)
        return [reshape(xs[0], tuple(s))]
    return run


def _reduce(kind, first_input_opset):
    def build(ctx):
        axes = _axes(ctx, 1, first_input_opset=first_input_opset)
        keep = bool(ctx.attrs.get("keepdims", 1))
        noop = ctx.attrs.get("noop_with_empty_axes", 0) if ctx.opset >= first_input_opset else 0

        def run(root, xs):
            x = xs[0]
            n = len(shape(x))
            if not axes and noop:
                return [x]
            ax = tuple(sorted({a % n for a in axes})) if axes else tuple(range(n))
            if not is_tensor(x):
                return [getattr(np, kind)(x, axis=ax, keepdims=keep)]
            return [apply(Reduce(kind, ax, keep), x)]
        return run
    return build


def pad(ctx: Context) -> Step:
    a = ctx.attrs
    mode = a.get("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        ctx.unsupported("mode", mode, "'constant', 'reflect' or 'edge'")
    if ctx.opset < 11:
        pads, value, axes = a.get("pads"), a.get("value", 0.0), None
    else:
        pads = ctx.ints(1, "pads")
        v = ctx.const(2)
        if ctx.has(2) and v is None:
            ctx.need_const(2, "constant_value")
        value = 0.0 if v is None or np.size(v) == 0 else float(np.asarray(v).reshape(-1)[0])
        axes = ctx.ints(3, "axes") if ctx.opset >= 18 else None
    if pads is None:
        ctx.unsupported("pads", None, "a list of ints")
    k = len(pads) // 2
    begins, ends = pads[:k], pads[k:]
    if axes is None and k == 4 and begins[:2] == [0, 0] and ends[:2] == [0, 0] and min(pads) >= 0 \
            and mode in ("constant", "reflect"):
        quad = (begins[3], ends[3], begins[2], ends[2])  # torch's (left, right, top, bottom)
        layer = nn.ConstantPad2d(quad, value) if mode == "constant" else nn.ReflectionPad2d(quad)
        return layer_step(ctx.layer(layer, {}))

    def run(root, xs):
        n = len(shape(xs[0]))
        widths = [(0, 0)] * n
        for i, ax in enumerate(axes if axes is not None else range(k)):
            widths[ax % n] = (begins[i], ends[i])
        return [apply(Pad(widths, mode, value), xs[0])]
    return run


def dropout(ctx: Context) -> Step:
    if ctx.opset < 12:
        p = ctx.attrs.get("ratio", 0.5)
        training = None
    else:
        r = ctx.const(1)
        if ctx.has(1) and r is None:
            ctx.need_const(1, "ratio")
        p = 0.5 if r is None else float(np.asarray(r).reshape(-1)[0])
        training = ctx.const(2)
        if ctx.has(2) and training is None:
            ctx.need_const(2, "training_mode")
    ctx.attrs.get("seed")
    ctx.only_first_outputs(1)
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        ctx.training = True
    return layer_step(ctx.layer(nn.Dropout(p), {}))


def constant(ctx: Context) -> Step:
    a = ctx.attrs
    for name, make in (("value", lambda v: v), ("value_float", lambda v: np.array(v, np.float32)),
                       ("value_floats", lambda v: np.array(v, np.float32)),
                       ("value_int", lambda v: np.array(v, np.int64)),
                       ("value_ints", lambda v: np.array(v, np.int64))):
        if name in a:
            v = make(a.get(name))
            return lambda root, xs: [v]
    for name in ("sparse_value", "value_string", "value_strings"):
        if name in a:
            ctx.unsupported("attribute", name, "value, value_float(s), value_int(s)")
    ctx.unsupported("value", None, "one of value, value_float(s), value_int(s)")


def shape_(ctx: Context) -> Step:
    start, end = ctx.attrs.get("start", 0), ctx.attrs.get("end")
    return lambda root, xs: [np.array(shape(xs[0])[start:end], np.int64)]


def gather(ctx: Context) -> Step:
    axis = ctx.attrs.get("axis", 0)
    where = ctx.where()

    def run(root, xs):
        x, idx = xs
        if is_tensor(idx):
            raise ValueError(f"{where}: indices computed from the input's values are not supported")
        n = len(shape(x))
        if is_tensor(x):
            return [apply(Take(idx, axis % n), x)]
        idx = np.asarray(idx)
        x = np.asarray(x)
        return [np.take(x, np.where(idx < 0, idx + x.shape[axis], idx), axis=axis)]
    return run


def cast(ctx: Context) -> Step:
    to = ctx.attrs.get("to")
    ctx.attrs.get("saturate", 1)
    if to not in L.DTYPES:
        ctx.unsupported("to", to, "a numeric ONNX type")
    dtype = L.DTYPES[to].newbyteorder("=")
    where = ctx.where()

    def run(root, xs):
        x = xs[0]
        if is_tensor(x):
            if dtype.kind == "f":  # a float stays in the model's precision: the layers hold one dtype
                return [x]
            raise ValueError(f"{where}: a cast of a tensor computed from the input to {dtype} is not differentiable")
        return [np.asarray(x).astype(dtype)]
    return run


def constant_of_shape(ctx: Context) -> Step:
    value = ctx.attrs.get("value")
    v = np.zeros(1, np.float32) if value is None else value.reshape(-1)

    def run(root, xs):
        return [np.full(_bounded(np.asarray(xs[0]).reshape(-1), "ConstantOfShape"), v[0], v.dtype)]
    return run


def expand(ctx: Context) -> Step:
    where = ctx.where()

    def run(root, xs):
        x, s = xs
        if is_tensor(s):
            raise ValueError(f"{where}: a shape computed from the input's values is not supported")
        s = [int(n) for n in np.asarray(s).reshape(-1)]
        _bounded(np.broadcast_shapes(shape(x), tuple(s)), "Expand")
        if not is_tensor(x):
            return [np.broadcast_to(x, np.broadcast_shapes(np.shape(x), tuple(s))).copy()]
        return [apply(Expand(s), x)]
    return run


def where_(ctx: Context) -> Step:
    where = ctx.where()

    def run(root, xs):
        c, a, b = xs
        if is_tensor(c):
            raise ValueError(f"{where}: a condition computed from the input is not supported")
        if not is_tensor(a) and not is_tensor(b):
            return [np.where(c, a, b)]
        return [apply(Where(c), a, b)]
    return run


def identity(ctx: Context) -> Step:
    return lambda root, xs: [xs[0]]


def _range(start, limit, delta):
    """ONNX Range: start, start + delta, ... before limit, at most MAX_ELEMENTS of them."""
    a, b, d = (np.asarray(v).item() for v in (start, limit, delta))
    if d == 0:
        raise ValueError("Range: delta must not be 0")
    _bounded((max(math.ceil((b - a) / d), 0),), "Range")
    return np.arange(a, b, d).astype(np.asarray(start).dtype)


def _erf_grad(x, y):
    return 2.0 / math.sqrt(math.pi) * np.exp(-x * x)


def _erf(x):
    return erf_numpy(np.asarray(x).reshape(-1)).reshape(np.shape(x))


BUILDERS = {
    "Add": _binary(Add), "Sub": _binary(Subtract), "Mul": _binary(Multiply), "Div": _binary(Divide),
    "Min": _variadic(lambda: Extreme("min")), "Max": _variadic(lambda: Extreme("max")), "Sum": _variadic(Add),
    "Neg": _unary("neg", np.negative, lambda x, y: -np.ones_like(x)),
    "Sqrt": _unary("sqrt", np.sqrt, lambda x, y: 0.5 / y),
    "Exp": _unary("exp", np.exp, lambda x, y: y),
    "Log": _unary("log", np.log, lambda x, y: 1.0 / x),
    "Abs": _unary("abs", np.abs, lambda x, y: np.sign(x)),
    "Reciprocal": _unary("reciprocal", np.reciprocal, lambda x, y: -y * y),
    "Erf": _unary("erf", _erf, _erf_grad),
    "Pow": pow_,
    "Concat": concat, "Split": split, "Slice": slice_, "Flatten": flatten, "Reshape": reshape_,
    "Transpose": transpose, "Squeeze": squeeze, "Unsqueeze": unsqueeze,
    "ReduceMean": _reduce("mean", 18), "ReduceSum": _reduce("sum", 13), "Pad": pad, "Dropout": dropout,
    "Identity": identity, "Constant": constant, "Shape": shape_, "Gather": gather, "Cast": cast,
    "ConstantOfShape": constant_of_shape, "Expand": expand, "Where": where_,
    "Equal": _numpy_only("Equal", np.equal), "Less": _numpy_only("Less", np.less),
    "Greater": _numpy_only("Greater", np.greater), "Not": _numpy_only("Not", np.logical_not),
    "Range": _numpy_only("Range", lambda a, b, d: _range(a, b, d)),
    "Size": lambda ctx: (lambda root, xs: [np.array(math.prod(shape(xs[0])), np.int64)]),
}

# computed at load time when all their inputs are known then (the rest run in forward)
FOLDABLE = {"Add", "Sub", "Mul", "Div", "Min", "Max", "Sum", "Neg", "Sqrt", "Exp", "Abs", "Reciprocal", "Pow",
            "Concat", "Split", "Slice", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "ReduceMean",
            "ReduceSum", "Identity", "Constant", "Shape", "Gather", "Cast", "ConstantOfShape", "Expand", "Where",
            "Equal", "Less", "Greater", "Not", "Range", "Size"}
