"""CIFAR10 on small files written here in the official layouts (a few images per batch): the binary and python
releases, their archives, the restricted unpickler against malicious pickles, every kind of bad file, downloading
from a local server, and load_cifar10's choice between the official release and the JPEG copy."""
import gzip
import hashlib
import io
import os
import pickle
import re
import struct
import tarfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnumpy.data import cifar
from cnnumpy.data.cifar import CIFAR10, CIFAR10_MEAN, CIFAR10_STD, CLASSES, load_cifar10, load_pickle
from cnnumpy.data.download import DownloadError
from cnnumpy.data.folder import ImageFolder
from tests.data.conftest import peak_memory

RECORDS = 3  # images per batch file in these tests (10,000 in the real ones)
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def batch(k):
    """Batch k: images whose pixels say where they are (red = row, green = column, blue = 10*k + image), labels."""
    x = np.empty((RECORDS, 3, 32, 32), np.uint8)
    x[:, 0] = np.arange(32)[:, None]
    x[:, 1] = np.arange(32)[None, :]
    x[:, 2] = (10 * k + np.arange(RECORDS))[:, None, None]
    return x, (np.arange(RECORDS) * 3 + k) % 10


def expected(train):
    ks = range(5) if train else [5]
    return np.concatenate([batch(k)[0] for k in ks]), np.concatenate([batch(k)[1] for k in ks])


def write_binary(folder):
    """cifar-10-batches-bin as published: records of 1 label byte + 3072 pixel bytes, and batches.meta.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(TRAIN + ["test_batch"]):
        x, y = batch(k)
        rows = np.concatenate([y[:, None].astype(np.uint8), x.reshape(RECORDS, -1)], axis=1)
        (folder / f"{name}.bin").write_bytes(rows.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n\n")  # the real file ends with blank lines
    return folder


class Py2Pickler(pickle._Pickler):
    """Pickles str and bytes the way Python 2 pickled its str (BINSTRING), as the official files were written."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        b = obj.encode("latin1") if isinstance(obj, str) else obj
        self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b if len(b) < 256
                   else pickle.BINSTRING + struct.pack("<i", len(b)) + b)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_dumps(obj):
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    # NumPy 1, which wrote the official files, named the module numpy.core.multiarray.
    return f.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def write_python(folder, dumps=py2_dumps):
    """cifar-10-batches-py: pickled dicts with the published keys -> {file name: (md5, size)}."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for k, name in enumerate(TRAIN + ["test_batch"]):
        x, y = batch(k)
        files[name] = dumps({b"batch_label": b"training batch", b"labels": y.tolist(),
                             b"data": x.reshape(RECORDS, -1), b"filenames": [b"img.png"] * RECORDS})
    files["batches.meta"] = dumps({b"num_cases_per_batch": RECORDS, b"label_names": [c.encode() for c in CLASSES],
                                   b"num_vis": 3072})
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    return {name: (hashlib.md5(raw).hexdigest(), len(raw)) for name, raw in files.items()}


def tar_gz(path, folder, extra=()):
    """An archive of `folder` under its own name, as published (plus a readme), and any extra TarInfo members."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
        info = tarfile.TarInfo(f"{folder.name}/readme.html")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"<p/>"))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def small(monkeypatch, tmp_path):
    """Batches of RECORDS images; the default root and caches inside tmp_path, never the user's."""
    monkeypatch.setattr(cifar, "RECORDS", RECORDS)
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path / "default"))


@pytest.fixture
def python_files(monkeypatch):
    """Record the md5s and sizes of the python files a test writes, as the published ones are recorded."""
    files = {}
    monkeypatch.setattr(cifar, "PYTHON_FILES", files)
    return files


def set_archive_md5(monkeypatch, fmt, md5):
    name, _, *rest = cifar.RELEASES[fmt]
    monkeypatch.setitem(cifar.RELEASES, fmt, (name, md5, *rest))


def check_split(ds, train):
    x, y = expected(train)
    assert ds.data.shape == (len(x), 3, 32, 32) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64 and np.array_equal(ds.targets, y)
    assert np.array_equal(ds.data, x)
    assert ds.classes == CLASSES and ds.train == train and len(ds) == len(x)


# --- the two releases ------------------------------------------------------------------------------------

@pytest.mark.parametrize("train", [True, False])
def test_binary_release(tmp_path, train):
    write_binary(tmp_path / "cifar-10-batches-bin")
    ds = CIFAR10(tmp_path, train=train)
    check_split(ds, train)
    assert ds.format == "binary" and ds.folder == tmp_path / "cifar-10-batches-bin"


