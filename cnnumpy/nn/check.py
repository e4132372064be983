"""Argument checks for the public boundary: each error names the argument, what was expected and what was given.

The functional kernels trust their inputs; modules call these first so that a
user sees "x: expected 4 dimensions (N, C, H, W), got shape (3, 28, 28)" rather
than a broadcasting error from deep inside.
"""
import numbers

import numpy as np

from ..functional import jit


def pair(name, value, minimum=1):
    """An int or a pair of ints, each >= minimum -> (a, b)."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r} ({type(v).__name__})")
        if v < minimum:
            raise ValueError(f"{name}: expected values >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def probability(name, value, upper_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__})")
    ok = 0 <= value < 1 if upper_open else 0 <= value <= 1
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name}: expected a value in {bound}, got {value}")
    return float(value)


def array(name, x, ndim=None, dtype=None):
    """A floating ndarray with one of the allowed numbers of dimensions (and the parameters' dtype).

    ndim: an int, a tuple of ints, or None for any; `dtype`: the parameters' dtype, or None.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype.kind != "f":  # np.issubdtype(x.dtype, np.floating), without its ~2.5 us a call
        raise TypeError(f"{name}: expected a floating dtype (float32 or float64), got {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{name}: expected dtype {np.dtype(dtype)} (the parameters' dtype), got {x.dtype}; "
            f"convert the input with x.astype(np.{np.dtype(dtype)}) or the model with model.to(np.{x.dtype})")
    if ndim is not None:
        dims(name, x.shape, ndim)
    return x


def dims(name, shape, ndim):
    """The array `name` of this shape has one of the allowed numbers of dimensions (an int or a tuple of ints)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name}: expected {want} dimensions, got {len(shape)} (shape {shape})")
    return shape


def image_batch(name, x, channels=None, dtype=None):
    """x: (N, C, H, W) floating, with C == channels when given."""
    array(name, x, dtype=dtype)
    image_shape(name, x.shape, channels)
    return x


def image_shape(name, shape, channels=None):
    """image_batch's checks on a shape alone: (N, C, H, W), C == channels when given, nothing empty."""
    if len(shape) != 4:
        raise ValueError(f"{name}: expected 4 dimensions (N, C, H, W), got {len(shape)} (shape {shape})")
    if channels is not None and shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels (shape (N, {channels}, H, W)), got shape {shape}")
    if 0 in shape:
        raise ValueError(f"{name}: expected a non-empty batch, got shape {shape}")
    return shape


def shape(name, value):
    """An array shape: a tuple or list of ints >= 0 -> a tuple of ints (what compute_output_shape takes)."""
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in value):
        raise TypeError(f"{name}: expected a tuple of ints, e.g. (1, 3, 32, 32), got {value!r}")
    if any(n < 0 for n in value):
        raise ValueError(f"{name}: expected sizes >= 0, got {tuple(value)}")
    return tuple(int(n) for n in value)


def dout_like(expected_shape, dout, dtype=None):
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


def real(name, value):
    """A real number (int or float, not bool) -> float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {value!r} ({type(value).__name__})")
    return float(value)


def dim(name, value, shape=None):
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


def compiled_dtype(name, dtype, instead):
    """method="numba" takes what its loops were compiled for: float32 or float64 in native byte order."""
    if not jit.compiled_dtype(dtype):
        raise TypeError(f"{name}: method='numba' takes float32 or float64 in native byte order, got {np.dtype(dtype)}; "
                        f"use method={instead!r} or 'auto', or convert with .astype(np.float32)")
