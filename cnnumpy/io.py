"""Saving and loading without pickle, written atomically.

A file is one .npz (a zip of .npy arrays): every array is an entry of its own, and everything else (numbers,
strings, the nesting of dicts, lists and tuples) is one JSON document in the entry "__meta__" that names the
array entries it refers to. Loading uses np.load's reader with allow_pickle=False, so a file can never run code.

Entry names. Each array is named by its place in the structure: the keys and list positions from the top down
to it, joined by "/", so that `np.load(path).files` reads like the structure:

    {"optimizer": {"state": {0: {"momentum_buffer": a}}}}  ->  "optimizer/state/0/momentum_buffer"
    {"history": [{"loss": b}]}                              ->  "history/0/loss"

In a key, "%", "/", "\\" and control characters are written %XX as in URLs, so the key "a/b" ("a%2Fb") and the key
"b" inside the key "a" ("a/b") stay apart; where two names would still be equal (the int key 0 and the str key
"0" of one dict, or a key "__meta__"), the later one gets "~2", "~3", ... The names are for readers:
__meta__ records the name of each array, and loading never parses them.
`save(obj, path, bare="model")` names the arrays of obj["model"] by their own keys alone (save_checkpoint does,
so a checkpoint's weights are the entries "0.weight", "0.bias", ..., as torch names a state_dict's).

A dict of arrays alone, such as a state_dict, is written as np.savez writes it: one entry per key and no
__meta__. np.load then gives back exactly the dict's keys, and a PyTorch user needs nothing of ours:

    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in np.load("weights.npz").items()})

Files written before the entries were named by place ("a0", "a1", ... in the order met) load the same way,
since their __meta__ names their entries too.

A save writes to a temporary file in the same folder, fsyncs it and renames it over the old file: a crash or a
kill at any moment leaves either the old file or the new one, never half of one.
"""
import json
import os
import re
import secrets
import zipfile
from pathlib import Path

import numpy as np

META = "__meta__"
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


def _plain(obj):
    """Whether obj is a dict of arrays alone whose keys are entry names as they are: np.savez's own format."""
    return (isinstance(obj, dict) and
            all(isinstance(k, str) and k and k == _escape(k) and k != META and
                isinstance(v, np.ndarray) and not v.dtype.hasobject for k, v in obj.items()))


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


def save(obj, path, bare=None):
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
        return atomic_write(path, lambda f: np.savez(f, **obj))
    arrays = {}
    meta = json.dumps(_pack(obj, arrays, bare=bare))
    return atomic_write(path, lambda f: np.savez(f, **arrays, **{META: np.array(meta)}))


def read(path):
    """(meta, arrays): the __meta__ JSON text (None in an .npz without it, such as np.savez writes) and the other
    entries by name. Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no file at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"checkpoint: {path} is not a readable cnnumpy .npz file ({e})") from None
    meta = arrays.pop(META, None)
    return (None if meta is None else str(meta)), arrays


def decode(meta, arrays, path):
    """The structure that the __meta__ text `meta` describes, with the arrays in their places."""
    return _unpack(json.loads(meta), arrays)


def load(path):
    """The structure `save` stored (a dict of arrays for an .npz without __meta__, as np.savez writes).

    Never unpickles. cnnumpy.load(path), as torch.load(path).
    """
    meta, arrays = read(path)
    return arrays if meta is None else decode(meta, arrays, path)
