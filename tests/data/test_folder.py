"""ImageFolder on small trees written here: classes and order, pixels in NCHW, decoding (modes, JPEG, resizing, images
too large by their header), argument errors, and the .npz cache (where it goes, when it is reused or rebuilt).
One test opens the real cifar10-jpeg.zip (the cifar10_jpeg_zip fixture): its listing and a few hundred test images."""
import io
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnumpy.data import folder
from cnnumpy.data.folder import ImageFolder, Source
from cnnumpy.data.loader import DataLoader
from tests.data.conftest import peak_memory
from tests.data.folder_util import check, picture, png, tree, write_dir, write_zip

pytestmark = pytest.mark.usefixtures("user_cache")

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_folder(tmp_path):
    ds = ImageFolder(write_dir(tmp_path / "pets", tree()), progress=False)
    check(ds)
    # NCHW: data[n, channel, row, column], as stated.
    assert ds.data[4, 0, 0, 0] == 10 * 2 + 0 and ds.data[4, 1, 3, 2] == 3 and ds.data[4, 2, 3, 2] == 2


def test_modes_are_converted_to_rgb(tmp_path):
    rgb = picture(0, 7)
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(buf, "BMP")
    files = {"a/rgb.png": png(rgb), "a/rgba.png": png(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
             "a/gray.png": png(rgb[..., 1]), "b/palette.bmp": buf.getvalue()}
    ds = ImageFolder(write_dir(tmp_path / "modes", files), progress=False)
    assert ds.files == ["a/gray.png", "a/rgb.png", "a/rgba.png", "b/palette.bmp"]
    chw = rgb.transpose(2, 0, 1)
    assert np.array_equal(ds.data[1], chw) and np.array_equal(ds.data[2], chw)
    assert np.array_equal(ds.data[0], np.broadcast_to(rgb[..., 1], (3, 4, 5)))
    assert np.array_equal(ds.data[3], np.asarray(Image.fromarray(rgb).convert("P").convert("RGB")).transpose(2, 0, 1))


def test_jpeg_is_decoded_as_pillow_decodes_it(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(picture(1, 2, (32, 32))).save(buf, "JPEG", quality=90)
    ds = ImageFolder(write_zip(tmp_path / "j.zip", {"x/0.jpg": buf.getvalue(), "x/1.JPEG": buf.getvalue()}),
                     progress=False)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).transpose(2, 0, 1)
    assert len(ds) == 2 and np.array_equal(ds.data[0], ref) and np.array_equal(ds.data[1], ref)


def test_resize(tmp_path):
    files = {"a/0.png": png(picture(0, 0, (4, 5))), "a/1.png": png(picture(0, 1, (6, 3)))}
    root = write_dir(tmp_path / "mixed", files)
    with pytest.raises(ValueError) as e:
        ImageFolder(root, progress=False)
    assert str(e.value) == (f"{root}/a/1.png: (H, W) = (6, 3), but {root}/a/0.png is (4, 5): the images of an "
                            "ImageFolder must share one size; pass size=(H, W) to resize them all")
    ds = ImageFolder(root, size=(8, 7), progress=False)
    assert ds.data.shape == (2, 3, 8, 7) and ds.size == (8, 7)
    ref = np.asarray(Image.fromarray(picture(0, 1, (6, 3))).resize((7, 8), Image.BILINEAR)).transpose(2, 0, 1)
    assert np.array_equal(ds.data[1], ref)
    assert ImageFolder(root, size=3, progress=False).data.shape == (2, 3, 3, 3)


def test_works_with_the_data_loader(tmp_path):
    ds = ImageFolder(write_dir(tmp_path / "pets", tree()), transform=lambda x: x.astype(np.float32), progress=False)
    batches = list(DataLoader(ds, batch_size=4, shuffle=True, seed=0))
    assert [len(y) for _, y in batches] == [4, 2] and batches[0][0].dtype == np.float32
    x, y = ds[5]
    assert x.shape == (3, 4, 5) and y == 2


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kwargs=st.sampled_from([dict(root=3), dict(size=0), dict(size=(2, 2, 2)), dict(size=1.5), dict(cache=1),
                               dict(progress="no"), dict(transform=4)]))
def test_argument_errors_name_the_argument(tmp_path, kwargs):
    root = tmp_path / "ok"
    if not root.exists():
        write_dir(root, {"a/0.png": png(picture(0, 0))})
    name = next(iter(kwargs))
    with pytest.raises((TypeError, ValueError)) as e:
        ImageFolder(**(dict(root=root, progress=False) | kwargs))
    assert str(e.value).startswith(f"{name}: expected"), str(e.value)


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_an_image_too_large_by_its_header_is_refused(tmp_path, png_bomb, kind):
    """A 109 kB PNG of 30000x30000 pixels among good images: refused before decoding, naming it and its size."""
    files = {"a/0.png": png(picture(0, 0)), "a/1.png": png_bomb}
    root = write_dir(tmp_path / "d", files) if kind == "folder" else write_zip(tmp_path / "d.zip", files)
    err, peak = peak_memory(lambda: ImageFolder(root, progress=False))
    assert str(err).startswith(f"{root}/a/1.png: too large, refused before decoding it: Image size (900000000 "
                               "pixels)"), str(err)
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the image"


# --- the cache -------------------------------------------------------------------------------------------

def no_decoding(monkeypatch):
    def decode(*args):
        raise AssertionError("decoded again instead of reading the cache")
    monkeypatch.setattr(folder, "decode", decode)