def test_pixels_are_channel_then_row_then_column(tmp_path):
    """A record is 1024 red bytes, 1024 green, 1024 blue, each 32x32 row-major: data[n, c, row, col]."""
    write_binary(tmp_path)  # the files right in root
    raw = (tmp_path / "test_batch.bin").read_bytes()
    ds = CIFAR10(tmp_path, train=False)
    n, row, col = 2, 5, 17
    record = raw[n * 3073:(n + 1) * 3073]
    assert ds.targets[n] == record[0]
    for c in range(3):
        assert ds.data[n, c, row, col] == record[1 + 1024 * c + 32 * row + col]
    assert ds.data[n, 0, row, col] == row and ds.data[n, 1, row, col] == col and ds.data[n, 2, 0, 0] == 50 + n


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("writer", ["python 2", "python 3"])
def test_python_release(tmp_path, python_files, train, writer):
    dumps = py2_dumps if writer == "python 2" else (lambda obj: pickle.dumps(obj, protocol=4))
    python_files.update(write_python(tmp_path / "cifar-10-batches-py", dumps))
    ds = CIFAR10(tmp_path, train=train)
    check_split(ds, train)
    assert ds.format == "python" and ds.data.flags.c_contiguous


def test_root_may_be_the_release_folder_or_the_default(tmp_path, monkeypatch, python_files):
    python_files.update(write_python(tmp_path / "cifar-10-batches-py"))
    check_split(CIFAR10(tmp_path / "cifar-10-batches-py", train=False), False)
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path))
    ds = CIFAR10(train=False)
    assert ds.root == tmp_path and ds.format == "python"


def test_binary_release_is_preferred(tmp_path, python_files):
    python_files.update(write_python(tmp_path / "cifar-10-batches-py"))
    write_binary(tmp_path / "cifar-10-batches-bin")
    assert CIFAR10(tmp_path, train=False).format == "binary"


def test_items_batches_and_repr(tmp_path):
    write_binary(tmp_path / "cifar-10-batches-bin")
    ds = CIFAR10(tmp_path, train=True, transform=lambda x: x.astype(np.float32) / 255)
    x, y = ds[4]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and y == ds.targets[4] and isinstance(y, int)
    xb, yb = ds.batch(np.array([7, 0]))
    assert xb.shape == (2, 3, 32, 32) and np.array_equal(yb, ds.targets[[7, 0]])
    assert repr(ds) == f"CIFAR10(train, 15 images, binary release in {tmp_path / 'cifar-10-batches-bin'})"


# --- the restricted unpickler -----------------------------------------------------------------------------

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
    monkeypatch.setattr(cifar, "PYTHON_FILES", files | {"test_batch": (cifar.PYTHON_FILES["test_batch"][0], size)})
    with pytest.raises(ValueError, match=f"{path}: md5 .* expected 40351d587109b95175f43aff81a1287e"):
        CIFAR10(tmp_path, train=False)
    files["test_batch"] = (hashlib.md5(path.read_bytes()).hexdigest(), size)
    monkeypatch.setattr(cifar, "PYTHON_FILES", files)
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
    allowed = (module, name) in cifar.ALLOWED
    path = tmp_path / "g"
    path.write_bytes(b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n.")
    if allowed:
        assert load_pickle_global(path) is cifar.ALLOWED[(module, name)]
        return
    with pytest.raises(ValueError) as e:
        load_pickle(path)
    assert f"refusing to load the global {module}.{name}:" in str(e.value), str(e.value)


def load_pickle_global(path):
    return cifar.SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()


def test_numpy_array_pieces_are_what_is_allowed():
    assert set(cifar.ALLOWED) == {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                                  ("numpy", "ndarray"), ("numpy", "dtype")}
    x = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for raw in (py2_dumps({b"a": x}), pickle.dumps({b"a": x}, protocol=4)):
        got = cifar.SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()[b"a"]
        assert got.dtype == np.uint8 and np.array_equal(got, x)
    # Protocol 5 pickles arrays through another function, and Python 3's protocol 2 pickles bytes through
    # _codecs.encode: neither is in the official files, so both are refused.
    for raw, refused in ((pickle.dumps(x, protocol=5), "numpy._core.numeric._frombuffer"),
                         (pickle.dumps(b"a", protocol=2), "_codecs.encode")):
        with pytest.raises(cifar.Refused, match=f"refusing to load the global {refused}:"):
            cifar.SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()


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


# --- bad binary files, missing files ----------------------------------------------------------------------

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


def test_missing_files_are_named(tmp_path):
    folder = write_binary(tmp_path / "cifar-10-batches-bin")
    (folder / "data_batch_3.bin").unlink()
    (folder / "batches.meta.txt").unlink()
    with pytest.raises(FileNotFoundError, match=rf"data_batch_3.bin, batches.meta.txt missing from {folder}; "
                                                r"put the missing files there, or the archive cifar-10-binary"):
        CIFAR10(tmp_path, train=True)


def test_nothing_found_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        CIFAR10(tmp_path / "empty")
    msg = str(e.value)
    root = tmp_path / "empty"
    assert f"no CIFAR-10 release in {root}: looked for {root / 'cifar-10-batches-bin'}, " in msg, msg
    assert "cifar-10-binary.tar.gz, cifar-10-python.tar.gz" in msg and "CNNUMPY_DATA" in msg
    assert "download=True" in msg


def test_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="train: expected True or False, got 'yes'"):
        CIFAR10(tmp_path, train="yes")
    with pytest.raises(TypeError, match="download: expected True or False, got 1"):
        CIFAR10(tmp_path, download=1)
    with pytest.raises(TypeError, match="progress: expected True or False, got 'no'"):
        CIFAR10(tmp_path, progress="no")
    with pytest.raises(TypeError, match="root: expected a path"):
        CIFAR10(3)
    write_binary(tmp_path)
    with pytest.raises(TypeError, match="transform: expected a callable or None, got int"):
        CIFAR10(tmp_path, transform=3)


