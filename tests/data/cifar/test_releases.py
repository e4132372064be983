"""CIFAR10 on small releases written here: the binary and python releases, files missing, argument errors, the
published mirror and checksums, and load_cifar10's choice between the official release and the JPEG copy."""
import io
import pickle
import zipfile

import numpy as np
import pytest

from cnnumpy.data import cifar, cifar_files
from cnnumpy.data.cifar import CIFAR10, CIFAR10_MEAN, CIFAR10_STD, CLASSES, load_cifar10
from cnnumpy.data.folder import ImageFolder
from tests.data.cifar.util import check_split, py2_dumps, write_binary, write_jpeg_copy, write_python


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


def test_default_mirror_and_checksums():
    assert CIFAR10.mirrors == ["https://www.cs.toronto.edu/~kriz/"]
    assert cifar.RELEASES["binary"][1] == "c32a1d4ab5d03f1284b67883e8d87530"
    assert cifar.RELEASES["python"][1] == "c58f30108f718f92721af3b95e74349a"
    assert cifar_files.PYTHON_FILES["data_batch_1"] == ("c99cafc152244af753f735de768cd75f", 31035704)
    assert len(cifar_files.PYTHON_FILES) == 7 and cifar_files.PYTHON_FILES["batches.meta"][1] == 158
    assert len(CIFAR10_MEAN) == len(CIFAR10_STD) == 3


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
