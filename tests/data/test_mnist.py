"""MNIST on the real files (the mnist_dir fixture: $CNNUMPY_TEST_DATA/mnist, else ../shared/data/mnist): contents,
where files are looked for, every kind of bad file, downloading from a local server, and the embedded sample with
its fallback."""
import gzip
import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnumpy.data import mnist
from cnnumpy.data.download import DownloadError
from cnnumpy.data.mnist import MNIST, MNIST_MEAN, MNIST_STD, SAMPLE_DIR, load_mnist
from cnnumpy.data.transforms import ToFloat

ROOT = Path(__file__).resolve().parents[2]  # the repository, whatever its folder is called
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


@pytest.fixture(scope="module")
def train(mnist_dir):
    return MNIST(mnist_dir.parent, train=True)  # root holding a mnist/ subfolder


@pytest.fixture(scope="module")
def test(mnist_dir):
    return MNIST(mnist_dir, train=False)  # root holding the files themselves


@pytest.fixture
def folder(tmp_path, mnist_dir):
    """A copy of the test split: images linked to the real file, labels (10 kB) copied so tests can spoil them."""
    (tmp_path / f"{IMAGES}.gz").symlink_to(mnist_dir / f"{IMAGES}.gz")
    shutil.copy(mnist_dir / f"{LABELS}.gz", tmp_path)
    return tmp_path


def test_train_split(train, mnist_dir):
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.shape == (60000,) and train.targets.dtype == np.int64
    assert len(train) == 60000 and train.train and not train.is_sample
    assert train.classes == [str(d) for d in range(10)]
    assert np.bincount(train.targets).tolist() == TRAIN_COUNTS
    assert train.folder == mnist_dir and np.array_equal(train.indices, np.arange(60000))


def test_test_split(test, mnist_dir):
    assert test.data.shape == (10000, 28, 28) and test.data.dtype == np.uint8
    assert test.targets.dtype == np.int64 and np.bincount(test.targets).tolist() == TEST_COUNTS
    assert not test.train and test.folder == mnist_dir


def test_mean_and_std_constants(train):
    # Exact integer sums of x and x^2 over the 47 million pixels, without a 376 MB float64 copy.
    n = train.data.size
    s1 = train.data.sum(dtype=np.int64)
    s2 = np.square(train.data, dtype=np.uint16).sum(dtype=np.int64)
    mean = s1 / n / 255
    std = np.sqrt(s2 / n - (s1 / n) ** 2) / 255
    assert abs(mean - MNIST_MEAN) < 5e-5 and abs(std - MNIST_STD) < 5e-5, (mean, std)


def test_items_and_batches(test):
    x, y = test[0]
    assert x.shape == (28, 28) and x.dtype == np.uint8 and isinstance(y, int) and y == test.targets[0]
    x, y = test[-1]
    assert np.array_equal(x, test.data[-1]) and y == test.targets[-1]
    xb, yb = test.batch(np.array([3, 1, 4]))
    assert np.array_equal(xb, test.data[[3, 1, 4]]) and np.array_equal(yb, test.targets[[3, 1, 4]])


def test_transform_is_applied_once_per_batch(mnist_dir):
    calls = []

    def transform(x):
        calls.append(x.shape)
        return ToFloat()(x)

    ds = MNIST(mnist_dir.parent, train=False, transform=transform)
    x, _ = ds[7]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and np.array_equal(x[0], ds.data[7] / np.float32(255))
    xb, _ = ds.batch(np.arange(64))
    assert xb.shape == (64, 1, 28, 28) and calls == [(1, 28, 28), (64, 28, 28)]


@pytest.mark.parametrize("index, error, message", [
    (10000, IndexError, r"index: expected -10000 <= index < 10000, got 10000"),
    (-10001, IndexError, "got -10001"),
    (1.0, TypeError, "index: expected an int, got float; use batch"),
    (True, TypeError, "got bool"),
])
def test_index_errors(test, index, error, message):
    with pytest.raises(error, match=message):
        test[index]


