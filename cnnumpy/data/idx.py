"""The IDX file format of MNIST: a 4-byte magic number, the dimensions, then the array, all big-endian.

    magic  = 0x00 0x00 TT DD      TT: element type (0x08 uint8 ... 0x0E float64), DD: number of dimensions
    dims   = DD x uint32          e.g. 60000, 28, 28
    data   = prod(dims) elements, row-major, big-endian
    size   = 4 + 4*DD + prod(dims) * itemsize      (exactly: a longer or shorter file is rejected)

Files may be gzip-compressed; gzip is recognised by its first two bytes (1f 8b), not by the name.
Every error names the file, so a corrupt download is reported, never silently used.
"""
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

# Type byte -> big-endian NumPy dtype, as in the format's description on yann.lecun.com.
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CODES = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path):
    """The file's bytes, gunzipped when it is gzip. A truncated or corrupt gzip raises ValueError naming the file."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        # gzip checks the CRC-32 and length stored at the end, so corruption is caught here.
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a valid gzip file ({e}); it is truncated or corrupt") from None


def parse(buf, name="<bytes>"):
    """IDX bytes -> ndarray of shape dims, native byte order (a writable copy)."""
    if len(buf) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(buf)} bytes, shorter than the 4-byte magic number")
    code, ndim = buf[2], buf[3]
    if buf[:2] != b"\0\0" or code not in DTYPES:
        types = ", ".join(f"{c:02x}" for c in DTYPES)
        raise ValueError(f"{name}: not an IDX file: magic number 0x{bytes(buf[:4]).hex()}, "
                         f"expected 0x0000TTDD with type TT in {types}")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{name}: truncated IDX file: {len(buf)} bytes, shorter than its "
                         f"{header}-byte header ({ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = np.dtype(DTYPES[code])
    count = math.prod(dims)
    size = header + count * dtype.itemsize
    if len(buf) != size:
        what = "truncated" if len(buf) < size else "longer than its header says"
        raise ValueError(f"{name}: expected {size} bytes ({header}-byte header + {dims} x {dtype.newbyteorder('=')}), "
                         f"got {len(buf)}: the file is {what}")
    x = np.frombuffer(buf, dtype, count=count, offset=header)
    return x.astype(dtype.newbyteorder("=")).reshape(dims)


def read_idx(path):
    """An IDX file (gzip or raw) -> ndarray. Errors name the file."""
    return parse(read_bytes(path), path)


def encode(x):
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


def write_idx(path, x):
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
