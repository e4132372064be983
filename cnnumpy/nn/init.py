"""Weight initialisation, as torch.nn.init: fill a Parameter (its .data) or a float ndarray in place and return it.

Why the scale matters: a layer y = w x with fan_in inputs of unit variance and weights of variance s^2 gives
outputs of variance fan_in * s^2, so to keep the variance through many layers (neither vanishing nor
exploding) the weights are drawn with

    Xavier / Glorot:  std = gain * sqrt(2 / (fan_in + fan_out))    (a compromise of forward and backward)
    Kaiming / He:     std = gain / sqrt(fan)                        fan = fan_in (forward) or fan_out (backward)

and a uniform U(-bound, bound) has std bound / sqrt(3), so its bound is sqrt(3) * std. The gain undoes what
the nonlinearity after the layer does to the variance (ReLU zeroes half the inputs: gain sqrt(2)); see
calculate_gain. The fans are PyTorch's (_calculate_fan_in_and_fan_out): for a weight (out, in, *kernel),
fan_in = in * prod(kernel) and fan_out = out * prod(kernel), the receptive field counted in both.

torch.nn.Linear and Conv2d use kaiming_uniform_(w, a=sqrt(5)): with gain sqrt(2 / (1 + a^2)) the bound
gain * sqrt(3 / fan_in) simplifies to 1 / sqrt(fan_in); the bias is uniform on the same interval.
fan_in = in_features for Linear, (in_channels / groups) * kh * kw for Conv2d. The layers build their
parameters with `uniform` and `default_bound` below, which give exactly that.

Random draws come from `generator` (torch's name) or `rng` (the layers' name): a np.random.Generator, an int
seed, or None for cnnumpy's default generator (seeded by cnnumpy.manual_seed). They are drawn in float64 and
cast to the array's dtype, so float32 and float64 models start alike.
"""
import math
import numbers
import warnings
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from . import random
from .module import Parameter

Tensor = TypeVar("Tensor", Parameter, np.ndarray)
Rng = np.random.Generator | int | None

LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
NONLINEARITIES = LINEAR + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")


