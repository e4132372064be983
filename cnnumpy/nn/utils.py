"""Gradient clipping, as torch.nn.utils: rescale or clamp the gradients in place between backward and step.

    model.backward(loss_fn.backward())
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)   # or clip_grad_value_(..., 0.5)
    optimizer.step()

Only the parameters that train take part: a frozen one (requires_grad False) or one whose grad is
None is left out of the norm and left unchanged, as torch leaves out a grad that is None.

skip_init (nn/skip_init.py) is here too, where torch has it: a layer built without drawing its weights.
"""
import math
import types
import warnings
from collections.abc import Iterable

import numpy as np

from . import check
from .module import Parameter
from .skip_init import skip_init  # noqa: F401  (torch's nn.utils.skip_init)

Parameters = Parameter | Iterable[Parameter]


def _params(parameters: Parameters, warn_empty: bool = False) -> list[Parameter]:
    """parameters as a list, checked; torch warns when clip_grad_norm_ is given an empty generator."""
    if isinstance(parameters, Parameter):
        return [parameters]
    if isinstance(parameters, (np.ndarray, str, dict)) or not isinstance(parameters, Iterable):
        raise TypeError(f"parameters: expected a Parameter or an iterable of Parameters (e.g. model.parameters()), "
                        f"got {type(parameters).__name__}")
    is_generator = isinstance(parameters, types.GeneratorType)
    parameters = list(parameters)
    if warn_empty and is_generator and not parameters:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    for i, p in enumerate(parameters):
        if not isinstance(p, Parameter):
            raise TypeError(f"parameters[{i}]: expected a cnnumpy.nn.Parameter, got {type(p).__name__}")
    return parameters


def _grads(parameters: list[Parameter]) -> list[np.ndarray]:
    """The gradient arrays to clip: those of the trained parameters that have one."""
    return [p.grad for p in parameters if p.grad is not None and p.requires_grad]


def _norm_type(norm_type: float | str) -> float:
    # torch takes float(norm_type), so the string "inf" is accepted too
    if isinstance(norm_type, str):
        try:
            p = float(norm_type)
        except ValueError:
            raise ValueError(f"norm_type: expected a float or 'inf', got {norm_type!r}") from None
    else:
        p = check.real("norm_type", norm_type)
    if math.isnan(p):
        raise ValueError(f"norm_type: expected a float or 'inf', got {norm_type!r}")
    return p


def _vector_norm(x: np.ndarray, p: float) -> np.floating:
    """The p-norm of x seen as one vector, in x's dtype (torch.linalg.vector_norm):

        |x|_p = (sum_i |x_i|^p)^(1/p),   |x|_inf = max_i |x_i|,   |x|_-inf = min_i |x_i|,   |x|_0 = #{x_i != 0}
    """
    a = np.abs(x).ravel()
    if a.size == 0 and (p < 0 or p == math.inf):
        raise RuntimeError(f"cannot compute the {p} norm of an empty gradient: max and min have no identity")
    if p == math.inf:
        return a.max()
    if p == -math.inf:
        return a.min()
    if p == 0:
        return a.dtype.type(np.count_nonzero(a))
    if p == 1:
        return a.sum()
    if p == 2:
        return np.sqrt(np.dot(a, a)) if a.size else a.dtype.type(0)
    return (a ** a.dtype.type(p)).sum() ** a.dtype.type(1 / p)


def get_total_norm(tensors: np.ndarray | Iterable[np.ndarray], norm_type: float | str = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> np.floating:
    """The p-norm of all the arrays together, as if concatenated into one vector (torch.nn.utils.get_total_norm).

    Computed as torch does, as the norm of the arrays' norms: |(|g_1|_p, ..., |g_k|_p)|_p, which is the
    norm of the concatenation for every p but 0 (there it counts the non-zero arrays, as torch's does).
    Returns a NumPy scalar in the arrays' dtype (float64 if they mix float32 and float64), the
    counterpart of torch's 0-d tensor: float(norm) or norm.item() gives a Python float. With no
    arrays, float32 0.0 as in torch. `foreach` is accepted for torch's signature and has no effect.
    """
    if isinstance(tensors, np.ndarray):
        tensors = [tensors]
    p = _norm_type(norm_type)
    tensors = list(tensors)
    if not tensors:
        return np.float32(0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        norms = np.array([_vector_norm(np.asarray(g), p) for g in tensors])
        total = _vector_norm(norms, p)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters: Parameters, max_norm: float, total_norm: float | np.ndarray | np.floating,
                          foreach: bool | None = None) -> None:
    """Scale the gradients in place by min(max_norm / (total_norm + 1e-6), 1) (torch.nn.utils.clip_grads_with_norm_).

    The coefficient is clamped to 1 so that gradients are only ever scaled down; the 1e-6 keeps
    a zero norm from dividing by zero. Computed in total_norm's dtype, then cast to each grad's.
    """
    max_norm = check.real("max_norm", max_norm)
    if not max_norm >= 0:
        raise ValueError(f"max_norm: expected a value >= 0, got {max_norm}")
    grads = _grads(_params(parameters))
    if not grads:
        return
    total = np.asarray(total_norm)
    if total.dtype.kind != "f":
        total = total.astype(np.float64)
    dtype = total.dtype.type
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.minimum(dtype(max_norm) / (total + dtype(1e-6)), dtype(1.0))
        for g in grads:
            g *= coef.astype(g.dtype)


def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> np.floating:
    """Rescale the gradients in place so that their total p-norm is at most max_norm (torch.nn.utils.clip_grad_norm_).

        n = |(g_1, ..., g_k)|_p   over the trained parameters' gradients, as one vector
        g_i <- g_i * min(max_norm / (n + 1e-6), 1)

    Rescaling all gradients together keeps the direction of the step and bounds its length, which
    tames the rare huge gradient (exploding gradients in deep or recurrent nets).

    parameters: a Parameter or an iterable of them (model.parameters()); frozen ones (requires_grad
        False) and those whose grad is None are left out, as torch leaves out a grad that is None.
    max_norm: float >= 0; norm_type: p, a float, math.inf or "inf" for the largest |g|.
    error_if_nonfinite: raise RuntimeError if n is inf or NaN (otherwise the gradients are scaled
        by it anyway: a NaN norm makes every gradient NaN, as in torch).
    foreach: accepted for torch's signature; it only picks a device kernel there and has no effect here.
    Returns n, the norm before clipping, as a NumPy scalar in the gradients' dtype (see get_total_norm).
    """
    parameters = _params(parameters, warn_empty=True)  # a list: a generator would be empty when read again
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters: Parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value] in place (torch.nn.utils.clip_grad_value_).

    parameters: as in clip_grad_norm_ (frozen ones and grads that are None left out); clip_value: float >= 0.
    Unlike clip_grad_norm_ this changes the step's direction; NaN entries stay NaN.
    """
    clip_value = check.real("clip_value", clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_value: expected a value >= 0, got {clip_value}")
    for g in _grads(_params(parameters)):
        np.clip(g, -clip_value, clip_value, out=g)
