"""Saving and loading without pickle, written atomically.

A checkpoint is one .npz file: every array is an entry of its own, and everything
else (numbers, strings, the nesting of dicts and lists) is one JSON document in
the entry "__meta__" that names the array entries it refers to. Loading uses
np.load(allow_pickle=False), so a checkpoint can never run code.

A save writes to a temporary file in the same folder, fsyncs it and renames it
over the old file: a crash or a kill at any moment leaves either the old file or
the new one, never half of one.
"""
import json
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

META = "__meta__"


def _pack(obj, arrays):
    """Replace arrays in a nested structure by {"__array__": key}, collecting them in `arrays`."""
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint: dict keys must be str or int, got {type(k).__name__}")
        # JSON keys are strings: remember which were ints so optimizer state indices come back as ints.
        return {"__dict__": [[k, _pack(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_pack(v, arrays) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} without pickle")


def _unpack(obj, arrays):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__tuple__" in obj:
            return tuple(_unpack(v, arrays) for v in obj["__tuple__"])
        return {k: _unpack(v, arrays) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    return obj


def atomic_write(path, write):
    """Call write(file) on a temporary file next to `path`, fsync, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # os.open with mode 0o666 lets the umask decide, as open() does; tempfile.mkstemp would make the file 0600
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
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


def save(obj, path):
    """Store a nested structure of dicts, lists, tuples, arrays, numbers, strings and None in one .npz.

    The arguments are in torch.save's order: cnnumpy.save(model.state_dict(), "weights.npz"). Returns the path.
    """
    if isinstance(obj, (str, os.PathLike)) and not isinstance(path, (str, os.PathLike)):
        # io.save(path, obj) was the order once: say so, rather than fail on the dict taken for a path
        raise TypeError(f"save: expected save(obj, path) as torch.save takes them, got a path first ({str(obj)!r}) "
                        f"and a {type(path).__name__} second; swap the two arguments")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    arrays = {}
    meta = json.dumps(_pack(obj, arrays))
    return atomic_write(path, lambda f: np.savez(f, **arrays, **{META: np.array(meta)}))


def load(path):
    """The structure `save` stored; never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no file at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"checkpoint: {path} is not a readable cnnumpy .npz file ({e})") from None
    if META not in arrays:
        raise ValueError(f"checkpoint: {path} has no {META!r} entry; it was not written by cnnumpy.io.save")
    return _unpack(json.loads(str(arrays.pop(META))), arrays)