def test_default_root_from_environment(monkeypatch, test, mnist_dir):
    monkeypatch.setenv("CNNUMPY_DATA", str(mnist_dir.parent))
    ds = MNIST(train=False)
    assert ds.root == mnist_dir.parent and np.array_equal(ds.targets, test.targets)


def test_default_root_in_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNUMPY_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = tmp_path / ".cache" / "cnnumpy"
    with pytest.raises(FileNotFoundError) as e:
        MNIST(train=False)
    msg = str(e.value)
    assert f"{IMAGES}[.gz], {LABELS}[.gz] not found in {cache} or {cache / 'mnist'}" in msg, msg
    assert "CNNUMPY_DATA" in msg and "download=True" in msg


def test_raw_files_work(tmp_path, test, mnist_dir):
    for name in (IMAGES, LABELS):
        (tmp_path / name).write_bytes(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
    ds = MNIST(tmp_path, train=False)
    assert np.array_equal(ds.data, test.data) and np.array_equal(ds.targets, test.targets)


def test_one_missing_file_is_named(folder):
    (folder / f"{LABELS}.gz").unlink()
    with pytest.raises(FileNotFoundError, match=rf"MNIST: {LABELS}\[\.gz\] not found in {folder} or"):
        MNIST(folder, train=False)


def spoil(folder, edit):
    """Replace the labels file by edit(its uncompressed bytes), written raw."""
    raw = bytearray(gzip.decompress((folder / f"{LABELS}.gz").read_bytes()))
    (folder / f"{LABELS}.gz").unlink()
    path = folder / LABELS
    path.write_bytes(bytes(edit(raw)))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda b: b[:5000], "the file is truncated"),
    (lambda b: b + b"\0", "longer than its header says"),
    (lambda b: b[:8] + b[9:] + b"\x07", "md5 of the uncompressed content is"),
    (lambda b: b"\0\0\x08\x01" + (5000).to_bytes(4, "big") + b[8:5008], r"expected uint8 of shape \(10000,\)"),
    (lambda b: b"PK\x03\x04" + b[4:], "not an IDX file"),
])
def test_bad_labels_file_is_an_error_naming_it(folder, edit, message):
    path = spoil(folder, edit)
    with pytest.raises(ValueError, match=message) as e:
        MNIST(folder, train=False)
    assert str(path) in str(e.value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 10007), flip=st.integers(1, 255))
def test_any_changed_byte_is_caught(folder, mnist_dir, pos, flip):
    def edit(b):
        b[pos] ^= flip
        return b

    path = spoil(folder, edit)
    with pytest.raises(ValueError) as e:
        MNIST(folder, train=False)
    assert str(path) in str(e.value), str(e.value)
    shutil.copy(mnist_dir / f"{LABELS}.gz", folder)  # restore for the next example
    path.unlink()


def test_truncated_gzip_is_an_error_naming_it(folder):
    path = folder / f"{LABELS}.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=f"{path}: not a valid gzip file"):
        MNIST(folder, train=False)


def test_images_and_labels_swapped(tmp_path, mnist_dir):
    (tmp_path / f"{IMAGES}.gz").symlink_to(mnist_dir / f"{LABELS}.gz")
    (tmp_path / f"{LABELS}.gz").symlink_to(mnist_dir / f"{IMAGES}.gz")
    with pytest.raises(ValueError, match=rf"{IMAGES}.gz: expected uint8 of shape \(10000, 28, 28\), got uint8 "
                                         r"of shape \(10000,\): not the file its name says"):
        MNIST(tmp_path, train=False)


