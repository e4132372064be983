"""The IDX reader and writer: round trips, the published bytes, and an error naming the file for every defect."""
import gzip
import hashlib
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnumpy.data import idx
from cnnumpy.data.idx import read_idx, write_idx
from tests.data.conftest import peak_memory

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def example(seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(5, 4, 3)).astype(np.uint8)


@FAST
@given(dtype=st.sampled_from(DTYPES), shape=st.lists(st.integers(0, 5), max_size=4), gz=st.booleans())
def test_round_trip(tmp_path, dtype, shape, gz):
    x = (np.random.default_rng(len(shape)).standard_normal(shape) * 100).astype(dtype)
    path = write_idx(tmp_path / ("x.idx.gz" if gz else "x.idx"), x)
    y = read_idx(path)
    assert y.dtype == np.dtype(dtype) and y.dtype.isnative and y.shape == tuple(shape)
    np.testing.assert_array_equal(y, x)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    assert not list(tmp_path.glob(".*")), "write_idx left its temporary file behind"


def test_encode_gives_the_published_bytes(mnist_dir):
    """Reading then re-encoding the test labels gives the published file, byte for byte (md5 from the README)."""
    y = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert hashlib.md5(idx.encode(y)).hexdigest() == "27ae3e4e09519cfbb04c329615203637"


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    x = example()
    (tmp_path / "raw.gz").write_bytes(idx.encode(x))
    (tmp_path / "packed").write_bytes(gzip.compress(idx.encode(x)))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw.gz"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), x)


def test_gzip_header_has_no_timestamp(tmp_path):
    """mtime=0: the same array gives the same bytes whenever it is written."""
    a = write_idx(tmp_path / "a.gz", example()).read_bytes()
    b = write_idx(tmp_path / "b.gz", example()).read_bytes()
    assert a == b and a[4:8] == b"\0\0\0\0"


@pytest.mark.parametrize("buf, message", [
    (b"", "shorter than the 4-byte magic number"),
    (b"\0\0\x08", "shorter than the 4-byte magic number"),
    (b"\x01\0\x08\x01" + b"\0\0\0\x01" + b"\x05", "magic number 0x01000801"),
    (b"\0\0\x07\x01" + b"\0\0\0\x01" + b"\x05", "magic number 0x00000701"),
    (b"\0\0\x08\x03" + b"\0\0\0\x01", "shorter than its 16-byte header"),
    (b"\0\0\x08\x01" + b"\0\0\0\x03" + b"\x05\x06", "expected 11 bytes"),
    (b"\0\0\x08\x01" + b"\0\0\0\x01" + b"\x05\x06", "longer than its header says"),
    (b"\0\0\x0c\x01" + b"\0\0\0\x02" + b"\0\0\0\x01\0\0", "the file is truncated"),
])
def test_structural_errors_name_the_file(tmp_path, buf, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(buf)
    with pytest.raises(ValueError, match=message) as e:
        read_idx(path)
    assert str(path) in str(e.value)


@FAST
@given(cut=st.integers(0, 10**6), gz=st.booleans())
def test_any_truncation_is_an_error_naming_the_file(tmp_path, cut, gz):
    full = write_idx(tmp_path / ("full.gz" if gz else "full"), example()).read_bytes()
    n = cut % len(full)
    path = tmp_path / "cut"
    path.write_bytes(full[:n])
    with pytest.raises(ValueError) as e:
        read_idx(path)
    assert str(path) in str(e.value), str(e.value)
    if gz and n >= 2:  # the gzip magic survived: gzip itself reports the missing end
        assert "not a valid gzip file" in str(e.value), str(e.value)


@FAST
@given(pos=st.integers(10, 10**6), flip=st.integers(1, 255))
def test_a_corrupt_gzip_is_an_error_or_changes_nothing(tmp_path, pos, flip):
    """A flipped byte after the 10-byte gzip header: gzip's CRC-32 catches it, unless the byte was only padding."""
    x = example()
    buf = bytearray(gzip.compress(idx.encode(x)))
    buf[max(pos % len(buf), 10)] ^= flip
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(buf))
    try:
        y = read_idx(path)
    except ValueError as e:
        assert str(path) in str(e) and ("gzip" in str(e) or "IDX" in str(e) or "bytes" in str(e)), str(e)
    else:
        np.testing.assert_array_equal(y, x)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")


@pytest.mark.parametrize("x, error, message", [
    (np.zeros(3, np.int64), TypeError, "expected one of the IDX dtypes .* got int64"),
    (np.zeros(3, bool), TypeError, "got bool"),
    (np.zeros(3, np.uint16), TypeError, "got uint16"),
])
def test_write_refuses_what_idx_cannot_hold(tmp_path, x, error, message):
    with pytest.raises(error, match=message):
        write_idx(tmp_path / "x.gz", x)
    assert not list(tmp_path.iterdir())


