"""Gemm and MatMul (+ Add) -> nn.Linear when they are one: y = x Wᵀ + b with W and b initializers.

Gemm: Y = alpha A' B' + beta C, A' = A or Aᵀ (transA), B' = B or Bᵀ (transB). With B an initializer, transA = 0
and alpha = beta = 1 it is Linear with weight B' ᵀ (B itself when transB = 1, as torch exports it). MatMul(x, W)
followed by its only reader Add(., b) is Linear with weight Wᵀ. Linear holds Wᵀ where ONNX holds W; state_dict
gives it back in ONNX's layout. Anything else is a traced matrix product.
"""
import numpy as np

from ... import nn
from ...nn.traced import Add, Multiply, Permute, apply
from .common import Context, Step, layer_step, reshape, shape
from .traced_ops import MatMul


def _t(a):
    return np.ascontiguousarray(np.swapaxes(a, -1, -2))


def _linear(ctx, wname, w_onnx, transposed, bname, b_onnx):
    """A Linear whose weight is w_onnx (ONNX's array; transposed=True: (in, out), so Linear holds its Tᵀ)."""
    w = _t(w_onnx) if transposed else w_onnx
    m = nn.utils.skip_init(nn.Linear, w.shape[1], w.shape[0], bias=b_onnx is not None, dtype=w.dtype)
    slots = {"weight": (wname, w, _t, _t) if transposed else wname}
    if b_onnx is not None:
        shape = b_onnx.shape
        slots["bias"] = (bname, b_onnx.reshape(-1), lambda v: v.reshape(shape), lambda v: v.reshape(-1))
    return layer_step(ctx.layer(m, slots))


def gemm(ctx: Context) -> Step:
    a = ctx.attrs
    alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
    trans_a, trans_b = a.get("transA", 0), a.get("transB", 0)
    b_name = ctx.node.input[1]
    c_name = ctx.node.input[2] if ctx.has(2) else None
    w = ctx.floats.get(b_name)
    c = ctx.floats.get(c_name) if c_name else None
    if (w is not None and w.ndim == 2 and not trans_a and alpha == 1.0 and beta == 1.0
            and (c_name is None or c is not None and c.size == w.shape[0 if trans_b else 1] and c.ndim <= 2
                 and c.shape[-1] == c.size)):
        ctx.weight(1, "B")
        if c_name:
            ctx.weight(2, "C")
        return _linear(ctx, b_name, w, not trans_b, c_name, c)

    def run(root, xs):
        x, b, c = xs
        if trans_a:
            x = apply(Permute((1, 0)), x)
        if trans_b:
            b = apply(Permute((1, 0)), b)
        y = apply(MatMul(), x, b)
        if alpha != 1.0:
            y = apply(Multiply(), y, alpha)
        if c is not None:
            y = apply(Add(), y, c if beta == 1.0 else apply(Multiply(), c, beta))
        return [y]
    return run


def matmul(ctx: Context) -> Step:
    name = ctx.node.input[1]
    w = ctx.floats.get(name)
    if w is not None and w.ndim == 2 and w.size > 1:
        add = ctx.sole_consumer(ctx.node.output[0])
        bias = None
        if add is not None and add.op_type == "Add" and len(add.input) == 2:
            other = add.input[1] if add.input[0] == ctx.node.output[0] else add.input[0]
            b = ctx.floats.get(other)
            if b is not None and b.size == w.shape[1] and b.shape[-1] == b.size and other not in ctx.claimed:
                bias = other
        ctx.weight(1, "B")
        if bias is not None:
            ctx.claimed.add(bias)
            ctx.absorb(add)
        return _linear(ctx, name, w, True, bias, ctx.floats[bias] if bias else None)

    def run(root, xs):  # np.matmul's 1-d rule: a vector is a row on the left, a column on the right
        a, b = xs
        sa, sb = shape(a), shape(b)
        y = apply(MatMul(), reshape(a, (1,) + sa) if len(sa) == 1 else a, reshape(b, sb + (1,)) if len(sb) == 1 else b)
        s = shape(y)
        s = s[:-2] + s[-1:] if len(sa) == 1 else s
        return [reshape(y, s[:-1] if len(sb) == 1 else s)]
    return run
