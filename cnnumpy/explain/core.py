"""What every method of cnnumpy.explain shares: a model prepared for explaining, the target classes, a layer found
by name, and the gradient of one score with respect to the input.

The score of image n for class c is s_c(x_n), the model's output before any softmax. Its gradient comes from the
model's own backward: the upstream gradient is one-hot at the target score,

    dout[n, k] = 1 if k == t_n else 0   ->   model.backward(dout)[n] = d s_{t_n}(x_n) / d x_n,

which is the row t_n of each image's Jacobian (images do not mix in eval mode, so one backward gives all N).
"""
import contextlib
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..nn.module import Module


@contextlib.contextmanager
def prepared(model: Module) -> Iterator[Module]:
    """with prepared(model): ... runs the model in eval mode and leaves it as it was found.

    Inside, every module is in eval mode (dropout off, BatchNorm on its running statistics) and every parameter is
    frozen (requires_grad False), so a backward computes input gradients only and adds nothing to any .grad. At
    exit, each module's training flag, each parameter's requires_grad and its .grad (the same array, holding the
    values it held at entry) are put back, whatever happened inside. Nesting is harmless.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a cnnumpy Module, got {type(model).__name__}")
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad, p.grad.copy()) for p in model.parameters()]
    try:
        model.eval()
        for p, *_ in params:
            p.requires_grad = False
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, requires_grad, grad, values in params:
            grad[...] = values  # the same array as before, holding the same numbers
            p.requires_grad, p.grad = requires_grad, grad


def images(x: Any, name: str = "x") -> tuple[np.ndarray, bool]:
    """x: (N, C, H, W) or one image (C, H, W) -> (the batch (N, C, H, W), whether x was one image).

    The batch is x itself or a view of it (callers never write into it); a floating array is required.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of shape (N, C, H, W) or (C, H, W), got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating dtype (float32 or float64), got {x.dtype}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected shape (N, C, H, W) or (C, H, W), got {x.shape}")
    if x.ndim == 3:
        return x[None], True
    if x.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one image, got shape {x.shape}")
    return x, False


def scores_of(model: Module, x: np.ndarray) -> np.ndarray:
    """model(x), checked to be scores (N, classes) for the N images of x."""
    s = model(x)
    if not isinstance(s, np.ndarray) or s.ndim != 2 or s.shape[0] != x.shape[0]:
        got = f"shape {s.shape}" if isinstance(s, np.ndarray) else type(s).__name__
        raise ValueError(f"model: expected scores of shape (N, classes) = ({x.shape[0]}, classes) for x of shape "
                         f"{x.shape}, got {got}")
    return s


def targets(scores: np.ndarray, target: Any) -> np.ndarray:
    """The class explained for each image: (N,) int64.

    scores: (N, K). target: None (each image's highest score), an int (every image), or a sequence or array of N
    ints; each must lie in [0, K), else a ValueError naming `target`, the range and the value.
    """
    n, k = scores.shape
    if target is None:
        return np.argmax(scores, axis=1).astype(np.int64)
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target: expected None, an int or a sequence of {n} ints, got {target!r}")
    if isinstance(target, numbers.Integral):
        t = np.full(n, int(target), dtype=np.int64)
    else:
        a = np.asarray(target)
        if a.dtype.kind not in "iu":
            raise TypeError(f"target: expected None, an int or a sequence of {n} ints, got {target!r} "
                            f"(dtype {a.dtype})")
        if a.shape != (n,):
            raise ValueError(f"target: expected one class per image, shape ({n},), got shape {a.shape}")
        t = a.astype(np.int64)
    bad = (t < 0) | (t >= k)
    if bad.any():
        raise ValueError(f"target: expected classes in [0, {k}) (the model has {k} scores), "
                         f"got {int(t[np.argmax(bad)])}")
    return t


def one_hot(scores: np.ndarray, t: np.ndarray) -> np.ndarray:
    """dout for backward: 1 at (n, t_n), 0 elsewhere, in the scores' dtype."""
    dout = np.zeros_like(scores)
    dout[np.arange(len(t)), t] = 1
    return dout


def find_layer(model: Module, layer: Any) -> Module:
    """The module `layer` names: a Module inside model (model itself included), or its name in
    model.named_modules() ("features.3"). A clear error listing some valid names otherwise."""
    named = list(model.named_modules())
    if isinstance(layer, Module):
        if any(m is layer for _, m in named):
            return layer
        raise ValueError(f"layer: expected a module inside the model, got a {type(layer).__name__} that is not one "
                         f"of its modules")
    if isinstance(layer, str):
        for name, m in named:
            if name == layer:
                return m
        names = [name for name, _ in named if name]
        some = ", ".join(repr(s) for s in names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"layer: expected the name of one of the model's modules ({some}), got {layer!r}")
    raise TypeError(f"layer: expected a Module or its name in model.named_modules(), got {type(layer).__name__}")


def score_gradient(model: Module, x: np.ndarray, target: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, d s_t / dx) for a batch: x (N, ...) -> scores (N, K), dx shaped as x.

    One forward and one backward of the model, prepared (eval mode, parameters untouched); target as in targets().
    """
    with prepared(model):
        s = scores_of(model, x)
        t = targets(s, target)
        dx = model.backward(one_hot(s, t))
    return s, dx