def test_big_endian_on_disk(tmp_path):
    """IDX stores multi-byte values big-endian: 258 as int32 is 00 00 01 02."""
    path = write_idx(tmp_path / "x", np.array([258], np.int32))
    assert path.read_bytes() == b"\0\0\x0c\x01" + b"\0\0\0\x01" + b"\0\0\x01\x02"


# --- malformed headers and decompression bombs -----------------------------------------------------------

def head(code, dims):
    """An IDX header: magic 00 00 code len(dims), then the dims as big-endian uint32."""
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("buf, message", [
    (head(0x08, [1] * 255) + b"\x05", "declares 255 dimensions, more than a NumPy array can have"),
    (head(0x08, [1] * 65) + b"\x05", "declares 65 dimensions"),
    (head(0x08, [2**32 - 1] * 3), r"promises \d+ bytes .* more than the bound of 1073741824 bytes"),
    (head(0x0E, [2**32 - 1] * 64), "more than the bound"),
    (head(0x08, [2**31, 2]), "promises 4294967308 bytes"),
    (head(0x08, [1] * 255)[:200], "shorter than its 1024-byte header"),
    (head(0x08, []) + b"\x05\x06", "expected 5 bytes .* longer than its header says"),
    (head(0x08, []), "expected 5 bytes .* truncated"),
    (head(0x08, [0, 28]) + b"\x05", "expected 12 bytes .* longer than its header says"),
    (head(0x0D, [2]) + b"\0" * 7, "expected 16 bytes .* truncated"),
    (b"\0\0\x08", "shorter than the 4-byte magic number"),
    (b"\0\0\x0a\x01" + b"\0\0\0\x01" + b"\x05", "magic number 0x00000a01"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_every_malformed_header_is_a_value_error_naming_the_file(tmp_path, buf, message, gz):
    path = tmp_path / "bad-idx"
    path.write_bytes(gzip.compress(buf) if gz else buf)
    with pytest.raises(ValueError, match=message) as e:
        read_idx(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("dims", [[], [0], [3, 0, 2], [1] * 64])
def test_headers_that_look_odd_but_are_valid(tmp_path, dims):
    """No dimension (a scalar), a zero dimension (an empty array), NumPy's most dimensions: all are arrays."""
    x = np.zeros(dims, np.uint8) + 7
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x.gz", x)), x)


def zeros_gzip(path, header, n):
    """Write a gzip of `header` followed by n zero bytes, compressed piece by piece (never n bytes in memory)."""
    z, block = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(z.compress(header))
        for start in range(0, n, len(block)):
            f.write(z.compress(block[:min(len(block), n - start)]))
        f.write(z.flush())
    return path


def test_a_gzip_longer_than_its_header_is_refused_without_inflating_it(tmp_path):
    """A 64 kB gzip of a 10-byte array followed by 64 MiB of zeros: refused after inflating 19 bytes."""
    path = zeros_gzip(tmp_path / "bomb.gz", head(0x08, [10]), 64 << 20)
    assert path.stat().st_size < 200_000
    err, peak = peak_memory(lambda: read_idx(path))
    assert f"{path}: expected 18 bytes" in str(err) and "got more than 18" in str(err), str(err)
    assert "longer than its header says" in str(err)
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the file"


def test_a_header_promising_too_much_is_refused_before_reading(tmp_path):
    """The header says 3 GiB (3 x 2^30 uint8): refused at the header, with the bound, whatever follows."""
    path = zeros_gzip(tmp_path / "bomb.gz", head(0x08, [3, 2**30]), 64 << 20)
    err, peak = peak_memory(lambda: read_idx(path))
    assert f"{path}: the IDX header promises {3 * 2**30 + 12} bytes" in str(err), str(err)
    assert "more than the bound of 1073741824 bytes (max_bytes)" in str(err)
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the file"


def test_max_bytes_is_the_bound(tmp_path):
    x = np.arange(100, dtype=np.uint8)
    for name in ("x", "x.gz"):
        path = write_idx(tmp_path / name, x)
        np.testing.assert_array_equal(read_idx(path, max_bytes=108), x)  # 8-byte header + 100
        with pytest.raises(ValueError, match=f"{path}: the IDX header promises 108 bytes .* bound of 107 bytes"):
            read_idx(path, max_bytes=107)
    for bad in (0, 3, 2.5, True, "1"):
        with pytest.raises(ValueError, match=rf"max_bytes: expected an int >= 4 \(a bound in bytes\), got {bad!r}"):
            read_idx(path, max_bytes=bad)


def test_a_raw_file_is_checked_against_its_header_before_it_is_read(tmp_path, monkeypatch):
    """On disk the size is known: a header promising 1 MB on a file of 12 bytes is truncated, read or not."""
    path = tmp_path / "short"
    path.write_bytes(head(0x08, [1000, 1000]))
    with pytest.raises(ValueError, match=f"{path}: expected 1000012 bytes .* got 12: the file is truncated"):
        read_idx(path)
