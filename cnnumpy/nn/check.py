"""Argument checks for the public boundary: each error names the argument, what was expected and what was given.

The functional kernels trust their inputs; modules call these first so that a
user sees "x: expected 4 dimensions (N, C, H, W), got shape (3, 28, 28)" rather
than a broadcasting error from deep inside.
"""
import numbers

import numpy as np
import numpy.typing as npt

from ..functional.tuned.compiled import compiled_dtype as compiled

Shape = tuple[int, ...] | list[int]  # an array shape as the modules take it: a tuple or list of ints (see shape)


def pair(name: str, value: int | tuple[int, int] | list[int], minimum: int = 1,
         maximum: int | None = None) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum (and <= maximum, if given) -> (a, b)."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r} ({type(v).__name__})")
        if v < minimum:
            raise ValueError(f"{name}: expected values >= {minimum}, got {value!r}")
        if maximum is not None and v > maximum:
            raise ValueError(f"{name}: expected values <= {maximum}, got {value!r}")
    return int(items[0]), int(items[1])


def padding_mode(value: str) -> str:
    """A conv's padding_mode: "zeros" or "reflect"; torch's other two are refused by name."""
    if value not in ("zeros", "reflect"):
        raise ValueError(f"padding_mode: expected 'zeros' or 'reflect' (torch's 'replicate' and 'circular' are not "
                         f"implemented here), got {value!r}")
    return value


def positive_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def probability(name: str, value: float, upper_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__})")
    ok = 0 <= value < 1 if upper_open else 0 <= value <= 1
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name}: expected a value in {bound}, got {value}")
    return float(value)


def array(name: str, x: np.ndarray, ndim: int | tuple[int, ...] | None = None,
          dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """A floating ndarray with one of the allowed numbers of dimensions (and the parameters' dtype).

    ndim: an int, a tuple of ints, or None for any; `dtype`: the parameters' dtype, or None.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    # np.issubdtype(x.dtype, np.floating), for a fraction of its time: every layer call comes through here
    # (docs/performance.md#dtype-checks-by-kind)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating dtype (float32 or float64), got {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {_spelled(np.dtype(dtype))} (the parameters' dtype), "
                        f"got {_spelled(x.dtype)}; convert {_conversion(name, x.dtype, np.dtype(dtype))}")
    if ndim is not None:
        dims(name, x.shape, ndim)
    return x


def _spelled(dtype):
    """float32, or '>f4 (float32 in non-native byte order)': a dtype's name says nothing of its byte order."""
    return str(dtype) if dtype.isnative else f"{dtype.str} ({dtype.newbyteorder('=')} in non-native byte order)"


def _conversion(name, got, want):
    """How to make an input of dtype `got` meet parameters of dtype `want`: convert the input, or the model
    (only to a native dtype: np.float32 names one, and a model in non-native order serves no purpose)."""
    ways = []
    if want.isnative:
        ways.append(f"the input with {name}.astype(np.{want})")
    if got.isnative:
        ways.append(f"the model with model.to(np.{got})")
    if not ways:
        native = want.newbyteorder("=")
        ways.append(f"the model with model.to(np.{native}) and the input with {name}.astype(np.{native})")
    return " or ".join(ways)


def float_dtype(name: str, value: npt.DTypeLike) -> np.dtype:
    """A layer's parameter dtype -> np.dtype: floating (float16, float32, float64, longdouble) in the machine's
    byte order. None means float32, PyTorch's default dtype (np.dtype(None) would be float64)."""
    if value is None:
        return np.dtype(np.float32)
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a floating dtype such as np.float32 or np.float64, "
                        f"got {value!r} (not a NumPy dtype)") from None
    if dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating dtype such as np.float32 or np.float64, got {dtype}")
    if not dtype.isnative:
        native = dtype.newbyteorder("=")
        raise TypeError(f"{name}: expected a floating dtype in the machine's byte order, got {_spelled(dtype)}; "
                        f"use np.{native}")
    return dtype


def dims(name: str, shape: tuple[int, ...], ndim: int | tuple[int, ...]) -> tuple[int, ...]:
    """The array `name` of this shape has one of the allowed numbers of dimensions (an int or a tuple of ints)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name}: expected {want} dimensions, got {len(shape)} (shape {shape})")
    return shape


def image_batch(name: str, x: np.ndarray, channels: int | None = None,
                dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """x: (N, C, H, W) floating, with C == channels when given."""
    array(name, x, dtype=dtype)
    image_shape(name, x.shape, channels)
    return x


def image_shape(name: str, shape: tuple[int, ...], channels: int | None = None) -> tuple[int, ...]:
    """image_batch's checks on a shape alone: (N, C, H, W), C == channels when given, nothing empty."""
    if len(shape) != 4:
        raise ValueError(f"{name}: expected 4 dimensions (N, C, H, W), got {len(shape)} (shape {shape})")
    if channels is not None and shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels (shape (N, {channels}, H, W)), got shape {shape}")
    if 0 in shape:
        raise ValueError(f"{name}: expected a non-empty batch, got shape {shape}")
    return shape


def shape(name: str, value: Shape) -> tuple[int, ...]:
    """An array shape: a tuple or list of ints >= 0 -> a tuple of ints (what compute_output_shape takes)."""
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in value):
        raise TypeError(f"{name}: expected a tuple of ints, e.g. (1, 3, 32, 32), got {value!r}")
    if any(n < 0 for n in value):
        raise ValueError(f"{name}: expected sizes >= 0, got {tuple(value)}")
    return tuple(int(n) for n in value)


def dout_like(expected_shape: tuple[int, ...], dout: np.ndarray, dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """The upstream gradient must have the shape of forward's output."""
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"dout: expected a numpy.ndarray, got {type(dout).__name__}")
    if dout.shape != tuple(expected_shape):
        raise ValueError(f"dout: expected shape {tuple(expected_shape)} (forward's output), got {dout.shape}")
    if dout.dtype.kind != "f":
        raise TypeError(f"dout: expected a floating dtype, got {dout.dtype}")
    if dtype is not None and dout.dtype != dtype:
        dout = dout.astype(dtype)
    return dout


def real(name: str, value: float) -> float:
    """A real number (int or float, not bool) -> float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__})")
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name}: expected a float, got {value!r}, too large for one") from None


def dim(name: str, value: int, shape: tuple[int, ...] | None = None) -> int:
    """An int dimension index; given the input's shape, wrapped into [0, ndim) as in PyTorch.

    Negative values count from the end; a 0-d input counts as 1-d (dims -1 and 0 are valid), as in torch.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__})")
    if shape is None:
        return int(value)
    n = max(len(shape), 1)
    if not -n <= value < n:
        raise ValueError(f"{name}: expected an int in [{-n}, {n - 1}] for an input of shape {tuple(shape)} "
                         f"({len(shape)} dimensions), got {value}")
    return int(value) % n


def compiled_dtype(name: str, dtype: npt.DTypeLike, method: str, instead: str) -> None:
    """A compiled method (numba's loops) takes what its loops were compiled for: float32 or float64 in native
    byte order."""
    if not compiled(dtype):
        raise TypeError(f"{name}: method={method!r} takes float32 or float64 in native byte order, got "
                        f"{np.dtype(dtype)}; use method={instead!r} or 'auto', or convert with .astype(np.float32)")
