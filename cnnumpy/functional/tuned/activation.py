"""ReLU made fast: functional.activation's relu and relu_backward, split over cnnumpy's threads, with the
backward as one compiled pass where numba is installed. The other activations have no tuned twin.

Same signatures, results and dtypes as the readable pair, plus `tuning` (relu_split_bytes, relu_compiled);
why the tuned pair pays: docs/performance.md#tuned-relu-linear-and-batchnorm-2026-12-07.
"""
import functools
import importlib

import numpy as np

from . import compiled, threads
from .config import DEFAULT, Tuning


def relu(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """functional.activation.relu: y = max(x, 0), cache y. Arrays of at least tuning.relu_split_bytes are split
    over the threads."""
    y = np.empty(x.shape, np.result_type(x, 0))
    xf, yf = x.reshape(-1), y.reshape(-1)

    def chunk(s, lo, hi):
        # np.maximum, not x * (x > 0): NaN stays NaN, as in torch
        np.maximum(xf[lo:hi], 0, out=yf[lo:hi])

    threads.run(chunk, xf.size, threads.split(xf.size, x.nbytes, tuning.relu_split_bytes))
    return y, y


def relu_backward(dout: np.ndarray, cache: np.ndarray, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.relu_backward: dx = dout where y != 0, else 0 (even where dout is infinite).

    With numba installed, tuning.relu_compiled and float32 or float64 arrays, one compiled loop
    (loops/activation.py) selects dout or 0 in a single pass. NumPy's way is a mask and a product (faster than
    np.where), then a check: only where the product made NaN from an infinite dout times 0 is np.where needed.
    """
    y = cache
    dx = np.empty(dout.shape, dout.dtype.newbyteorder("="))  # native order, as every ufunc's output (and y)
    df, yf, dxf = dout.reshape(-1), y.reshape(-1), dx.reshape(-1)
    use_loop = (tuning.relu_compiled and compiled.has_numba()
                and all(compiled.compiled_dtype(a.dtype) for a in (dout, y)))
    loops = _loops() if use_loop else None

    def chunk(s, lo, hi):
        if loops is not None:
            loops.relu_backward(df[lo:hi], yf[lo:hi], dxf[lo:hi])
            return
        mask = np.not_equal(yf[lo:hi], 0)
        with np.errstate(invalid="ignore"):  # inf * 0: repaired just below
            out = np.multiply(df[lo:hi], mask, out=dxf[lo:hi], dtype=dx.dtype)
        if not np.isfinite(out).all():
            np.copyto(out, np.where(mask, df[lo:hi], 0))

    threads.run(chunk, df.size, threads.split(df.size, dout.nbytes, tuning.relu_split_bytes))
    return dx


@functools.cache
def _loops():
    """loops/activation.py, imported (and numba with it) at the first relu_backward that uses it."""
    return importlib.import_module(f"{__package__}.loops.activation")
