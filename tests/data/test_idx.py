"""The IDX reader and writer: round trips, the published bytes, and an error naming the file for every defect."""
import gzip
import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnumpy.data import idx
from cnnumpy.data.idx import read_idx, write_idx

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


def test_encode_gives_the_published_bytes(real_data):
    """Reading then re-encoding the test labels gives the published file, byte for byte (md5 from the README)."""
    y = read_idx(real_data("mnist") / "t10k-labels-idx1-ubyte.gz")
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
