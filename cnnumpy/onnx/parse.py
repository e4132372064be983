"""Reading an ONNX file safely: its bytes parsed, its opset checked, its tensors validated before any is made.

An ONNX file is a protobuf message (onnx.ModelProto): a graph of nodes, the weights as TensorProtos
("initializers"), possibly stored beside the model in "external data" files. A file from elsewhere is untrusted
input, so nothing here trusts a size it reads: the file's size is bounded before it is read, every tensor's dims
and element count are checked before an array is allocated, the bytes it holds must be exactly dims x itemsize,
and external data may only be read from files inside the model's own folder.
"""
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

MAX_BYTES = 2 << 30          # 2 GiB: protobuf's own limit for one message, and ours for a file and a tensor
MAX_DIM = 2 ** 31 - 1        # ONNX writes dims as int64; a dim above this is a corrupt or hostile file
OPSETS = range(7, 22)        # the default domain's opset versions whose operators we map (7 ... 21)
DEFAULT_DOMAINS = ("", "ai.onnx")

# TensorProto.DataType -> NumPy dtype, little-endian as ONNX stores raw_data; the field typed data lives in
DTYPES = {1: np.dtype("<f4"), 2: np.dtype("u1"), 3: np.dtype("i1"), 4: np.dtype("<u2"), 5: np.dtype("<i2"),
          6: np.dtype("<i4"), 7: np.dtype("<i8"), 9: np.dtype("?"), 10: np.dtype("<f2"), 11: np.dtype("<f8"),
          12: np.dtype("<u4"), 13: np.dtype("<u8")}
FIELDS = {1: "float_data", 2: "int32_data", 3: "int32_data", 4: "int32_data", 5: "int32_data", 6: "int32_data",
          7: "int64_data", 9: "int32_data", 10: "int32_data", 11: "double_data", 12: "uint64_data",
          13: "uint64_data"}


def onnx_module() -> Any:
    """The onnx package, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError("cnnumpy.onnx needs the onnx package: pip install 'cnnumpy[onnx]'") from None
    return onnx


def read(f: Any, max_bytes: int = MAX_BYTES) -> tuple[Any, Path | None, str]:
    """(ModelProto, the folder external data may come from or None, a name for messages) of f: a path, bytes or
    an onnx.ModelProto. The file is at most max_bytes; a protobuf that does not parse is a ValueError naming f."""
    onnx = onnx_module()
    if isinstance(f, onnx.ModelProto):
        model, folder, name = f, None, "the ModelProto"
    else:
        if isinstance(f, (bytes, bytearray, memoryview)):
            data, folder, name = bytes(f), None, f"the {len(f)} bytes given"
        elif isinstance(f, (str, os.PathLike)):
            path = Path(f)
            name = str(path)
            if not path.is_file():
                raise FileNotFoundError(f"f: no ONNX file at {name}")
            size = path.stat().st_size
            if size > max_bytes:
                raise ValueError(f"{name}: {size} bytes, more than the {max_bytes} bytes an ONNX model may have "
                                 "here (store large weights as external data)")
            data, folder = path.read_bytes(), path.resolve().parent
        else:
            raise TypeError(f"f: expected a path, bytes or an onnx.ModelProto, got {type(f).__name__}")
        if len(data) > max_bytes:
            raise ValueError(f"{name}: {len(data)} bytes, more than the {max_bytes} bytes an ONNX model may have")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as e:  # protobuf's DecodeError, or a RuntimeWarning-turned-error on odd bytes
            raise ValueError(f"{name}: not an ONNX model (the protobuf does not parse: {e})") from None
    if model.ir_version < 3 or not model.opset_import or not model.HasField("graph"):
        raise ValueError(f"{name}: not an ONNX model (ir_version={model.ir_version}, "
                         f"{len(model.opset_import)} opset imports, graph present: {model.HasField('graph')})")
    return model, folder, name


def opset(model: Any, name: str) -> int:
    """The default domain's opset version, checked to be one we map (OPSETS)."""
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        raise ValueError(f"{name}: imports no opset of the default ONNX domain (imports "
                         f"{[(o.domain, o.version) for o in model.opset_import]})")
    v = max(versions)
    if v not in OPSETS:
        raise ValueError(f"{name}: opset {v} of the default domain is not supported; supported: "
                         f"{OPSETS.start}..{OPSETS.stop - 1} (re-export with opset_version in that range)")
    return v


