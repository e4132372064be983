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

Reading trusts nothing in the file. Before any array is inflated, the zip's table of contents is checked:
every member a .npy array, stored or deflated, and the uncompressed sizes it declares at most
max(INFLATE_FLOOR, INFLATE_RATIO x the file's size) in all (so a 1 MB file cannot ask for 1 GiB); and each
array's .npy header is read and its shape and dtype checked against the member's declared size (no object
arrays, which only pickle reads). __meta__ must be a JSON text of at most MAX_META_CHARS characters nested at
most MAX_DEPTH deep, in the encoding `save` writes, referring to entries the file has. Every failure is a
ValueError that names the file and what is wrong with it.
"""
import json
import math
import os
import re
import secrets
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

META = "__meta__"
# bounds on what a file may make us allocate or walk, checked before it happens
INFLATE_RATIO = 20        # declared bytes per byte of file: weights (noise) compress by far less than this
INFLATE_FLOOR = 64 << 20  # bytes any file may declare, however small, such as a compressed state_dict of zeros
MAX_ENTRIES = 100_000     # arrays in one file (a ResNet-20 checkpoint with SGD's momentum has 194)
MAX_META_CHARS = 16 << 20  # the JSON text: a history of 10,000 epochs takes about 2 M
MAX_DEPTH = 100           # nesting of [ and { in __meta__; a dict takes 3 levels ({"__dict__": [[key, value]]})
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
        if len(meta) > MAX_META_CHARS or _depth(meta) > MAX_DEPTH:
            raise ValueError(f"checkpoint: cannot store {len(meta):,} characters of JSON nested {_depth(meta)} "
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


STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
STEP = np.zeros(256, np.int8)  # per byte outside strings: +1 opens, -1 closes
STEP[[ord("["), ord("{")]], STEP[[ord("]"), ord("}")]] = 1, -1


def _depth(text):
    """How deep [ and { nest in a JSON text, counted outside its strings in one pass (json.loads would recurse)."""
    steps = STEP[np.frombuffer(STRING.sub("", text).encode(), np.uint8)]
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def decode(meta: str, arrays: dict[str, np.ndarray], path: str | os.PathLike) -> Any:
    """The structure that the __meta__ text `meta` describes, with the arrays in their places; ValueError naming
    `path` for anything `save` would not have written."""
    depth = _depth(meta)
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