# --- archives and downloading -----------------------------------------------------------------------------

def make_archive(tmp_path, fmt, monkeypatch, extra=()):
    """The release of format fmt packed as published, in tmp_path/src, with its md5 recorded as the official one."""
    src = tmp_path / "src" / cifar.RELEASES[fmt][2]
    if fmt == "binary":
        write_binary(src)
    else:
        monkeypatch.setattr(cifar, "PYTHON_FILES", write_python(src))
    archive = tmp_path / "src" / cifar.RELEASES[fmt][0]
    set_archive_md5(monkeypatch, fmt, tar_gz(archive, src, extra))
    return archive


@pytest.mark.parametrize("fmt", ["binary", "python"])
def test_archive_is_checked_and_extracted(tmp_path, monkeypatch, fmt):
    archive = make_archive(tmp_path, fmt, monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    (root / archive.name).write_bytes(archive.read_bytes())
    ds = CIFAR10(root, train=True)
    check_split(ds, True)
    folder = root / cifar.RELEASES[fmt][2]
    assert ds.format == fmt and ds.folder == folder
    names = sorted(p.name for p in folder.iterdir())
    suffix = ".bin" if fmt == "binary" else ""
    assert names == sorted([n + suffix for n in TRAIN + ["test_batch"]] + [cifar.RELEASES[fmt][4]])  # no readme
    check_split(CIFAR10(root, train=False), False)  # extracted once, for both splits


def test_corrupt_archive_is_refused(tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (root / archive.name).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"{root / archive.name}: md5 [0-9a-f]{{32}}, expected [0-9a-f]{{32}}: "
                                         "the archive is corrupt"):
        CIFAR10(root)
    assert not (root / "cifar-10-batches-bin").exists()


def member(name, data=b"evil", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def test_archive_cannot_write_outside_its_folder(tmp_path, monkeypatch):
    """Members named ../x, /abs/x or folder/../../x are never written; only the release's own files are."""
    outside = tmp_path / "outside"
    extra = [member("../evil"), member(f"{outside}/abs-evil"), member("cifar-10-batches-bin/../../evil2"),
             member("cifar-10-batches-bin/../../../evil3")]
    archive = make_archive(tmp_path, "binary", monkeypatch, extra)
    root = tmp_path / "a" / "root"
    root.mkdir(parents=True)
    (root / archive.name).write_bytes(archive.read_bytes())
    check_split(CIFAR10(root, train=False), False)
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*evil*"))
    assert written == [] and not outside.exists()


@pytest.mark.parametrize("kind, link", [(tarfile.SYMTYPE, "/etc/passwd"), (tarfile.LNKTYPE, "etc/passwd"),
                                        (tarfile.DIRTYPE, "")])
def test_archive_member_that_is_not_a_file_is_refused(tmp_path, monkeypatch, kind, link):
    src = write_binary(tmp_path / "src" / "cifar-10-batches-bin")
    (src / "test_batch.bin").unlink()
    archive = tmp_path / "src" / "cifar-10-binary.tar.gz"
    set_archive_md5(monkeypatch, "binary",
                    tar_gz(archive, src, [member("cifar-10-batches-bin/test_batch.bin", kind=kind, link=link)]))
    with pytest.raises(ValueError, match="member cifar-10-batches-bin/test_batch.bin is not a regular file; "
                                         "refusing to extract"):
        CIFAR10(tmp_path / "src", train=False)
    assert not (tmp_path / "src" / "cifar-10-batches-bin" / "test_batch.bin").exists()


def test_archive_without_a_release_file_is_refused(tmp_path, monkeypatch):
    src = write_binary(tmp_path / "src" / "cifar-10-batches-bin")
    (src / "data_batch_5.bin").unlink()
    archive = tmp_path / "src" / "cifar-10-binary.tar.gz"
    set_archive_md5(monkeypatch, "binary", tar_gz(archive, src))
    root = tmp_path / "root"
    root.mkdir()
    (root / archive.name).write_bytes(archive.read_bytes())
    with pytest.raises(ValueError, match="cifar-10-batches-bin/data_batch_5.bin missing from the archive"):
        CIFAR10(root)


def lying_tar_gz(path, name, size, data):
    """A tar.gz whose one member `name` declares `size` bytes but holds only `data` before the stream ends: how an
    archive of a few bytes claims a member of a gigabyte -> the archive's md5."""
    info = tarfile.TarInfo(name)
    info.size = size
    with gzip.open(path, "wb") as f:
        f.write(info.tobuf(format=tarfile.GNU_FORMAT) + data)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt, name, size, expected", [
    ("binary", "cifar-10-batches-bin/data_batch_1.bin", 1 << 30, "expected 9219"),
    ("binary", "cifar-10-batches-bin/data_batch_1.bin", 9218, "expected 9219"),
    ("binary", "cifar-10-batches-bin/batches.meta.txt", 1 << 30, "expected at most 4096"),
    ("python", "cifar-10-batches-py/test_batch", 1 << 30, "expected 31035526"),
    ("python", "cifar-10-batches-py/batches.meta", 1 << 20, "expected 158"),
])
def test_archive_member_of_another_size_is_refused_before_it_is_read(tmp_path, monkeypatch, fmt, name, size,
                                                                     expected):
    """The member's size in the tar header is checked against the release file's before a byte of it is read."""
    archive = tmp_path / cifar.RELEASES[fmt][0]
    set_archive_md5(monkeypatch, fmt, lying_tar_gz(archive, name, size, bytes(min(size, 1 << 16))))
    assert archive.stat().st_size < 10_000
    err, peak = peak_memory(lambda: CIFAR10(tmp_path, train=False))
    assert str(err) == (f"{archive}: member {name} is {size} bytes, {expected}: not the published file; refusing to "
                        "extract it"), str(err)
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the member"
    assert list((tmp_path / cifar.RELEASES[fmt][2]).iterdir()) == []


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


