"""Residual: a block whose output is its body's output plus its input (He et al. 2016).

    y = body(x) + shortcut(x)        shortcut = identity when None

The shortcut gives the gradient a path around the body: by the sum rule

    dL/dx = body.backward(dout) + shortcut.backward(dout)      (+ dout itself for the identity)

since dout = dL/dy reaches both branches unchanged (the derivative of a sum is 1 for each term).
That is the fan-out rule of any graph, and Residual is a graph module (nn.graph): it writes its forward only,
and its backward is the graph's.
In a ResNet the ReLU comes after the addition: build that as Sequential(Residual(...), ReLU()).
"""
import numpy as np

from . import check
from .module import Module


class Residual(Module):
    """y = body(x) + shortcut(x), with shortcut(x) = x when shortcut is None.

    x: any shape the body takes -> y: body(x)'s shape, which must equal shortcut(x)'s
    (for the identity, x's). When the body changes the channels or the resolution, give a
    projection shortcut such as Sequential(Conv2d(C_in, C_out, 1, stride, bias=False), BatchNorm2d(C_out)).

    Children are named "body" and "shortcut", so state_dict keys are "body.<key>" and
    "shortcut.<key>", as in a torch.nn.Module holding the same two attributes.
    """

    def __init__(self, body: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        if not isinstance(body, Module):
            raise TypeError(f"body: expected a Module, got {type(body).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise TypeError(f"shortcut: expected a Module or None (identity), got {type(shortcut).__name__}")
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        self._check_sum(tuple(y.shape), tuple(s.shape))
        return y + s

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """body's output shape, which must equal the shortcut's (for the identity, the input's)."""
        shape = check.shape("input_shape", input_shape)
        y = self.body.compute_output_shape(shape)
        s = shape if self.shortcut is None else self.shortcut.compute_output_shape(shape)
        self._check_sum(tuple(y), tuple(s))
        return y

    def _check_sum(self, y_shape, s_shape):
        """body(x) and shortcut(x) of these shapes can be added: the same shape."""
        if y_shape != s_shape:
            name = "x (identity shortcut)" if self.shortcut is None else "shortcut(x)"
            raise ValueError(
                f"{name}: expected the shape of body(x), {y_shape}, got {s_shape}; the two are added, so a body "
                "that changes the channels or the size needs a projection shortcut (e.g. a 1x1 Conv2d with the "
                "body's stride)")
