"""One sample without its batch axis, as torch: a class decorator that lets a layer written for batches take it.

torch's image layers take (N, C, H, W) or one sample (C, H, W) (Conv2d, the pools, MaxUnpool2d); a layer here is
written for the batch only, and `@unbatched(4, "(N, C, H, W)")` adds the other case once, around its methods:

    forward(x, *args):         x of 3 dims -> the layer's forward on x[None] (and every further array argument
                               with a batch axis too, MaxUnpool2d's indices), then the axis dropped from each output
    backward(dout, ...):       dout of the sample's output shape -> the layer's backward on dout[None], dx[0]
    compute_output_shape(s):   (C, H, W) -> the layer's answer for (1, C, H, W), without the 1

Adding an axis of size 1 and dropping it again copies nothing, and the arithmetic is the batch's, so the unbatched
call gives exactly the numbers of a batch of one. What forward cached is kept inside an `Unbatched` record (so a
mechanism that saves and restores a module's cache between calls keeps the two cases apart).
"""
import functools
import re
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np

from . import check


_C = TypeVar("_C", bound=type)  # the decorated class, returned as it came


class Unbatched(NamedTuple):
    """What forward cached for an unbatched x: the layer's own cache (of the batch of one) and the sample's
    output shape, which dout must have."""
    cache: Any
    y_shape: tuple[int, ...]


def sample_message(message: str, *shapes: tuple[int, ...]) -> str:
    """A layer's error about the batch of one made of a sample (and of its other arrays, of `shapes`), said of what
    the user gave: each batched shape (1, *shape) becomes shape (in one pass, longest first), and each expected
    "(N, C, H, W)" also names "(C, H, W)"."""
    given = {str((1,) + tuple(s)): str(tuple(s)) for s in shapes}
    pattern = "|".join(re.escape(k) for k in sorted(given, key=len, reverse=True))
    message = re.sub(pattern, lambda m: given[m.group(0)], message)
    return re.sub(r"\(N, ([^()]*)\)", r"(N, \1) or (\1)", message)


def unbatched(ndim: int, dims: str) -> Callable[[_C], _C]:
    """Class decorator: the layer, written for inputs of `ndim` dimensions named `dims` ("(N, C, H, W)"), also
    takes one sample of ndim - 1 dimensions, as torch. Other ranks get an error naming both."""
    sample_dims = "(" + dims.split(",", 1)[1].strip()  # "(N, C, H, W)" -> "(C, H, W)"

    def rank(name, shape):
        if len(shape) not in (ndim, ndim - 1):
            raise ValueError(f"{name}: expected {ndim} dimensions {dims} or {ndim - 1} {sample_dims}, got "
                             f"{len(shape)} (shape {tuple(shape)})")

    def wrap(cls):
        forward, backward, output_shape = cls.forward, cls.backward, cls.compute_output_shape

        @functools.wraps(forward)
        def forward_any(self, x, *args, **kwargs):
            if not isinstance(x, np.ndarray):
                return forward(self, x, *args, **kwargs)  # its own TypeError
            rank("x", x.shape)
            if x.ndim == ndim:
                return forward(self, x, *args, **kwargs)
            given = [a.shape for a in args if isinstance(a, np.ndarray)]
            args = tuple(a[None] if isinstance(a, np.ndarray) else a for a in args)
            try:
                out = forward(self, x[None], *args, **kwargs)
            except ValueError as e:  # said of the sample the user gave, not of the batch of one made of it
                raise ValueError(sample_message(str(e), x.shape, *given)) from None
            out = tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]
            self.cache = Unbatched(self.cache, (out[0] if isinstance(out, tuple) else out).shape)
            return out

        def backward_any(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
            saved = self.saved()
            if not isinstance(saved, Unbatched):
                return backward(self, dout, input_grad)
            check.dout_like(saved.y_shape, dout)
            self.cache = saved.cache
            try:
                dx = backward(self, dout[None], input_grad)
            finally:
                self.cache = saved  # a second backward sees the same record
            return None if dx is None else dx[0]

        # backward keeps its own signature, the one protocol's (no __wrapped__: it is no adapter of another
        # signature, as Module's for a backward without input_grad is), and takes the layer's name and docstring
        backward_any.__name__, backward_any.__qualname__ = "backward", f"{cls.__qualname__}.backward"
        backward_any.__doc__ = backward.__doc__
        backward_any.hook_runner = getattr(backward, "hook_runner", None)  # the layer's hooks still run (hooks.py)

        @functools.wraps(output_shape)
        def output_shape_any(self, input_shape):
            shape = check.shape("input_shape", input_shape)
            rank("x", shape)
            if len(shape) == ndim:
                return output_shape(self, shape)
            try:
                return output_shape(self, (1, *shape))[1:]
            except ValueError as e:
                raise ValueError(sample_message(str(e), shape)) from None

        cls.forward, cls.backward, cls.compute_output_shape = forward_any, backward_any, output_shape_any
        return cls

    return wrap
