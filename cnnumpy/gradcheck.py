"""Numerical gradient check: central differences in float64 against a module's backward.

For a random upstream gradient r the scalar L = sum(r * module(x)) has
dL/dx = module.backward(r), and each entry can be checked by

    dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

and likewise for every trainable parameter. A frozen one (requires_grad False) is not differentiated
numerically: backward must leave its .grad untouched. A loss module (forward returns a scalar) is
checked with L = its output and `backward()` without arguments.
"""
import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from .nn.module import Module


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree; the message holds the report."""


def _error(analytic, numeric):
    """Worst error relative to the tensor's scale: max|a - n| / max(max|a|, max|n|)."""
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0), 1e-12)
    diff = np.abs(analytic - numeric)
    i = np.unravel_index(np.argmax(diff), diff.shape) if diff.size else ()
    return float(diff.max(initial=0.0) / scale), i


def gradcheck(module: Module, x: npt.ArrayLike, *args: Any, eps: float = 1e-6, tol: float = 1e-6, seed: int = 0,
              raise_on_fail: bool = True) -> dict[str, float]:
    """Check module's input and parameter gradients numerically, in float64.

    module: any Module; it is copied and converted to float64, never modified.
    x: the input (converted to float64); args: further forward arguments (e.g. a loss's targets).
    Returns {"x": err, "weight": err, ...}: the worst relative error of each gradient. A frozen parameter
    (requires_grad False) is checked to get no gradient: its error is 0 when backward left its .grad all zeros,
    inf when it added anything.
    Raises GradcheckError with a readable report if any error exceeds `tol`.
    """
    if not isinstance(module, Module):
        raise TypeError(f"module: expected a cnnumpy Module, got {type(module).__name__}")
    x = np.array(x, dtype=np.float64)
    # The template is the state every evaluation starts from, so stochastic layers (dropout) replay the same mask.
    template = copy.deepcopy(module).to(np.float64)
    template.cache = None

    def run(m, inp):
        out = m.forward(inp, *args)
        return out

    m = copy.deepcopy(template)
    out = run(m, x)
    scalar = np.ndim(out) == 0
    r = None if scalar else np.random.default_rng(seed).standard_normal(np.shape(out))
    m.zero_grad()
    dx = m.backward() if scalar else m.backward(r)
    analytic = {"x": dx}
    analytic.update({name: p.grad.copy() for name, p in m.named_parameters() if p.requires_grad})
    frozen = {name: p.grad.copy() for name, p in m.named_parameters() if not p.requires_grad}

    def loss(inp, name=None, index=None, value=None):
        mm = copy.deepcopy(template)
        if name is not None:
            dict(mm.named_parameters())[name].data[index] = value
        o = run(mm, inp)
        return float(o) if scalar else float(np.sum(r * o))

    numeric = {"x": numerical_gradient(loss, x, eps)}
    for name, p in template.named_parameters():
        if not p.requires_grad:
            continue
        g = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            old = p.data[i]
            g[i] = (loss(x, name, i, old + eps) - loss(x, name, i, old - eps)) / (2 * eps)
        numeric[name] = g

    errors, lines = {}, []
    for name, a in analytic.items():
        n = numeric[name]
        if a is None or np.shape(a) != n.shape:
            raise GradcheckError(f"gradcheck: gradient of {name!r} has shape {np.shape(a)}, expected {n.shape}")
        err, where = _error(np.asarray(a, dtype=np.float64), n)
        errors[name] = err
        flag = "FAIL" if err > tol else "ok"
        detail = f"at {where}: analytic {a[where]:.10g}, numeric {n[where]:.10g}" if n.size else ""
        lines.append(f"  {name:<24} {str(n.shape):<18} {err:10.3e}  {flag}  {detail}")
    for name, g in frozen.items():
        touched = bool(np.any(g != 0))
        errors[name] = float("inf") if touched else 0.0
        state = "FAIL  frozen, but backward added to its .grad" if touched else "ok  frozen: no gradient"
        lines.append(f"  {name:<24} {str(g.shape):<18} {errors[name]:10.3e}  {state}")
    if raise_on_fail and any(e > tol for e in errors.values()):
        report = "\n".join(lines)
        raise GradcheckError(
            f"gradcheck of {type(module).__name__}: relative error above {tol:g}\n"
            f"  {'gradient':<24} {'shape':<18} {'error':>10}\n{report}")
    return errors


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """df/dx by central differences, one entry at a time: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).
    x is changed in place while it runs and holds its own values again at the end."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        plus = f(x)
        x[i] = old - eps
        minus = f(x)
        x[i] = old
        g[i] = (plus - minus) / (2 * eps)
    return g