def test_zip_cache_next_to_the_zip(tmp_path, monkeypatch, user_cache):
    path = write_zip(tmp_path / "pets.zip", tree(), "pets/train/")
    first = ImageFolder(path, split="train", progress=False)
    assert not first.from_cache and first.cache_file.parent == tmp_path
    assert first.cache_file.name.startswith("pets-train-") and first.cache_file.suffix == ".npz"
    assert not user_cache.exists()
    no_decoding(monkeypatch)
    second = ImageFolder(path, split="train", progress=False)
    assert second.from_cache and second.cache_file == first.cache_file
    check(second)
    assert second.files == first.files and second.classes == first.classes
    with np.load(first.cache_file, allow_pickle=False) as z:  # plain arrays, readable without pickle
        assert sorted(z.files) == ["classes", "data", "files", "targets"]


def test_changed_zip_is_decoded_again(tmp_path, monkeypatch):
    path = write_zip(tmp_path / "pets.zip", tree())
    first = ImageFolder(path, progress=False)
    write_zip(path, tree(counts=(1, 2, 2)))
    os.utime(path, ns=(1, 1))  # a new mtime, even on a coarse clock
    second = ImageFolder(path, progress=False)
    assert not second.from_cache and second.cache_file != first.cache_file
    check(second, counts=(1, 2, 2))


def test_folder_cache_and_a_changed_image(tmp_path, monkeypatch):
    root = write_dir(tmp_path / "pets", tree())
    first = ImageFolder(root, progress=False)
    assert first.cache_file.parent == tmp_path and first.cache_file.name.startswith("pets-")
    assert ImageFolder(root, progress=False).from_cache
    # The image changes deep inside a class folder: the top folder's mtime does not show it, the key does.
    (root / "dog" / "000.png").write_bytes(png(picture(1, 0) + 1))
    os.utime(root / "dog" / "000.png", ns=(2, 2))
    changed = ImageFolder(root, progress=False)
    assert not changed.from_cache and np.array_equal(changed.data[3], (picture(1, 0) + 1).transpose(2, 0, 1))


def test_read_only_data_falls_back_to_the_user_cache(tmp_path, monkeypatch, user_cache):
    data = tmp_path / "shared"
    data.mkdir()
    path = write_zip(data / "pets.zip", tree())
    data.chmod(0o555)  # as ../shared/data; we may be root, who could write anyway
    try:
        first = ImageFolder(path, progress=False)
        assert first.cache_file.parent == user_cache and sorted(p.name for p in data.iterdir()) == ["pets.zip"]
        no_decoding(monkeypatch)
        second = ImageFolder(path, progress=False)
        assert second.from_cache and second.cache_file == first.cache_file
        check(second)
    finally:
        data.chmod(0o755)


def test_corrupt_cache_is_rebuilt(tmp_path):
    path = write_zip(tmp_path / "pets.zip", tree())
    cache = ImageFolder(path, progress=False).cache_file
    cache.write_bytes(cache.read_bytes()[:100])
    again = ImageFolder(path, progress=False)
    assert not again.from_cache and again.cache_file == cache
    check(again)
    assert ImageFolder(path, progress=False).from_cache


def test_no_cache(tmp_path, user_cache):
    path = write_zip(tmp_path / "pets.zip", tree())
    ds = ImageFolder(path, cache=False, progress=False)
    check(ds)
    assert ds.cache_file is None and not ds.from_cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pets.zip"] and not user_cache.exists()


def test_resized_images_have_their_own_cache(tmp_path):
    path = write_zip(tmp_path / "pets.zip", tree())
    a = ImageFolder(path, progress=False)
    b = ImageFolder(path, size=(2, 2), progress=False)
    assert not b.from_cache and b.cache_file != a.cache_file and b.data.shape[2:] == (2, 2)


def test_progress_bar_on_stderr(tmp_path, capsys):
    path = write_zip(tmp_path / "pets.zip", tree())
    ImageFolder(path, cache=False)
    err = capsys.readouterr().err
    assert f"decoding {path}:" in err and "0/6" in err
    ImageFolder(path, cache=False, progress=False)
    assert capsys.readouterr().err == ""


# --- the real JPEG copy of CIFAR-10 ----------------------------------------------------------------------

def test_real_cifar10_jpeg_zip(cifar10_jpeg_zip):
    """The listing of the real zip's test split, and a few hundred of its images decoded as Pillow decodes them."""
    path = cifar10_jpeg_zip
    source = Source(path, "test")
    listing = source.listing()
    assert sorted(listing) == CIFAR10 and str(source) == f"{path}/cifar10-jpeg/test"
    assert [len(files) for files, subs in listing.values()] == [1000] * 10
    assert all(subs == [] for _, subs in listing.values())
    files = [f"{c}/{name}" for c in CIFAR10 for name, _ in sorted(listing[c][0])][::40]
    x = folder.decode(source, files, None, False)
    assert x.shape == (250, 3, 32, 32) and x.dtype == np.uint8
    with zipfile.ZipFile(path) as z:
        for k in (0, 125, 249):
            ref = np.asarray(Image.open(io.BytesIO(z.read(f"cifar10-jpeg/test/{files[k]}"))).convert("RGB"))
            assert np.array_equal(x[k], ref.transpose(2, 0, 1))
    mean = x.mean(axis=(0, 2, 3)) / 255
    assert np.all(np.abs(mean - [0.49, 0.48, 0.45]) < 0.05), mean  # CIFAR-10's colours, channels in RGB order
