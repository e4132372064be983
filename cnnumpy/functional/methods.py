"""The one registry of the conv and pooling methods, and the choice that method="auto" makes.

A method is a module with the functions of its readable original (functional/conv.py: conv2d and
conv2d_backward; functional/pool.py: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d,
max_unpool2d and their backwards, and max_pool2d_indices / adaptive_max_pool2d_indices, the flat indices of the
maxima read from the cache), with the same signatures and results; a tuned one may add a keyword `tuning`
(tuned/config.py). A pooling method may implement max pooling only. Adding a method is one file and one line below; the layers (nn.Conv2d,
nn.MaxPool2d, ...) accept every name listed here, and the tests hold each method to the "naive" one.

    compiled: needs numba's loops (the extra cnnumpy[numba]) and a dtype they take (float32 or float64)
    applies:  the layers it can compute, as applies(kernel, stride, dilation, groups) -> bool; None: all
"""
import types
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from . import conv, conv_transpose, pool
from .shapes import Pair
from .tuned import conv_im2col, conv_numba, conv_winograd, pool_im2col, pool_numba
from .tuned import conv_transpose as conv_transpose_im2col
from .tuned.compiled import compiled_dtype, has_numba
from .tuned.config import DEFAULT, Tuning


class Method(NamedTuple):
    module: types.ModuleType
    compiled: bool = False
    applies: Callable[..., bool] | None = None


CONV = {
    "naive": Method(conv),
    "im2col": Method(conv_im2col),
    "numba": Method(conv_numba, compiled=True),
    "winograd": Method(conv_winograd, compiled=True, applies=conv_winograd.applies),
}

# transposed convolution (functional/conv_transpose.py); "auto" is "im2col", which runs conv_im2col backwards
CONV_TRANSPOSE = {"naive": Method(conv_transpose), "im2col": Method(conv_transpose_im2col)}

POOL = {
    "naive": Method(pool),
    "im2col": Method(pool_im2col),
    "numba": Method(pool_numba, compiled=True),
}

# pooling's vectorized method was called "fast" before it took conv's name; saved models still say so
ALIASES = {"fast": "im2col"}


def general(table: dict[str, Method]) -> list[str]:
    """The names of the methods of `table` that compute every layer (no `applies`): those a whole model can be
    given, as models.lenet5(method=...) or `cnnumpy train --method`."""
    return sorted(name for name, m in table.items() if m.applies is None)


def pool_methods(op: str) -> dict[str, Method]:
    """The pooling methods that implement `op` ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "max_unpool2d")."""
    return {name: m for name, m in POOL.items() if hasattr(m.module, op)}


def auto_conv(kernel: Pair, stride: Pair, dilation: Pair, groups: int, channels: int, filters: int,
              out_hw: Pair | None, dtype: npt.DTypeLike = np.float32, tuning: Tuning = DEFAULT) -> str:
    """The method Conv2d(method="auto") uses for a layer, whichever was fastest in benchmarks/bench_methods.py
    (single layers) and bench_train.py (whole networks); the figures are in docs/performance.md#conv-auto.

    - "winograd" where it pays (conv_winograd.pays: 3x3, stride 1, enough channels and a large enough output;
      out_hw None: not known yet, so not chosen);
    - "numba" for depthwise layers (one input channel and one filter per group), which it computes by loops over
      the taps (conv_depthwise: flat runs for stride 1, where im2col's products are too thin;
      docs/performance.md);
    - "numba" for a height stride above 1, where im2col must unfold the full windows and numba's compiled
      unfolding is faster;
    - "im2col" otherwise: stride-1 layers (unfolded along rows), dilated and grouped layers, and always
      without numba or for dtypes its loops do not take (float16, long double).
    """
    if not has_numba() or not compiled_dtype(dtype):
        return "im2col"
    if tuning.depthwise and groups == channels > 1 and filters == channels:
        return "numba"  # its depthwise loops (conv_depthwise), where im2col's products are too thin
    if out_hw is not None and conv_winograd.pays(kernel, stride, dilation, groups, channels, filters, out_hw,
                                                 tuning):
        return "winograd"
    if groups != 1 or tuple(dilation) != (1, 1):
        return "im2col"
    return "numba" if stride[0] != 1 else "im2col"


def auto_max_pool(kernel: Pair, stride: Pair, pad: Pair, dilation: Pair, dtype: npt.DTypeLike = np.float32) -> str:
    """The method MaxPool2d(method="auto") uses: "numba" for 2x2 windows of stride 2 without padding or dilation
    when numba is installed and takes the dtype (its loops with the taps written out), else "im2col"
    (docs/performance.md#pooling)."""
    if has_numba() and compiled_dtype(dtype) and pool_numba.two_by_two(kernel, stride, pad, dilation):
        return "numba"
    return "im2col"