def test_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="train: expected True or False, got 'yes'"):
        MNIST(tmp_path, train="yes")
    with pytest.raises(TypeError, match="download: expected True or False, got 1"):
        MNIST(tmp_path, download=1)
    with pytest.raises(TypeError, match="progress: expected True or False, got 'no'"):
        MNIST(tmp_path, progress="no")
    with pytest.raises(TypeError, match="root: expected a path"):
        MNIST(3)
    with pytest.raises(TypeError, match="transform: expected a callable or None, got int"):
        MNIST(tmp_path, train=False, transform=3)  # before looking for the files: a typo costs no reading


# --- download from a local mirror ------------------------------------------------------------------------

def serve_test_split(server, mnist_dir):
    for name in (IMAGES, LABELS):
        server.routes[f"/mnist/{name}.gz"] = (mnist_dir / f"{name}.gz").read_bytes()


def test_download_from_a_mirror(server, dead_url, tmp_path, monkeypatch, test, mnist_dir):
    serve_test_split(server, mnist_dir)
    monkeypatch.setattr(MNIST, "mirrors", [dead_url, server.url("mnist/")])
    ds = MNIST(tmp_path, train=False, download=True)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [f"{IMAGES}.gz", f"{LABELS}.gz"]
    assert np.array_equal(ds.data, test.data) and np.array_equal(ds.targets, test.targets)
    # Present files are used as they are; only a missing one is fetched, into the same folder.
    (tmp_path / "mnist" / f"{LABELS}.gz").unlink()
    server.requests.clear()
    MNIST(tmp_path, train=False, download=True)
    assert server.requests == [f"/mnist/{LABELS}.gz"]


def test_download_into_a_folder_named_mnist(server, tmp_path, monkeypatch, mnist_dir):
    serve_test_split(server, mnist_dir)
    monkeypatch.setattr(MNIST, "mirrors", [server.url("mnist")])
    MNIST(tmp_path / "mnist", train=False, download=True)
    assert (tmp_path / "mnist" / f"{LABELS}.gz").is_file() and not (tmp_path / "mnist" / "mnist").exists()


def test_failed_download_names_file_and_mirrors(server, dead_url, tmp_path, monkeypatch):
    server.routes[f"/bad/{IMAGES}.gz"] = ("truncated", (SAMPLE_DIR / f"{IMAGES}.gz").read_bytes())
    monkeypatch.setattr(MNIST, "mirrors", [server.url("bad"), dead_url])
    with pytest.raises(DownloadError) as e:
        MNIST(tmp_path, train=False, download=True)
    msg = str(e.value)
    assert f"could not download {IMAGES}.gz into {tmp_path / 'mnist'}" in msg
    assert server.url(f"bad/{IMAGES}.gz") in msg and dead_url + f"{IMAGES}.gz" in msg, msg
    assert list((tmp_path / "mnist").iterdir()) == []


@pytest.mark.parametrize("load", [MNIST, load_mnist])
def test_progress_false_silences_the_download_bar(server, tmp_path, monkeypatch, capsys, load):
    """progress=False reaches download_file; with the default, the bar shows on stderr (the file served here is not
    MNIST, so the download fails: MNIST raises, load_mnist falls back to the sample)."""
    server.routes[f"/m/{IMAGES}.gz"] = b"not the file"
    monkeypatch.setattr(MNIST, "mirrors", [server.url("m")])
    for progress in (False, True):
        try:
            load(tmp_path / str(progress), train=False, download=True, progress=progress)
        except DownloadError:
            assert load is MNIST
        err = capsys.readouterr().err
        assert (f"{IMAGES}.gz" in err and "B/s" in err) == progress, err


def test_published_checksums_are_recorded(mnist_dir):
    """The uncompressed md5s are those of ../shared/data/README.md; the shared .gz files are re-compressed, so
    their own md5s differ from the published archives' (which the download checks first, as a shortcut)."""
    for name, (_, _, md5, gz_md5) in mnist.FILES.items():
        gz = (mnist_dir / f"{name}.gz").read_bytes()
        assert hashlib.md5(gzip.decompress(gz)).hexdigest() == md5, name
        assert len(gz_md5) == 32 and gz_md5 != hashlib.md5(gz).hexdigest()


