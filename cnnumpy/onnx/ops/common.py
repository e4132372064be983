"""What the builders share: running a layer or an operation on whatever a value is at run time (a traced
tensor, a Parameter, or a plain array known without the input), and ONNX's padding attributes."""
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...nn.parameter import Parameter
from ...nn.traced import Index, Reshape, Traced, apply
from ..build import Context
from ..model import submodule
from .traced_ops import Pad

Step = Callable[[Any, list], list]  # fn(model, inputs) -> outputs, what a builder returns

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def is_tensor(v: Any) -> bool:
    """Whether v is computed from the input (so gradients flow through it), not a constant."""
    return isinstance(v, (Traced, Parameter))


def shape(v: Any) -> tuple[int, ...]:
    return tuple(v.shape) if isinstance(v, (Traced, Parameter)) else np.shape(v)


def reshape(x: Any, target: tuple[int, ...]) -> Any:
    target = tuple(int(n) for n in target)
    return x if shape(x) == target else apply(Reshape(target), x)


def index(x: Any, idx: tuple) -> Any:
    return apply(Index(idx), x)


def layer_step(path: str, pre: Callable | None = None, post: Callable | None = None) -> Callable:
    """A step calling the child at `path` on input 0 (pre(x) before, post(y, x) after, if given)."""
    def run(root, xs):
        x = xs[0]
        z = pre(x) if pre else x
        y = submodule(root, path)(z)
        return [post(y, x) if post else y]
    return run


def as_4d(run_layer: Callable) -> Callable:
    """(N, C), (N, C, L) or (N, C, H, W) through a layer made for (N, C, H, W): reshaped to (N, C, L, 1) and
    back (BatchNorm and InstanceNorm normalize over all axes past C, whatever their number)."""
    def run(root, xs):
        x = xs[0]
        s = shape(x)
        if len(s) == 4:
            return run_layer(root, xs)
        if len(s) not in (2, 3):
            raise ValueError(f"x: expected 2 to 4 dimensions (N, C, ...), got shape {s}")
        y = run_layer(root, [reshape(x, s[:2] + (s[2] if len(s) == 3 else 1, 1))] + list(xs[1:]))[0]
        return [reshape(y, s)]
    return run


def padding(ctx: Any, nd: int, kernel: list[int], strides: list[int], dilations: list[int]) -> tuple:
    """(begins, ends, auto) from the attributes pads ([x1_begin, x2_begin, ..., x1_end, x2_end, ...]) and
    auto_pad; for SAME_UPPER / SAME_LOWER the pads depend on the input's size (same_pads, at run time)."""
    a = ctx.attrs
    auto = a.get("auto_pad", "NOTSET")
    if auto not in AUTO_PADS:
        ctx.unsupported("auto_pad", auto, ", ".join(AUTO_PADS))
    pads = a.get("pads")
    if pads is not None and len(pads) != 2 * nd:
        ctx.unsupported("pads", pads, f"{2 * nd} values [x1_begin, x2_begin, ..., x1_end, x2_end, ...]")
    if pads is not None and any(p < 0 for p in pads):
        ctx.unsupported("pads", pads, "values >= 0")
    if auto != "NOTSET" and pads is not None and any(pads):
        ctx.unsupported("pads with auto_pad", (pads, auto), "pads only with auto_pad NOTSET")
    pads = pads or [0] * (2 * nd)
    if auto == "VALID":
        pads = [0] * (2 * nd)
    return list(pads[:nd]), list(pads[nd:]), auto if auto.startswith("SAME") else None


def same_pads(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
              auto: str) -> tuple[list[int], list[int]]:
    """SAME_UPPER / SAME_LOWER: out = ceil(n / s), the padding that makes it, the odd one at the end (UPPER)
    or at the beginning (LOWER)."""
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, big = total // 2, total - total // 2
        begins.append(small if auto == "SAME_UPPER" else big)
        ends.append(big if auto == "SAME_UPPER" else small)
    return begins, ends


def pad_spatial(x: Any, begins: Sequence[int], ends: Sequence[int], value: float = 0.0) -> Any:
    """x: (N, C, *spatial) padded on the spatial axes (a traced Pad: constant `value`)."""
    if not any(begins) and not any(ends):
        return x
    return apply(Pad([(0, 0), (0, 0)] + list(zip(begins, ends)), "constant", value), x)


def pre_pad(begins: list[int], ends: list[int], auto: str | None, kernel: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int], value: float = 0.0) -> Callable | None:
    """The padding to apply before a layer made with padding 0: explicit (asymmetric) pads, or SAME's."""
    if auto:
        def pre(x):
            b, e = same_pads(shape(x)[2:], kernel, strides, dilations, auto)
            return pad_spatial(x, b, e, value)
        return pre
    if begins != ends:
        return lambda x: pad_spatial(x, begins, ends, value)
    return None
