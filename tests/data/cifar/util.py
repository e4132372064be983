"""Small CIFAR-10 releases written here in the official layouts (a few images per batch), their archives, and a
JPEG copy: what the CIFAR-10 tests read."""
import hashlib
import io
import pickle
import struct
import tarfile
import zipfile

import numpy as np
from hypothesis import HealthCheck, settings

from cnnumpy.data import cifar, cifar_files
from cnnumpy.data.cifar import CLASSES

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


def set_archive_md5(monkeypatch, fmt, md5):
    name, _, *rest = cifar.RELEASES[fmt]
    monkeypatch.setitem(cifar.RELEASES, fmt, (name, md5, *rest))


def check_split(ds, train):
    x, y = expected(train)
    assert ds.data.shape == (len(x), 3, 32, 32) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64 and np.array_equal(ds.targets, y)
    assert np.array_equal(ds.data, x)
    assert ds.classes == CLASSES and ds.train == train and len(ds) == len(x)


def make_archive(tmp_path, fmt, monkeypatch, extra=()):
    """The release of format fmt packed as published, in tmp_path/src, with its md5 recorded as the official one."""
    src = tmp_path / "src" / cifar.RELEASES[fmt][2]
    if fmt == "binary":
        write_binary(src)
    else:
        monkeypatch.setattr(cifar_files, "PYTHON_FILES", write_python(src))
    archive = tmp_path / "src" / cifar.RELEASES[fmt][0]
    set_archive_md5(monkeypatch, fmt, tar_gz(archive, src, extra))
    return archive


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
