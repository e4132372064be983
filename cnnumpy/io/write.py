"""Writing: a nested structure to one .npz, its arrays as entries named by their place, written atomically."""
import json
import os
import re
import secrets
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

from .limits import MAX_DEPTH, MAX_ENTRIES, MAX_META_CHARS, META, json_depth

# in an entry name: "/" separates the keys, "%" escapes, "\\" is a separator to zip tools on Windows, and
# control characters would not survive (zipfile cuts a name at a NUL)
UNSAFE = re.compile(r"[%/\\\x00-\x1f\x7f]")


def _escape(key):
    return UNSAFE.sub(lambda m: f"%{ord(m[0]):02X}", str(key))


def _name(path, arrays):
    """The entry name of the array at `path` (a tuple of keys): the escaped keys joined by "/", made unique."""
    name = "/".join(_escape(k) for k in path) or "array"
    unique, n = name, 1
    while unique in arrays or unique == META:
        n += 1
        unique = f"{name}~{n}"
    return unique


def _pack(obj, arrays, path=(), bare=None):
    """Replace arrays in a nested structure by {"__array__": name}, collecting them in `arrays`."""
    if len(path) > MAX_DEPTH:  # also what stops a list that contains itself
        raise ValueError(f"checkpoint: cannot store a structure nested more than {MAX_DEPTH} deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"checkpoint: cannot store an array of dtype {obj.dtype} without pickle")
        key = _name(path[1:] if path[:1] == (bare,) and len(path) > 1 else path, arrays)
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        for k in obj:
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint: dict keys must be str or int, got {type(k).__name__}")
        # JSON keys are strings: remember which were ints so optimizer state indices come back as ints.
        return {"__dict__": [[k, _pack(v, arrays, path + (k,), bare)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, arrays, path + (i,), bare) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_pack(v, arrays, path + (i,), bare) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} without pickle")


def _plain(obj):
    """Whether obj is a dict of arrays alone whose keys are entry names as they are: np.savez's own format."""
    return (isinstance(obj, dict) and
            all(isinstance(k, str) and k and k == _escape(k) and k != META and
                isinstance(v, np.ndarray) and not v.dtype.hasobject for k, v in obj.items()))


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call write(file) on a temporary file next to `path`, fsync, then rename it to `path`."""
    path = Path(path)
    # os.open with mode 0o666 lets the umask decide, as open() does; tempfile.mkstemp would make the file 0600
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:  # name the file asked for, not the temporary one
        raise type(e)(e.errno, f"cannot write {path} there ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    # make the rename itself durable
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def save(obj: Any, path: str | os.PathLike, bare: str | None = None) -> Path:
    """Store a nested structure of dicts, lists, tuples, arrays, numbers, strings and None in one .npz.

    The arguments are in torch.save's order: cnnumpy.save(model.state_dict(), "weights.npz"). Returns the path.
    bare: a key of obj whose arrays are named by their own keys alone (see the module's docstring).
    """
    if isinstance(obj, (str, os.PathLike)) and not isinstance(path, (str, os.PathLike)):
        # io.save(path, obj) was the order once: say so, rather than fail on the dict taken for a path
        raise TypeError(f"save: expected save(obj, path) as torch.save takes them, got a path first ({str(obj)!r}) "
                        f"and a {type(path).__name__} second; swap the two arguments")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    if _plain(obj):
        arrays = obj
    else:
        arrays = {}
        meta = json.dumps(_pack(obj, arrays, bare=bare))
        # never write what load would refuse
        if len(meta) > MAX_META_CHARS or json_depth(meta) > MAX_DEPTH:
            raise ValueError(f"checkpoint: cannot store {len(meta):,} characters of JSON nested {json_depth(meta)} "
                             f"deep (at most {MAX_META_CHARS:,}, {MAX_DEPTH} deep)")
        arrays[META] = np.array(meta)
    if len(arrays) > MAX_ENTRIES:
        raise ValueError(f"checkpoint: cannot store {len(arrays):,} arrays in one file (at most {MAX_ENTRIES:,})")
    return atomic_write(path, lambda f: _savez(f, arrays))


def _savez(f, arrays):
    """np.savez(f, **arrays), which cannot take the keys "file" and "allow_pickle": a zip with one .npy per array."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, a in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, a, allow_pickle=False)

