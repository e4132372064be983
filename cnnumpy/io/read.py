"""Reading a file that trusts nothing: the zip's table of contents and every .npy header are checked before any
array is inflated, and __meta__ before it is parsed; never unpickles."""
import json
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .limits import INFLATE_FLOOR, INFLATE_RATIO, MAX_DEPTH, MAX_ENTRIES, MAX_META_CHARS, META, json_depth

# what a file that is not a zip is, by its first bytes
SIGNATURES = [(b"\x93NUMPY", "it is a single .npy array (np.save); an .npz is a zip of them, as np.savez writes"),
              (b"\x89HDF", "it is an HDF5 file (such as Keras writes)"),
              (b"\x89PNG", "it is a PNG image"), (b"\xff\xd8\xff", "it is a JPEG image"),
              (b"\x1f\x8b", "it is gzip-compressed")]
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")  # a member, or the end record of an empty archive


def _what(head):
    """What a file that does not start like a zip is, as far as its first bytes tell."""
    if not head:
        return "it is empty"
    for magic, what in SIGNATURES:
        if head.startswith(magic):
            return what
    if head[0] == 0x80 and 2 <= head[1] <= 5:
        return "it is a pickle (such as torch.save's legacy format), which cnnumpy never loads"
    try:
        if b"\x00" not in head:
            head.decode("utf-8")
            return "it is a text file"
    except UnicodeDecodeError:
        pass
    return f"it starts with the bytes {head[:8]!r}"


def _members(z, size):
    """The zip's members, after checking its table of contents; ValueError(what is wrong) otherwise."""
    infos = z.infolist()
    if any(i.filename.endswith(".pkl") for i in infos):
        raise ValueError("it is a PyTorch file (torch.save's zip of pickles), which cnnumpy never loads")
    if len(infos) > MAX_ENTRIES:
        raise ValueError(f"it has {len(infos):,} entries, more than the {MAX_ENTRIES:,} cnnumpy reads")
    names = set()
    for i in infos:
        if not i.filename.endswith(".npy"):
            raise ValueError(f"it is a zip archive but not an .npz: its member {i.filename!r} is not a .npy array")
        if i.filename in names:
            raise ValueError(f"it has two entries named {i.filename[:-4]!r}")
        names.add(i.filename)
        if i.flag_bits & 0x1:
            raise ValueError(f"its entry {i.filename[:-4]!r} is encrypted")
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"its entry {i.filename[:-4]!r} is compressed with method {i.compress_type}; "
                             ".npz files use none (np.savez) or deflate (np.savez_compressed)")
        if i.compress_type == zipfile.ZIP_STORED and i.file_size != i.compress_size:
            raise ValueError(f"its entry {i.filename[:-4]!r} is damaged (stored, but {i.file_size:,} bytes "
                             f"declared for {i.compress_size:,} written)")
    declared, bound = sum(i.file_size for i in infos), max(INFLATE_FLOOR, INFLATE_RATIO * size)
    if declared > bound:
        raise ValueError(f"its entries declare {declared:,} bytes uncompressed, more than the {bound:,} "
                         f"allowed for a file of {size:,} bytes (the larger of {INFLATE_FLOOR:,} and "
                         f"{INFLATE_RATIO} times the file)")
    return infos


