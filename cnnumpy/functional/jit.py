"""Loading numba's compiled loops on first use, with a clear error when numba is not installed.

numba is optional (pip install 'cnnumpy[numba]'), so the modules of compiled loops (numba_kernels,
pool_numba_kernels) are imported only when a layer first runs its "numba" method: importing numba takes
~0.3 s and ~60 MiB, which a model that never uses it should not pay.
"""
import functools
import importlib
import importlib.util

import numpy as np


@functools.cache
def has_numba():
    """True when numba can be imported (looked up once, without importing it)."""
    return importlib.util.find_spec("numba") is not None


def compiled_dtype(dtype):
    """Whether numba's loops take arrays of this dtype: float32 or float64 in the machine's byte order."""
    dtype = np.dtype(dtype)
    return dtype in (np.float32, np.float64) and dtype.isnative


def kernels(module, layer, instead):
    """cnnumpy.functional.<module>, imported (and numba with it); without numba, an ImportError that says
    how to get it and which method of `layer` (e.g. "Conv2d") to use `instead`."""
    try:
        import numba  # noqa: F401  (imported here for its error message)
    except ImportError as e:
        raise ImportError(f"{layer}(method='numba') needs numba: pip install 'cnnumpy[numba]' "
                          f"(or use method='{instead}')") from e
    return importlib.import_module(f"{__package__}.{module}")