# --- the embedded sample ---------------------------------------------------------------------------------

@pytest.mark.parametrize("is_train, per_class", [(True, 600), (False, 100)])
def test_sample_is_the_full_set_at_its_indices(train, test, is_train, per_class):
    full = train if is_train else test
    ds = MNIST.sample(train=is_train)
    assert ds.is_sample and ds.train == is_train and len(ds) == 10 * per_class
    assert ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
    assert np.bincount(ds.targets).tolist() == [per_class] * 10
    assert np.all(np.diff(ds.indices) > 0) and ds.indices[-1] < len(full)
    assert np.array_equal(ds.data, full.data[ds.indices])
    assert np.array_equal(ds.targets, full.targets[ds.indices])


def test_sample_size_and_attribution():
    size = sum(p.stat().st_size for p in SAMPLE_DIR.glob("*.gz"))
    assert size < 2_000_000, size
    readme = (SAMPLE_DIR / "README.md").read_text()
    assert "Yann LeCun, Corinna Cortes and Christopher Burges" in readme


def test_script_regenerates_the_sample(tmp_path, mnist_dir):
    spec = importlib.util.spec_from_file_location("make_mnist_sample", ROOT / "scripts" / "make_mnist_sample.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--src", str(mnist_dir.parent), "--out", str(tmp_path)])
    for name, (_, _, md5, _) in mnist.SAMPLE_FILES.items():
        assert hashlib.md5(gzip.decompress((tmp_path / f"{name}.gz").read_bytes())).hexdigest() == md5, name
    assert (tmp_path / "README.md").read_text() == (SAMPLE_DIR / "README.md").read_text()


def notices(caplog):
    """The messages load_mnist logged, as (level, text)."""
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "cnnumpy.data.mnist"]


def test_load_mnist_falls_back_with_one_warning(tmp_path, caplog, capsys):
    ds = load_mnist(tmp_path, train=False, progress=False)
    assert ds.is_sample and len(ds) == 1000
    [(level, msg)] = notices(caplog)
    assert level == "WARNING" and "\n" not in msg and msg.startswith("the full MNIST was not found in ")
    assert f"not found in {tmp_path} or {tmp_path / 'mnist'}" in msg and "embedded sample (1000 images)" in msg
    assert "CNNUMPY_DATA" in msg and "download=True" in msg
    assert capsys.readouterr().err == ""  # logged, not printed: the application decides where it goes


def test_without_logging_configured_the_warning_reaches_stderr(tmp_path):
    """Python's last-resort handler prints a warning (message only) when no handler is set: the line a user of
    the library saw before, when it was printed."""
    code = f"from cnnumpy.data import load_mnist; load_mnist({str(tmp_path)!r}, train=False)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout == "", run.stderr
    assert run.stderr.startswith(f"the full MNIST was not found in {tmp_path} or "), run.stderr
    assert run.stderr.count("\n") == 1


def test_load_mnist_falls_back_when_download_fails(dead_url, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(MNIST, "mirrors", [dead_url])
    ds = load_mnist(tmp_path, train=True, download=True, transform=ToFloat())
    assert ds.is_sample and len(ds) == 6000 and ds[0][0].dtype == np.float32
    [(level, msg)] = notices(caplog)
    assert level == "WARNING" and "could not be downloaded into" in msg, msg


def test_load_mnist_uses_the_full_set_silently(caplog, capsys, test, mnist_dir):
    ds = load_mnist(mnist_dir, train=False)
    assert not ds.is_sample and len(ds) == 10000 and notices(caplog) == [] and capsys.readouterr().err == ""


def test_load_mnist_does_not_hide_a_corrupt_file(folder, caplog):
    path = spoil(folder, lambda b: b[:-1])
    with pytest.raises(ValueError, match="truncated") as e:
        load_mnist(folder, train=False)
    assert str(path) in str(e.value) and notices(caplog) == []
