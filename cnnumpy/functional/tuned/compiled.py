"""Loading numba's compiled loops on first use, with a clear error when numba is not installed, and keeping
their on-disk cache in the user's cache folder.

numba is optional (pip install 'cnnumpy[numba]'), so the modules of compiled loops (loops/) are imported
only when a layer first runs a compiled method: importing numba takes time and memory that a model that never
uses it should not pay (docs/performance.md#tuning-knobs).

numba's `cache=True` writes the compiled code next to the source, into the installed package's __pycache__,
unless told otherwise. The package must never be written to at run time (a later `pip install` uninstalls
around those files, and the folder left behind shadows the new install), so every loop is compiled through
`compiled`, which points numba's cache at cache_dir()/numba.
"""
import contextlib
import functools
import importlib
import importlib.util
import os
import tempfile
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# numba reads its cache folder from numba.config when a function is decorated; the lock keeps two threads
# importing kernel modules from restoring each other's setting.
_config_lock = threading.Lock()


@functools.cache
def has_numba() -> bool:
    """True when numba can be imported (looked up once, without importing it)."""
    return importlib.util.find_spec("numba") is not None


def compiled_dtype(dtype: npt.DTypeLike) -> bool:
    """Whether numba's loops take arrays of this dtype: float32 or float64 in the machine's byte order."""
    dtype = np.dtype(dtype)
    return dtype in (np.float32, np.float64) and dtype.isnative


def kernels(module: str, layer: str, instead: str) -> types.ModuleType:
    """loops/<module>.py, imported (and numba with it); without numba, an ImportError that says
    how to get it and which method of `layer` (e.g. "Conv2d") to use `instead`."""
    try:
        import numba  # noqa: F401  (imported here for its error message)
    except ImportError as e:
        raise ImportError(f"{layer}(method='numba') needs numba: pip install 'cnnumpy[numba]' "
                          f"(or use method='{instead}')") from e
    return importlib.import_module(f"{__package__}.loops.{module}")


def cache_dir() -> Path:
    """The folder where cnnumpy keeps what it computes once per machine (compiled loops):
    $CNNUMPY_CACHE_DIR, else $XDG_CACHE_HOME/cnnumpy, else ~/.cache/cnnumpy."""
    if os.environ.get("CNNUMPY_CACHE_DIR"):
        return Path(os.environ["CNNUMPY_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cnnumpy"


def _writable(folder: Path) -> bool:
    """Create folder if needed and check that a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


@functools.cache
def numba_cache_dir() -> str:
    """cache_dir()/numba, or, where that cannot be written, a fresh temporary folder (the loops are then compiled
    again by every process, but never cached inside the package). Decided once per process."""
    folder = cache_dir() / "numba"
    return str(folder) if _writable(folder) else tempfile.mkdtemp(prefix="cnnumpy-numba-")


@contextlib.contextmanager
def _numba_cache(config: Any) -> Iterator[None]:
    """numba.config.CACHE_DIR set to numba_cache_dir() while functions are decorated, unless the user chose
    a folder (NUMBA_CACHE_DIR), which wins."""
    with _config_lock:
        before = config.CACHE_DIR
        if not before:
            config.CACHE_DIR = numba_cache_dir()
        try:
            yield
        finally:
            config.CACHE_DIR = before


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """numba.njit(cache=True, **options) with the cache in numba_cache_dir(): the decorator of every compiled
    loop. Loops live at module level so that the cache finds them again in the next process."""
    import numba

    def decorate(f):
        with _numba_cache(numba.config):
            return numba.njit(cache=True, **options)(f)
    return decorate