def uniform(shape: int | tuple[int, ...], bound: float, rng: Rng = None,
            dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """Samples of U(-bound, bound), drawn in float64 and cast so float32 and float64 models start alike."""
    return random.resolve(rng).uniform(-bound, bound, size=shape).astype(dtype, copy=False)


def default_bound(fan_in: int) -> float:
    """PyTorch's default bound for Linear and Conv2d: 1 / sqrt(fan_in) (0 for a layer without inputs)."""
    return 1.0 / np.sqrt(fan_in) if fan_in > 0 else 0.0


def _array(tensor) -> np.ndarray:
    """The array to fill: a Parameter's data, or a writeable floating ndarray itself."""
    a = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(a, np.ndarray):
        raise TypeError(f"tensor: expected a cnnumpy.nn.Parameter or a numpy.ndarray, got {type(tensor).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"tensor: expected a floating dtype (float32 or float64), got {a.dtype}")
    if not a.flags.writeable:
        raise ValueError(f"tensor: expected a writeable array (it is filled in place), got a read-only one "
                         f"of shape {a.shape}")
    return a


def _real(name: str, value, finite: bool = True) -> float:
    """A real number (not a bool), finite unless finite=False."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__})")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite float, got {value}")
    return value


def _source(generator: Rng, rng: Rng) -> np.random.Generator:
    """The random generator from `generator` or its alias `rng` (at most one of them), else cnnumpy's default."""
    if generator is not None and rng is not None:
        raise TypeError("generator: expected it or rng (two names for the same thing), got both")
    name, value = ("rng", rng) if rng is not None else ("generator", generator)
    if value is None or isinstance(value, np.random.Generator) or (
            isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return random.resolve(value)
    raise TypeError(f"{name}: expected a numpy.random.Generator, an int seed or None, got {type(value).__name__}")


def _fill(tensor: Tensor, values) -> Tensor:
    """Write values (an array of the tensor's shape, or a scalar) into the tensor in its dtype; return it."""
    _array(tensor)[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain torch recommends for a nonlinearity (its variance correction):

        linear, conv*, sigmoid: 1      tanh: 5/3      relu: sqrt(2)      selu: 3/4
        leaky_relu: sqrt(2 / (1 + negative_slope^2)), negative_slope = param (default 0.01)

    ReLU's sqrt(2): it zeroes half of its symmetric inputs, halving E[y^2], which twice the variance undoes.
    """
    return _gain(nonlinearity, param, "param")


def _gain(nonlinearity, param, param_name):
    if not isinstance(nonlinearity, str) or nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity: expected one of {', '.join(map(repr, NONLINEARITIES))}, "
                         f"got {nonlinearity!r}")
    if nonlinearity in LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if param is None:
        slope = 0.01
    elif isinstance(param, bool) or not isinstance(param, numbers.Real):
        # a ValueError, as torch's "negative_slope ... not a valid number"
        raise ValueError(f"{param_name}: expected a number (leaky_relu's negative slope), "
                         f"got {param!r} ({type(param).__name__})")
    else:
        slope = float(param)
    if not math.isfinite(slope):
        raise ValueError(f"{param_name}: expected a finite number (leaky_relu's negative slope), got {slope}")
    return math.sqrt(2.0 / (1 + slope ** 2))


def _calculate_fan_in_and_fan_out(tensor: Parameter | np.ndarray) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): (in * prod(kernel), out * prod(kernel)).

    As torch's function of the same name: a Linear weight (out, in) has fan_in = in, fan_out = out; a
    Conv2d weight (out, in / groups, kh, kw) has fan_in = in / groups * kh * kw.
    """
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"tensor: expected at least 2 dimensions (out, in, ...) to compute fan in and fan out, "
                         f"got {len(shape)} (shape {shape})")
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


def _fan(tensor, mode) -> int:
    """fan_in or fan_out, as mode says (case-insensitive, as torch)."""
    modes = ("fan_in", "fan_out")
    if not isinstance(mode, str) or mode.lower() not in modes:
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode.lower() == "fan_in" else fan_out


def _empty(tensor) -> bool:
    """A tensor without elements has no fans to divide by: left as it is, with torch's warning."""
    if _array(tensor).size == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Rng = None, *, rng: Rng = None) -> Tensor:
    """Fill tensor with samples of U(a, b), a <= b (both finite, as torch). Returns tensor."""
    a, b = _real("a", a), _real("b", b)
    if a > b:
        raise ValueError(f"b: expected a float >= a = {a} (the interval [a, b)), got {b}")
    shape = _array(tensor).shape
    return _fill(tensor, _source(generator, rng).uniform(a, b, size=shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Rng = None, *,
            rng: Rng = None) -> Tensor:
    """Fill tensor with samples of N(mean, std^2), std >= 0 (both finite). Returns tensor."""
    mean, std = _real("mean", mean), _real("std", std)
    if std < 0:
        raise ValueError(f"std: expected a float >= 0, got {std}")
    shape = _array(tensor).shape
    return _fill(tensor, _source(generator, rng).normal(mean, std, size=shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill tensor with val (NaN and inf too, as torch). Returns tensor."""
    return _fill(tensor, _real("val", val, finite=False))


def ones_(tensor: Tensor) -> Tensor:
    """Fill tensor with 1. Returns tensor."""
    return _fill(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill tensor with 0. Returns tensor."""
    return _fill(tensor, 0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Rng = None, *, rng: Rng = None) -> Tensor:
    """Glorot's uniform: U(-bound, bound), bound = sqrt(3) * std, std = |gain| * sqrt(2 / (fan_in + fan_out)).
    tensor: at least 2 dimensions. Returns tensor. (The distribution is symmetric, so a negative gain acts as its
    absolute value; torch raises "from > to" instead.)"""
    gain = _real("gain", gain)
    if _empty(tensor):
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * abs(gain) * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator, rng=rng)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Rng = None, *, rng: Rng = None) -> Tensor:
    """Glorot's normal: N(0, std^2), std = |gain| * sqrt(2 / (fan_in + fan_out)). tensor: at least 2 dimensions.
    Returns tensor."""
    gain = _real("gain", gain)
    if _empty(tensor):
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, abs(gain) * math.sqrt(2.0 / (fan_in + fan_out)), generator, rng=rng)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Rng = None, *, rng: Rng = None) -> Tensor:
    """He's uniform: U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan), gain = calculate_gain(nonlinearity, a),
    fan = fan_in or fan_out (mode). a: the negative slope of a leaky_relu after the layer. tensor: at least 2
    dimensions (a zero-element one is left alone, with torch's warning). Returns tensor."""
    if _empty(tensor):
        return tensor
    bound = math.sqrt(3.0) * _gain(nonlinearity, a, "a") / math.sqrt(_fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator, rng=rng)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Rng = None, *, rng: Rng = None) -> Tensor:
    """He's normal: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a), fan = fan_in or
    fan_out (mode). tensor: at least 2 dimensions (a zero-element one is left alone, with torch's warning).
    Returns tensor."""
    if _empty(tensor):
        return tensor
    std = _gain(nonlinearity, a, "a") / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator, rng=rng)


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a conv weight (out, in, *kernel) (3 to 5 dimensions) with the Dirac delta, as torch.nn.init.dirac_:
    within each of `groups` groups of out/groups filters, filter d has a single 1 at input channel d and the
    kernel's centre (index k // 2 on each axis), for d < min(out/groups, in); everything else is 0. Such a conv
    passes its first channels through unchanged ("identity init"); a slice w[:k] fills only the first k filters.
    Returns tensor."""
    a = _array(tensor)
    if not 3 <= a.ndim <= 5:
        raise ValueError(f"tensor: expected 3, 4 or 5 dimensions (a conv weight), got shape {a.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups: expected an int >= 1, got {groups!r}")
    if a.shape[0] % groups:
        raise ValueError(f"groups: expected a divisor of the dim 0 of tensor ({a.shape[0]} filters), got {groups}")
    per_group = a.shape[0] // groups
    a[...] = 0
    centre = tuple(k // 2 for k in a.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, a.shape[1])):
            a[(g * per_group + d, d) + centre] = 1
    return tensor
