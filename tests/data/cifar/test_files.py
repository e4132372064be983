"""Reading the release files: the restricted unpickler against malicious pickles, bad python and binary batches,
files of another size refused unread, class names that are not ASCII."""
import hashlib
import io
import os
import pickle
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnumpy.data import cifar_files
from cnnumpy.data.cifar import CIFAR10, CLASSES, load_pickle
from tests.data.cifar.util import FAST, RECORDS, batch, py2_dumps, write_binary, write_python
from tests.data.conftest import peak_memory


class Exploit:
    """Unpickling this calls fn(*args): what a malicious "CIFAR-10 batch" would do."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def dumps4(obj):
    return pickle.dumps(obj, protocol=4)


def malicious(marker):
    """A batch that looks right but whose labels, once unpickled, run a shell command creating `marker`."""
    x, _ = batch(0)
    return py2_dumps({b"data": x.reshape(RECORDS, -1), b"labels": Exploit(os.system, f"touch {marker}")})


def test_malicious_pickle_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "test_batch"
    path.write_bytes(malicious(marker))
    with pytest.raises(ValueError, match=r"refusing to load the global (posix|os|nt)\.system") as e:
        load_pickle(path)
    assert str(path) in str(e.value) and "not from the official release" in str(e.value)
    assert not marker.exists()
    # The same file read by the plain unpickler does run the command: the test is not vacuous.
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_malicious_release_is_refused_by_size_checksum_then_by_the_unpickler(tmp_path, monkeypatch):
    """The size check stops it first, then the md5 check; with a size and checksum that match (a tampered list), the
    unpickler still does."""
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    files = write_python(folder)
    path = folder / "test_batch"
    path.write_bytes(malicious(marker))
    size = path.stat().st_size
    with pytest.raises(ValueError, match=f"{path}: {size} bytes, expected 31035526: the file is truncated"):
        CIFAR10(tmp_path, train=False)
    published = cifar_files.PYTHON_FILES["test_batch"][0]
    monkeypatch.setattr(cifar_files, "PYTHON_FILES", files | {"test_batch": (published, size)})
    with pytest.raises(ValueError, match=f"{path}: md5 .* expected 40351d587109b95175f43aff81a1287e"):
        CIFAR10(tmp_path, train=False)
    files["test_batch"] = (hashlib.md5(path.read_bytes()).hexdigest(), size)
    monkeypatch.setattr(cifar_files, "PYTHON_FILES", files)
    with pytest.raises(ValueError, match=rf"{path}: refusing to load the global (posix|os)\.system"):
        CIFAR10(tmp_path, train=False)
    assert not marker.exists()


@pytest.mark.parametrize("fn, args", [(eval, ("1",)), (exec, ("x = 1",)), (__import__, ("os",)), (os.popen, ("true",)),
                                      (np.load, ("x.npy",)), (np.frombuffer, (b"\0",))])
def test_every_other_callable_is_refused(tmp_path, fn, args):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps([Exploit(fn, *args)], protocol=4))
    with pytest.raises(ValueError, match="refusing to load the global"):
        load_pickle(path)


@FAST
@given(module=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
       name=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20))
def test_any_global_but_numpys_array_pieces_is_named_and_refused(tmp_path, module, name):
    allowed = (module, name) in cifar_files.ALLOWED
    path = tmp_path / "g"
    path.write_bytes(b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n.")
    if allowed:
        assert load_pickle_global(path) is cifar_files.ALLOWED[(module, name)]
        return
    with pytest.raises(ValueError) as e:
        load_pickle(path)
    assert f"refusing to load the global {module}.{name}:" in str(e.value), str(e.value)


def load_pickle_global(path):
    return cifar_files.SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()


def test_numpy_array_pieces_are_what_is_allowed():
    assert set(cifar_files.ALLOWED) == {("numpy.core.multiarray", "_reconstruct"),
                                        ("numpy._core.multiarray", "_reconstruct"),
                                        ("numpy", "ndarray"), ("numpy", "dtype")}
    x = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for raw in (py2_dumps({b"a": x}), pickle.dumps({b"a": x}, protocol=4)):
        got = cifar_files.SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()[b"a"]
        assert got.dtype == np.uint8 and np.array_equal(got, x)
    # Protocol 5 pickles arrays through another function, and Python 3's protocol 2 pickles bytes through
    # _codecs.encode: neither is in the official files, so both are refused.
    for raw, refused in ((pickle.dumps(x, protocol=5), "numpy._core.numeric._frombuffer"),
                         (pickle.dumps(b"a", protocol=2), "_codecs.encode")):
        with pytest.raises(cifar_files.Refused, match=f"refusing to load the global {refused}:"):
            cifar_files.SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()


@pytest.mark.parametrize("raw, message", [
    (b"", "not a readable pickle"),
    (dumps4([1, 2]), "expected a pickled dict, got list"),
    (dumps4({b"data": np.zeros((RECORDS, 3072), np.uint8)}), r"expected a dict with b'data' and b'labels'"),
    (dumps4({b"data": np.zeros((RECORDS, 3071), np.uint8), b"labels": [0] * RECORDS}),
     r"b'data' should be uint8 of shape \(3, 3072\), got uint8 \(3, 3071\)"),
    (dumps4({b"data": np.zeros((RECORDS, 3072), np.float32), b"labels": [0] * RECORDS}), "got float32"),
    (dumps4({b"data": np.zeros((RECORDS, 3072), np.uint8), b"labels": [0] * (RECORDS - 1)}),
     "b'labels' should be a list of 3 ints"),
    (dumps4({b"data": np.zeros((RECORDS, 3072), np.uint8), b"labels": [0, 10, 1]}),
     r"labels should lie in 0..9, found 0..10"),
])
def test_bad_python_batch_is_an_error_naming_it(tmp_path, python_files, raw, message):
    python_files.update(write_python(tmp_path))
    path = tmp_path / "test_batch"
    path.write_bytes(raw)
    python_files["test_batch"] = (hashlib.md5(raw).hexdigest(), len(raw))
    with pytest.raises(ValueError, match=message) as e:
        CIFAR10(tmp_path, train=False)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("name, edit, message", [
    ("test_batch.bin", lambda b: b[:-1], r"9218 bytes, expected 9219 \(3 records of 1 label byte \+ 3072 pixel"),
    ("test_batch.bin", lambda b: b + b"\0", "9220 bytes, expected 9219"),
    ("test_batch.bin", lambda b: b"\x0a" + b[1:], r"labels should lie in 0..9, found 1..10"),
    ("batches.meta.txt", lambda b: b"\n".join(b.split(b"\n")[:9]), "expected 10 class names, got 9"),
])
def test_bad_binary_file_is_an_error_naming_it(tmp_path, name, edit, message):
    folder = write_binary(tmp_path / "cifar-10-batches-bin")
    path = folder / name
    path.write_bytes(edit(path.read_bytes()))
    with pytest.raises(ValueError, match=message) as e:
        CIFAR10(tmp_path, train=False)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("fmt, name, expected", [
    ("binary", "test_batch.bin", r"expected 9219 \(3 records"),
    ("binary", "batches.meta.txt", "expected at most 4096"),
    ("python", "test_batch", "expected {size}"),
    ("python", "batches.meta", "expected {meta}"),
])
def test_release_file_of_another_size_is_refused_unread(tmp_path, python_files, fmt, name, expected):
    """A 100 MiB file (sparse: no disk used) in place of a release file: refused by its size, never read."""
    if fmt == "binary":
        folder = write_binary(tmp_path / "cifar-10-batches-bin")
    else:
        folder = tmp_path / "cifar-10-batches-py"
        python_files.update(write_python(folder))
    path = folder / name
    with open(path, "r+b") as f:
        f.truncate(100 << 20)
    err, peak = peak_memory(lambda: CIFAR10(tmp_path, train=False))
    expected = expected.format(size=python_files.get("test_batch", (0, 0))[1],
                               meta=python_files.get("batches.meta", (0, 0))[1])
    assert re.match(f"{path}: {100 << 20} bytes, {expected}", str(err)), str(err)
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the file"


def test_class_names_that_are_not_ascii_are_an_error_naming_the_file(tmp_path):
    folder = write_binary(tmp_path / "cifar-10-batches-bin")
    (folder / "batches.meta.txt").write_bytes("\n".join(CLASSES[:9] + ["lézard"]).encode())
    with pytest.raises(ValueError, match=f"{folder / 'batches.meta.txt'}: not ASCII text"):
        CIFAR10(tmp_path, train=False)
