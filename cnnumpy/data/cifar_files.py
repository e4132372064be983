"""Reading the files of the two CIFAR-10 releases, trusting none of them (see cifar.py for the releases).

Every file's size is checked before it is read: a batch of the binary release is exactly RECORDS records of
1 + PIXELS bytes, a file of the python release has the size (and md5) recorded in PYTHON_FILES, the class names at
most NAMES_TXT_BYTES. The pickles of the python release are read by `load_pickle`, whose unpickler builds only NumPy
arrays (and the plain lists, dicts, bytes and numbers pickle makes without help): a file asking for any other
function, os.system say, is refused before anything runs.
"""
import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np

RECORDS = 10000  # images in every batch file
PIXELS = 3 * 32 * 32

# (md5, size in bytes) of each file of the python release: the md5s as torchvision's datasets/cifar.py lists them,
# the sizes as the extracted archive lists them. A file of another size is refused before it is read.
PYTHON_FILES = {
    "data_batch_1": ("c99cafc152244af753f735de768cd75f", 31035704),
    "data_batch_2": ("d4bba439e000b95fd0a9bffe97cbabec", 31035320),
    "data_batch_3": ("54ebc095f3ab1f0389bbae665268c751", 31035999),
    "data_batch_4": ("634d18415352ddfa80567beed471001a", 31035696),
    "data_batch_5": ("482c414d41f54cd18b22e5b47cb7c3cb", 31035623),
    "test_batch": ("40351d587109b95175f43aff81a1287e", 31035526),
    "batches.meta": ("5ff9c542aee3614f3951f8cda6e48888", 158),
}
# batches.meta.txt, the binary release's class names, has no recorded size: ten short names take far less than this.
NAMES_TXT_BYTES = 4096


def file_size(fmt, name):
    """(size, exact) of the release file `name`: its size in bytes and whether it is exact (else a bound)."""
    if fmt == "python":
        return PYTHON_FILES[name][1], True
    if name.endswith(".bin"):
        return RECORDS * (1 + PIXELS), True
    return NAMES_TXT_BYTES, False


def read_sized(path, size, exact=True, why=""):
    """The bytes of the file at path, which must be `size` bytes (exact) or at most `size`; its size on disk is
    checked before it is read, so a file of the wrong size is refused unread. ValueError naming the file."""
    with open(path, "rb") as f:
        got = os.fstat(f.fileno()).st_size
        if got > size or (exact and got != size):
            raise ValueError(f"{path}: {got} bytes, expected {'' if exact else 'at most '}{size}{why}: the file is "
                             "truncated, corrupt or not the published one")
        raw = f.read(size + 1)  # it may have changed since the fstat: read no more than allowed, and check again
    if len(raw) > size or (exact and len(raw) != size):
        raise ValueError(f"{path}: changed while it was read ({len(raw)} bytes, expected {size})")
    return raw


def read_binary(path):
    """A batch of the binary release -> images (RECORDS, 3, 32, 32) uint8, labels (RECORDS,) int64."""
    raw = read_sized(path, RECORDS * (1 + PIXELS), why=f" ({RECORDS} records of 1 label byte + {PIXELS} pixel bytes)")
    rows = np.frombuffer(raw, np.uint8).reshape(RECORDS, 1 + PIXELS)
    return rows[:, 1:].reshape(RECORDS, 3, 32, 32), labels_checked(path, rows[:, 0])


def read_python(path):
    """A batch of the python release -> images (RECORDS, 3, 32, 32) uint8, labels (RECORDS,) int64."""
    d = load_pickle(path, *PYTHON_FILES[path.name])
    x, y = d.get(b"data"), d.get(b"labels")
    if x is None or y is None:
        raise ValueError(f"{path}: expected a dict with b'data' and b'labels', got the keys {sorted(d, key=repr)}")
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.shape == (RECORDS, PIXELS)):
        got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{path}: b'data' should be uint8 of shape ({RECORDS}, {PIXELS}), got {got}")
    if not (isinstance(y, list) and len(y) == RECORDS and all(type(v) is int for v in y)):
        raise ValueError(f"{path}: b'labels' should be a list of {RECORDS} ints")
    return x.reshape(RECORDS, 3, 32, 32), labels_checked(path, np.array(y, dtype=np.int64))


def labels_checked(path, y):
    if y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise ValueError(f"{path}: labels should lie in 0..9, found {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64)


def read_names_txt(path):
    """batches.meta.txt: the 10 class names, one a line (blank lines ignored)."""
    try:
        text = read_sized(path, NAMES_TXT_BYTES, exact=False).decode("ascii")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not ASCII text ({e})") from None
    return names_checked(path, [line.strip() for line in text.splitlines() if line.strip()])


def read_names_pickle(path):
    names = load_pickle(path, *PYTHON_FILES[path.name]).get(b"label_names")
    if not (isinstance(names, list) and all(isinstance(n, bytes) for n in names)):
        raise ValueError(f"{path}: b'label_names' should be a list of names")
    return names_checked(path, [n.decode("ascii") for n in names])


def names_checked(path, names):
    if len(names) != 10:
        raise ValueError(f"{path}: expected 10 class names, got {len(names)}: {names}")
    return names


# The only globals the official pickles refer to: NumPy's array reconstruction, under its NumPy 1 and 2 names.
# The callables are those of the running NumPy, whatever name the file uses.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class Refused(pickle.UnpicklingError):
    """A pickle asked for a global that SafeUnpickler does not admit."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickles only NumPy arrays and plain data: any other global (a function, a class) is refused.

    Code runs during unpickling only through the globals a pickle names (REDUCE calls them, BUILD calls their
    __setstate__), and find_class is the single place where pickle looks them up; refusing there stops e.g.
    os.system before it is called. What is allowed builds arrays and dtypes, nothing else.
    """

    def find_class(self, module, name):
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        raise Refused(f"refusing to load the global {module}.{name}: a CIFAR-10 batch holds only NumPy arrays, "
                      "lists, bytes and numbers")


def load_pickle(path: str | os.PathLike, md5sum: str | None = None, size: int | None = None) -> dict:
    """Unpickle a file of the python release (Python 2 strings come back as bytes) -> its dict.

    md5sum: when given, the file's md5 is checked first and a mismatch refused before unpickling.
    size: when given, the file's size in bytes, checked before it is read.
    Raises ValueError naming the file for a refused global, a bad size or md5, or anything that is not a pickled dict.
    """
    raw = Path(path).read_bytes() if size is None else read_sized(path, size)
    if md5sum is not None and hashlib.md5(raw).hexdigest() != md5sum:
        raise ValueError(f"{path}: md5 {hashlib.md5(raw).hexdigest()}, expected {md5sum}: the file is corrupt or "
                         "not the published one; delete it and extract or download the archive again")
    try:
        d = SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Refused as e:
        raise ValueError(f"{path}: {e}; the file is not from the official release, do not trust it") from None
    except Exception as e:  # a damaged pickle raises almost anything: EOFError, KeyError, TypeError...
        raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    return d