def array(t: Any, folder: Path | None, where: str, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The NumPy array of a TensorProto t, checked before it is made: its type known, its dims in
    [0, MAX_DIM], at most max_bytes, and its data (raw bytes, a typed field, or external data inside `folder`)
    exactly as long as dims say. where: what to name in an error (e.g. "initializer 'conv1.weight'")."""
    if t.data_type not in DTYPES:
        raise ValueError(f"{where}: data type {t.data_type} is not supported; supported: float, double, float16, "
                         "int8..int64, uint8..uint64, bool")
    dtype = DTYPES[t.data_type]
    dims = [int(d) for d in t.dims]
    if any(d < 0 or d > MAX_DIM for d in dims):
        raise ValueError(f"{where}: dims {dims}: expected each in [0, {MAX_DIM}]")
    count = math.prod(dims)  # Python ints: no overflow however absurd the dims
    nbytes = count * dtype.itemsize
    if nbytes > max_bytes:
        raise ValueError(f"{where}: dims {dims} make {nbytes} bytes, more than the {max_bytes} allowed")
    if t.HasField("segment"):
        raise ValueError(f"{where}: segmented tensors are not supported")
    if t.data_location == 1:  # EXTERNAL
        data = _external(t, folder, where, nbytes)
        return np.frombuffer(data, dtype).reshape(dims).astype(dtype.newbyteorder("="))
    if t.raw_data:
        if len(t.raw_data) != nbytes:
            raise ValueError(f"{where}: raw_data holds {len(t.raw_data)} bytes, expected {nbytes} "
                             f"(dims {dims} x {dtype.itemsize} bytes)")
        return np.frombuffer(t.raw_data, dtype).reshape(dims).astype(dtype.newbyteorder("="))
    values = getattr(t, FIELDS[t.data_type])
    if len(values) != count:
        raise ValueError(f"{where}: {FIELDS[t.data_type]} holds {len(values)} values, expected {count} (dims {dims})")
    if t.data_type == 10:  # float16 values are stored as their bits in int32_data
        return np.asarray(values, np.uint16).view(np.float16).reshape(dims)
    return np.asarray(values).astype(dtype.newbyteorder("=")).reshape(dims)


def _external(t, folder, where, nbytes):
    """The bytes of an external tensor: the file must lie inside the model's folder (no absolute path, no '..',
    no link out of it), and offset + length must lie inside the file."""
    info = {e.key: e.value for e in t.external_data}
    if folder is None:
        raise ValueError(f"{where}: stored as external data; load the model from its path, so that its folder is "
                         "known")
    location = info.get("location", "")
    parts = Path(location).parts
    if not location or Path(location).is_absolute() or os.path.isabs(location) or ".." in parts:
        raise ValueError(f"{where}: external data location {location!r}: expected a relative path inside the "
                         f"model's folder {folder}, without '..'")
    path = (folder / location).resolve()
    if os.path.commonpath([path, folder.resolve()]) != str(folder.resolve()):
        raise ValueError(f"{where}: external data location {location!r} resolves to {path}, outside the model's "
                         f"folder {folder}")
    if not path.is_file():
        raise ValueError(f"{where}: external data file {path} not found")
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", nbytes))
    except ValueError:
        raise ValueError(f"{where}: external data offset/length must be integers, got {info}") from None
    size = path.stat().st_size
    if length != nbytes or offset < 0 or offset + length > size:
        raise ValueError(f"{where}: external data: {length} bytes at offset {offset} of {path} ({size} bytes); "
                         f"expected {nbytes} bytes inside the file")
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    if len(data) != nbytes:
        raise ValueError(f"{where}: external data: read {len(data)} bytes of {path}, expected {nbytes}")
    return data