def test_read_only_root_is_explained(tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    (root / archive.name).write_bytes(archive.read_bytes())
    root.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=f"{root}: not writable, cannot extract cifar-10-binary.tar.gz"):
            CIFAR10(root)
    finally:
        root.chmod(0o755)


def test_download_from_a_mirror(server, dead_url, tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    server.routes["/kriz/cifar-10-binary.tar.gz"] = archive.read_bytes()
    monkeypatch.setattr(CIFAR10, "mirrors", [dead_url, server.url("kriz/")])
    root = tmp_path / "new"
    check_split(CIFAR10(root, train=False, download=True), False)
    assert (root / "cifar-10-binary.tar.gz").read_bytes() == archive.read_bytes()
    assert server.requests == ["/kriz/cifar-10-binary.tar.gz"]
    check_split(CIFAR10(root, train=True, download=True), True)
    assert server.requests == ["/kriz/cifar-10-binary.tar.gz"]  # present: not fetched again


@pytest.mark.parametrize("load", [CIFAR10, load_cifar10])
def test_progress_false_silences_the_download_bar(server, tmp_path, monkeypatch, capsys, load):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    server.routes["/kriz/cifar-10-binary.tar.gz"] = archive.read_bytes()
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url("kriz/")])
    check_split(load(tmp_path / "quiet", train=False, download=True, progress=False), False)
    assert capsys.readouterr().err == ""
    check_split(load(tmp_path / "loud", train=False, download=True), False)  # the default shows it
    assert "cifar-10-binary.tar.gz" in capsys.readouterr().err


