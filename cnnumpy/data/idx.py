"""The IDX file format of MNIST: a 4-byte magic number, the dimensions, then the array, all big-endian.

    magic  = 0x00 0x00 TT DD      TT: element type (0x08 uint8 ... 0x0E float64), DD: number of dimensions
    dims   = DD x uint32          e.g. 60000, 28, 28
    data   = prod(dims) elements, row-major, big-endian
    size   = 4 + 4*DD + prod(dims) * itemsize      (exactly: a longer or shorter file is rejected)

Files may be gzip-compressed; gzip is recognised by its first two bytes (1f 8b), not by the name.
The header is read first and the size it promises checked against a bound (`max_bytes`) before the rest is read,
and never more than size + 1 bytes are inflated: a small gzip that would unpack to gigabytes (a "decompression
bomb") is refused after a few bytes, whether its header promises too much or its stream runs on past the header's
size. Every error names the file, so a corrupt download is reported, never silently used.
"""
import gzip
import math
import numbers
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

# Type byte -> big-endian NumPy dtype, as in the format's description on yann.lecun.com.
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CODES = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"
# The default bound on the uncompressed size of an IDX file: MNIST's largest file (the training images) is
# 47,040,016 bytes, so 1 GiB leaves room for larger data sets and still refuses a bomb before it is inflated.
MAX_BYTES = 1 << 30


class Header:
    """What an IDX header says: dtype (big-endian), dims, start (the header's size in bytes) and size (the
    whole file's size in bytes, header included, as the header promises it)."""

    def __init__(self, dtype, dims, start):
        self.dtype, self.dims, self.start = dtype, dims, start
        self.size = start + math.prod(dims) * dtype.itemsize

    def describe(self):
        """'16-byte header + (10000, 28, 28) x uint8'; a long list of dimensions is cut short."""
        dims = self.dims
        if len(dims) > 6:
            dims = f"({', '.join(map(str, dims[:4]))}, ... {len(dims)} dims)"
        return f"{self.start}-byte header + {dims} x {self.dtype.newbyteorder('=')}"


def read_header(head: bytes, name: object, max_bytes: int = MAX_BYTES) -> Header:
    """The first bytes of an IDX file (at least its header) -> Header; ValueError naming `name` for a bad magic
    number, a cut header, more dimensions than NumPy allows, or a promised size above max_bytes."""
    if len(head) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(head)} bytes, shorter than the 4-byte magic number")
    code, ndim = head[2], head[3]
    if head[:2] != b"\0\0" or code not in DTYPES:
        types = ", ".join(f"{c:02x}" for c in DTYPES)
        raise ValueError(f"{name}: not an IDX file: magic number 0x{bytes(head[:4]).hex()}, "
                         f"expected 0x0000TTDD with type TT in {types}")
    start = 4 + 4 * ndim
    if len(head) < start:
        raise ValueError(f"{name}: truncated IDX file: {len(head)} bytes, shorter than its "
                         f"{start}-byte header ({ndim} dimensions)")
    try:  # NumPy's own limit on dimensions (32 before NumPy 2, 64 since), asked of a one-element array
        np.empty((1,) * ndim, np.uint8)
    except ValueError:
        raise ValueError(f"{name}: the IDX header declares {ndim} dimensions, more than a NumPy array can "
                         "have: the file is corrupt or not an IDX file") from None
    h = Header(np.dtype(DTYPES[code]), struct.unpack(f">{ndim}I", head[4:start]), start)
    if h.size > max_bytes:
        raise ValueError(f"{name}: the IDX header promises {h.size} bytes ({h.describe()}), more than the bound of "
                         f"{max_bytes} bytes (max_bytes): refused before reading it; the file is corrupt, or pass "
                         "a larger max_bytes if it is genuine")
    return h


def check_size(h, got, name, stream=False):
    """ValueError naming the file unless it holds exactly the h.size bytes its header promises.
    got: the bytes found; stream: they were read no further than h.size + 1, so h.size + 1 means "more"."""
    if got != h.size:
        what = "truncated" if got < h.size else "longer than its header says"
        found = f"more than {h.size}" if stream and got > h.size else f"{got}"
        raise ValueError(f"{name}: expected {h.size} bytes ({h.describe()}), got {found}: the file is {what}")


def read_bytes(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> bytes:
    """The IDX file's bytes, gunzipped when it is gzip, checked against its header -> bytes of length h.size.

    The header is read first; a file whose header promises more than max_bytes is refused, and at most
    size + 1 bytes are ever inflated. A truncated or corrupt gzip, or a size that differs from the header's,
    raises ValueError naming the file.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, numbers.Integral) or max_bytes < 4:
        raise ValueError(f"max_bytes: expected an int >= 4 (a bound in bytes), got {max_bytes!r}")
    path = Path(path)
    with open(path, "rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            raw.seek(0)
            h, buf = read_header_of(raw, path, max_bytes)
            check_size(h, os.fstat(raw.fileno()).st_size, path)  # on disk: its size is known before reading
            return buf + raw.read(h.size - len(buf))
        raw.seek(0)
        try:
            # GzipFile inflates only what each read asks for, and checks the CRC-32 and length stored at the
            # end of the stream when a read reaches it, so corruption is caught here.
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                h, buf = read_header_of(f, path, max_bytes)
                rest = f.read(h.size - len(buf) + 1)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: not a valid gzip file ({e}); it is truncated or corrupt") from None
    buf += rest
    check_size(h, len(buf), path, stream=True)
    return buf


def read_header_of(f, name, max_bytes):
    """Read the header from the open file f -> (Header, the header's bytes)."""
    head = f.read(4)
    if len(head) == 4:
        head += f.read(4 * head[3])
    return read_header(head, name, max_bytes), head


def parse(buf: bytes, name: object = "<bytes>", max_bytes: int = MAX_BYTES) -> np.ndarray:
    """IDX bytes -> ndarray of shape dims, native byte order (a writable copy)."""
    h = read_header(buf, name, max_bytes)
    check_size(h, len(buf), name)
    x = np.frombuffer(buf, h.dtype, count=math.prod(h.dims), offset=h.start)
    return x.astype(h.dtype.newbyteorder("=")).reshape(h.dims)


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """An IDX file (gzip or raw) -> ndarray. Errors name the file.

    max_bytes: refuse a file whose header promises more bytes than this (uncompressed), before reading it.
    """
    return parse(read_bytes(path, max_bytes), path, max_bytes)


def encode(x: ArrayLike) -> bytes:
    """ndarray -> IDX bytes (the inverse of parse)."""
    x = np.asarray(x)
    code = CODES.get(x.dtype.newbyteorder("="))
    if code is None:
        names = ", ".join(str(d) for d in CODES)
        raise TypeError(f"x: expected one of the IDX dtypes ({names}), got {x.dtype}")
    if x.ndim > 255:
        raise ValueError(f"x: expected at most 255 dimensions, got {x.ndim}")
    header = bytes([0, 0, code, x.ndim]) + struct.pack(f">{x.ndim}I", *x.shape)
    return header + np.ascontiguousarray(x, DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, x: ArrayLike) -> Path:
    """Write x as an IDX file, gzip-compressed when the name ends in .gz -> the Path.

    mtime=0 in the gzip header keeps the bytes independent of when the file was written. The file is
    written beside its final name and renamed, so a reader never sees half of it.
    """
    path = Path(path)
    buf = encode(x)
    if path.suffix == ".gz":
        buf = gzip.compress(buf, compresslevel=9, mtime=0)
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(buf)
    os.replace(part, path)
    return path
