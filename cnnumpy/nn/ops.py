"""Functions a forward combines tensors with, as torch's: nn.cat (torch.cat) and nn.flatten (torch.flatten).

On traced tensors (inside a graph module's forward) each is a node of the graph, with its backward; on plain
arrays (a forward called outside a trace) it is the plain NumPy result.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np

from .traced import Cat, Traced, apply


def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """The tensors joined along `dim`, as torch.cat: same shape except along dim.

    tensors: a list or tuple of (N, C_i, H, W) tensors, say, with dim=1 -> (N, sum C_i, H, W). Its backward
    cuts dout back into the pieces (cnnumpy.functional.tensor.cat_backward).
    """
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise TypeError(f"tensors: expected a non-empty list or tuple of tensors, got {tensors!r}")
    ndim = np.ndim(tensors[0])
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < max(ndim, 1):
        raise ValueError(f"dim: expected an int in [-{ndim}, {ndim}), got {dim!r}")
    dim = int(dim) % ndim
    shapes = [np.shape(t) for t in tensors]
    op = Cat(dim)
    op.shape(*shapes)  # the error naming the first mismatched tensor
    return apply(op, *tensors)


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """x with the axes start_dim..end_dim merged into one, as torch.flatten(x, start_dim, end_dim):
    (N, C, H, W) with start_dim=1 -> (N, C*H*W)."""
    if isinstance(x, Traced):
        return x.flatten(start_dim, end_dim)
    x = np.asarray(x)
    s, e = start_dim % max(x.ndim, 1), end_dim % max(x.ndim, 1)
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])