def test_progress_false_silences_the_decoding_bar_of_the_jpeg_copy(tmp_path, capsys):
    write_jpeg_copy(tmp_path / "cifar10-jpeg.zip")
    assert len(load_cifar10(tmp_path, train=False, progress=False)) == 20
    assert capsys.readouterr().err == ""
    assert len(load_cifar10(tmp_path / "cifar10-jpeg.zip", train=True)) == 20  # the default shows it
    assert "decoding" in capsys.readouterr().err


def test_failed_download_names_the_mirrors_and_leaves_nothing(server, dead_url, tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    server.routes["/bad/cifar-10-binary.tar.gz"] = archive.read_bytes()[:-10]
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url("bad"), dead_url])
    root = tmp_path / "new"
    with pytest.raises(DownloadError) as e:
        CIFAR10(root, download=True)
    msg = str(e.value)
    assert f"could not download cifar-10-binary.tar.gz into {root}" in msg
    assert server.url("bad/cifar-10-binary.tar.gz") in msg and dead_url + "cifar-10-binary.tar.gz" in msg, msg
    assert list(root.iterdir()) == []


def test_default_mirror_and_checksums():
    assert CIFAR10.mirrors == ["https://www.cs.toronto.edu/~kriz/"]
    assert cifar.RELEASES["binary"][1] == "c32a1d4ab5d03f1284b67883e8d87530"
    assert cifar.RELEASES["python"][1] == "c58f30108f718f92721af3b95e74349a"
    assert cifar.PYTHON_FILES["data_batch_1"] == ("c99cafc152244af753f735de768cd75f", 31035704)
    assert len(cifar.PYTHON_FILES) == 7 and cifar.PYTHON_FILES["batches.meta"][1] == 158
    assert len(CIFAR10_MEAN) == len(CIFAR10_STD) == 3


# --- load_cifar10: the official release, else the JPEG copy ----------------------------------------------

def write_jpeg_copy(path, per_class=2):
    """A tiny cifar10-jpeg.zip in the published layout (PNG inside, so pixels can be compared exactly)."""
    from PIL import Image
    with zipfile.ZipFile(path, "w") as z:
        for split in ("train", "test"):
            for c, name in enumerate(CLASSES):
                for i in range(per_class):
                    buf = io.BytesIO()
                    Image.fromarray(np.full((32, 32, 3), 10 * c + i, np.uint8)).save(buf, "PNG")
                    z.writestr(f"cifar10-jpeg/{split}/{name}/{i:04d}.png", buf.getvalue())
    return path


def test_load_cifar10_prefers_the_official_release(tmp_path):
    write_binary(tmp_path / "cifar-10-batches-bin")
    write_jpeg_copy(tmp_path / "cifar10-jpeg.zip")
    ds = load_cifar10(tmp_path, train=False)
    assert isinstance(ds, CIFAR10)
    check_split(ds, False)


def test_load_cifar10_falls_back_to_the_jpeg_copy(tmp_path):
    write_jpeg_copy(tmp_path / "cifar10-jpeg.zip")
    ds = load_cifar10(tmp_path, train=True, transform=lambda x: x[:, :1])
    assert isinstance(ds, ImageFolder) and ds.classes == CLASSES and len(ds) == 20
    assert ds.data.shape == (20, 3, 32, 32) and np.array_equal(ds.targets, np.repeat(np.arange(10), 2))
    assert np.array_equal(ds.data[:, 0, 0, 0], [10 * c + i for c in range(10) for i in range(2)])
    assert ds.batch([0])[0].shape == (1, 1, 32, 32)
    assert ds.cache_file.parent == tmp_path  # next to the zip, which is writable here
    same = load_cifar10(tmp_path / "cifar10-jpeg.zip", train=True)  # root may be the zip itself
    assert same.from_cache and np.array_equal(same.data, ds.data)


def test_load_cifar10_refuses_a_jpeg_copy_of_something_else(tmp_path):
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    with zipfile.ZipFile(tmp_path / "cifar10-jpeg.zip", "w") as z:
        z.writestr("cifar10-jpeg/test/cat/0.png", buf.getvalue())
    with pytest.raises(ValueError, match=r"expected the CIFAR-10 classes .* got \['cat'\] with 3x8x8"):
        load_cifar10(tmp_path, train=False)


def test_load_cifar10_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_cifar10(tmp_path)
    msg = str(e.value)
    assert "no CIFAR-10 release in" in msg and f"nor is the JPEG copy there ({tmp_path / 'cifar10-jpeg.zip'}" in msg