def _entry(z, info):
    """One .npy member as an array, after checking that its header's shape and dtype fill its declared size."""
    name = info.filename[:-4]
    with z.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy version {version[0]}.{version[1]}, where np.savez writes 1.0 or 2.0")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                           np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
        except ValueError as e:
            raise ValueError(f"its entry {name!r} is not a .npy array ({e})") from None
        if dtype.hasobject:
            raise ValueError(f"its entry {name!r} holds Python objects (dtype {dtype}), which only pickle reads")
        if any(d < 0 for d in shape):
            raise ValueError(f"its entry {name!r} declares the shape {shape}, with a negative size")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != info.file_size - f.tell():
            raise ValueError(f"its entry {name!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) but holds "
                             f"{info.file_size - f.tell():,} bytes")
        if name == META and not (dtype.kind == "U" and shape == () and dtype.itemsize // 4 <= MAX_META_CHARS):
            raise ValueError(f"its entry {META!r} is not a JSON text of at most {MAX_META_CHARS:,} characters "
                             f"(got an array of shape {shape} and dtype {dtype})")
    with z.open(info) as f:
        array = np.lib.format.read_array(f, allow_pickle=False)
        f.read(1)  # reaching the end makes zipfile check the CRC
    return array


def read(path: str | os.PathLike) -> tuple[str | None, dict[str, np.ndarray]]:
    """(meta, arrays): the __meta__ JSON text (None in an .npz without it, such as np.savez writes) and the other
    entries by name, after the checks of the module's docstring. Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no file at {path}")
    with open(path, "rb") as f:
        head, size = f.read(16), os.fstat(f.fileno()).st_size
    if not head.startswith(ZIP_STARTS):
        raise ValueError(f"checkpoint: {path} is not an .npz file: {_what(head)}")
    try:
        with zipfile.ZipFile(path) as z:
            arrays = {}
            for info in _members(z, size):
                arrays[info.filename[:-4]] = _entry(z, info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise ValueError(f"checkpoint: {path} is not a readable .npz file: it is damaged or cut short ({e})") from None
    except ValueError as e:
        raise ValueError(f"checkpoint: {path} is not a readable .npz file: {e}") from None
    meta = arrays.pop(META, None)
    return (None if meta is None else str(meta)), arrays


def _where(path):
    return "/".join(map(str, path)) or "the top"


def _unpack(obj, arrays, used, path=()):
    """The structure `_pack` encoded; ValueError(place, what is wrong) for anything it would not have written."""
    if isinstance(obj, list):
        return [_unpack(v, arrays, used, path + (i,)) for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj  # a JSON str, number, bool or null
    kind = next(iter(obj)) if len(obj) == 1 else None
    if kind not in ("__array__", "__tuple__", "__dict__"):
        raise ValueError(f"at {_where(path)}: expected an object with one key, '__array__', '__tuple__' or "
                         f"'__dict__', got keys {sorted(obj)[:5]}")
    value = obj[kind]
    if kind == "__array__":
        if not isinstance(value, str) or value not in arrays:
            raise ValueError(f"at {_where(path)}: refers to the entry {value!r}, which the file does not have")
        if value in used:
            raise ValueError(f"at {_where(path)}: refers to the entry {value!r} a second time")
        used.add(value)
        return arrays[value]
    if not isinstance(value, list):
        raise ValueError(f"at {_where(path)}: expected a list after {kind!r}, got {type(value).__name__}")
    if kind == "__tuple__":
        return tuple(_unpack(v, arrays, used, path + (i,)) for i, v in enumerate(value))
    out = {}
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))
                and not isinstance(pair[0], bool)):
            raise ValueError(f"at {_where(path)}: expected [key, value] pairs with str or int keys, got "
                             f"{json.dumps(pair)[:60]}")
        key, v = pair
        if key in out:
            raise ValueError(f"at {_where(path)}: the key {key!r} appears twice")
        out[key] = _unpack(v, arrays, used, path + (key,))
    return out


def decode(meta: str, arrays: dict[str, np.ndarray], path: str | os.PathLike) -> Any:
    """The structure that the __meta__ text `meta` describes, with the arrays in their places; ValueError naming
    `path` for anything `save` would not have written."""
    depth = json_depth(meta)
    if depth > MAX_DEPTH:
        raise ValueError(f"checkpoint: {path}: {META} is nested {depth:,} deep; at most {MAX_DEPTH}")
    try:
        obj = json.loads(meta)
    except ValueError as e:
        raise ValueError(f"checkpoint: {path}: {META} is not valid JSON ({e})") from None
    used = set()
    try:
        obj = _unpack(obj, arrays, used)
    except ValueError as e:
        raise ValueError(f"checkpoint: {path}: {META} is not what cnnumpy.save writes: {e}") from None
    unused = [k for k in arrays if k not in used]
    if unused:
        raise ValueError(f"checkpoint: {path}: the entry {unused[0]!r} is not referred to by {META}")
    return obj


def load(path: str | os.PathLike) -> Any:
    """The structure `save` stored (a dict of arrays for an .npz without __meta__, as np.savez writes).

    Never unpickles; a file that is damaged, too large for its size or not written by save is a ValueError
    naming it. cnnumpy.load(path), as torch.load(path).
    """
    meta, arrays = read(path)
    return arrays if meta is None else decode(meta, arrays, path)
