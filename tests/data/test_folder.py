"""ImageFolder on small trees written here, as folders and as zips: classes and order, pixels in NCHW, the ways of
naming a folder inside a zip, clear errors, and the .npz cache (where it goes, when it is reused or rebuilt).
One test opens the real cifar10-jpeg.zip (the cifar10_jpeg_zip fixture): its listing and a few hundred test images."""
import io
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnumpy.data import folder
from cnnumpy.data.folder import ImageFolder, Source
from cnnumpy.data.loader import DataLoader
from tests.data.conftest import peak_memory, png_of_zeros

CLASSES = ["cat", "dog", "emu"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def picture(c, i, size=(4, 5)):
    """Image i of class c: red = 10*c + i everywhere, green = the row, blue = the column; (H, W, 3) uint8."""
    h, w = size
    x = np.empty((h, w, 3), np.uint8)
    x[..., 0] = 10 * c + i
    x[..., 1] = np.arange(h)[:, None]
    x[..., 2] = np.arange(w)[None, :]
    return x


def png(x):
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "PNG")
    return buf.getvalue()


def tree(counts=(3, 1, 2), size=(4, 5)):
    """{relative path: PNG bytes}: class c holds counts[c] images, written out of order, plus files to ignore."""
    files = {}
    for c, name in enumerate(CLASSES):
        for i in reversed(range(counts[c])):
            files[f"{name}/{i:03d}.png"] = png(picture(c, i, size))
    files.update({"cat/notes.txt": b"not an image", "cat/.hidden.png": b"junk", ".git/x.png": b"junk",
                  "README.md": b"loose file"})
    return files


def write_dir(root, files):
    for rel, raw in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(raw)
    return root


def write_zip(path, files, prefix=""):
    with zipfile.ZipFile(path, "w") as z:
        for rel, raw in files.items():
            z.writestr(prefix + rel, raw)
    return path


def expected(counts=(3, 1, 2), size=(4, 5)):
    x = np.stack([picture(c, i, size) for c in range(3) for i in range(counts[c])]).transpose(0, 3, 1, 2)
    return x, np.repeat(np.arange(3), counts)


def check(ds, counts=(3, 1, 2), size=(4, 5)):
    x, y = expected(counts, size)
    assert ds.classes == CLASSES and ds.class_to_idx == {"cat": 0, "dog": 1, "emu": 2}
    assert ds.data.dtype == np.uint8 and ds.data.shape == (len(x), 3) + size
    assert ds.targets.dtype == np.int64 and np.array_equal(ds.targets, y)
    assert np.array_equal(ds.data, x)
    assert ds.files == [f"{name}/{i:03d}.png" for name, n in zip(CLASSES, counts) for i in range(n)]


@pytest.fixture(autouse=True)
def user_cache(monkeypatch, tmp_path):
    """The user's cache folder inside tmp_path."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path / "user"))
    return tmp_path / "user" / "cache"


def test_folder(tmp_path):
    ds = ImageFolder(write_dir(tmp_path / "pets", tree()), progress=False)
    check(ds)
    # NCHW: data[n, channel, row, column], as stated.
    assert ds.data[4, 0, 0, 0] == 10 * 2 + 0 and ds.data[4, 1, 3, 2] == 3 and ds.data[4, 2, 3, 2] == 2


@pytest.mark.parametrize("prefix, root, split", [
    ("", "pets.zip", None),
    ("pets/", "pets.zip", None),  # the zip's single top folder is stepped into
    ("pets/", "pets.zip/pets", None),
    ("data/train/", "pets.zip", "data/train"),
    ("pets/train/", "pets.zip", "train"),
    ("pets/train/", "pets.zip/pets/train", None),
    ("pets/train/", "pets.zip/pets", "train"),
])
def test_zip(tmp_path, prefix, root, split):
    write_zip(tmp_path / "pets.zip", tree(), prefix)
    check(ImageFolder(tmp_path / root, split=split, progress=False))


def test_folder_with_splits(tmp_path):
    for split, counts in (("train", (3, 1, 2)), ("test", (1, 1, 1))):
        write_dir(tmp_path / "pets" / split, tree(counts))
    check(ImageFolder(tmp_path / "pets", split="train", progress=False))
    check(ImageFolder(str(tmp_path / "pets" / "test"), progress=False), counts=(1, 1, 1))


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


# --- errors ----------------------------------------------------------------------------------------------

def test_folder_of_splits_without_split_says_to_pass_it(tmp_path):
    path = write_zip(tmp_path / "pets.zip", tree(), "pets/train/")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("pets/test/cat/0.png", png(picture(0, 0)))
    with pytest.raises(FileNotFoundError) as e:
        ImageFolder(path, progress=False)
    assert str(e.value) == (f"{path}/pets/test: no image files (.jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff, "
                            f".webp) directly in this class folder; it holds the folders cat: if {path}/pets is a "
                            "folder of splits, pass split='test'")


@pytest.mark.parametrize("layout, root, split, error, message", [
    ({"a/x.png": None}, "d.zip", "val", FileNotFoundError,
     r"root: no folder d/val inside .*d.zip; the folders in d: a$"),
    ({"a/x.png": None}, "d.zip/d/a/b", None, FileNotFoundError,
     "root: no folder d/a/b inside .*; the folders in d/a: none"),
    ({"x.png": None}, "d.zip/d", None, FileNotFoundError, r"root: no class folders in .*d.zip/d: expected"),
    ({"a/b/x.png": None, "c/y.png": None}, "d.zip", None, FileNotFoundError,
     r"d.zip/d/a: no image files .* it holds the folders b: if"),
    ({"a/x.txt": b"text"}, "d.zip", None, FileNotFoundError, r"d/a: no image files \(.jpg"),
    ({"a/x.png": b"not a png"}, "d.zip", None, ValueError, r"d.zip/d/a/x.png: not an image Pillow can read"),
    ({"a/x.png": None}, "nowhere", None, FileNotFoundError, r"root: no folder \(or zip file\) at .*nowhere$"),
    ({"a/x.png": None}, "d.zip", "..", ValueError, r"split: expected None or a relative folder name .* got '..'"),
    ({"a/x.png": None}, "d.zip", "/abs", ValueError, "split: .* got '/abs'"),
    ({"a/x.png": None}, "d.zip", 3, TypeError, "split: expected None or a folder name .* got 3"),
])
def test_zip_errors(tmp_path, layout, root, split, error, message):
    write_zip(tmp_path / "d.zip", {k: png(picture(0, 0)) if v is None else v for k, v in layout.items()}, "d/")
    with pytest.raises(error, match=message):
        ImageFolder(tmp_path / root, split=split, progress=False)


def test_folder_errors(tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/empty/cat: no image files .* class folder$"):
        ImageFolder(tmp_path / "empty", progress=False)
    (tmp_path / "none").mkdir()
    with pytest.raises(FileNotFoundError, match=f"root: no class folders in {tmp_path}/none: expected "
                                                f"{tmp_path}/none/<class>/<image file>"):
        ImageFolder(tmp_path / "none", progress=False)
    (tmp_path / "file.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=f"root: {tmp_path}/file.zip is neither a folder nor a zip file"):
        ImageFolder(tmp_path / "file.zip" / "inside", progress=False)


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


# --- decompression bombs: images too large by their header, files and zip members too large ------------------


def raw_zip(path, name, deflated, size, crc):
    """A zip of one deflated member `name` whose headers declare `size` bytes and CRC-32 `crc`, whatever the
    compressed bytes `deflated` really unpack to (what a hostile zip may do)."""
    n = name.encode()
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(deflated), size, len(n), 0) + n
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(deflated), size, len(n), 0,
                          0, 0, 0, 0, 0) + n
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(deflated), 0)
    path.write_bytes(local + deflated + central + end)
    return path


def deflated_zeros(n):
    """Raw deflate of n zero bytes, compressed a MiB at a time (n bytes are never in memory) -> (bytes, CRC-32)."""
    z, block, out, crc = zlib.compressobj(9, zlib.DEFLATED, -15), bytes(1 << 20), [], 0
    for start in range(0, n, len(block)):
        piece = block[:min(len(block), n - start)]
        out.append(z.compress(piece))
        crc = zlib.crc32(piece, crc)
    return b"".join(out + [z.flush()]), crc


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_an_image_too_large_by_its_header_is_refused(tmp_path, png_bomb, kind):
    """A 109 kB PNG of 30000x30000 pixels among good images: refused before decoding, naming it and its size."""
    files = {"a/0.png": png(picture(0, 0)), "a/1.png": png_bomb}
    root = write_dir(tmp_path / "d", files) if kind == "folder" else write_zip(tmp_path / "d.zip", files)
    err, peak = peak_memory(lambda: ImageFolder(root, progress=False))
    assert str(err).startswith(f"{root}/a/1.png: too large, refused before decoding it: Image size (900000000 "
                               "pixels)"), str(err)
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the image"


def test_a_zip_member_declaring_more_than_the_bound_is_not_read(tmp_path):
    """The zip's directory says 1 GiB for one image: refused by what it declares, before a byte is inflated."""
    data, crc = deflated_zeros(1 << 20)
    path = raw_zip(tmp_path / "d.zip", "a/x.png", data, 1 << 30, crc)
    assert path.stat().st_size < 10_000
    err, peak = peak_memory(lambda: ImageFolder(path, progress=False))
    assert str(err) == (f"{path}/a/x.png: 1073741824 bytes declared, more than the bound of {folder.MAX_IMAGE_BYTES} "
                        "bytes for one image file: refused before reading it")
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the member"


def test_a_zip_member_longer_than_it_declares_is_not_inflated(tmp_path):
    """A member declares 100 bytes but unpacks to 64 MiB: no more than the 100 bytes are inflated, and the CRC-32
    (of the 64 MiB) does not match them, so the zip is reported corrupt."""
    data, crc = deflated_zeros(64 << 20)
    path = raw_zip(tmp_path / "d.zip", "a/x.png", data, 100, crc)
    assert path.stat().st_size < 100_000
    err, peak = peak_memory(lambda: ImageFolder(path, progress=False))
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the member"
    assert str(err).startswith(f"{path}/a/x.png: cannot read this zip member (Bad CRC-32"), str(err)


def test_a_file_larger_than_the_bound_is_not_read(tmp_path):
    """On disk: a 100 MiB file (sparse: no disk used) named like an image is refused by its size, unread."""
    root = write_dir(tmp_path / "d", {"a/0.png": png(picture(0, 0))})
    with open(root / "a" / "1.png", "wb") as f:
        f.truncate(100 << 20)
    err, peak = peak_memory(lambda: ImageFolder(root, progress=False))
    assert str(err) == (f"{root}/a/1.png: {100 << 20} bytes, more than the bound of {folder.MAX_IMAGE_BYTES} bytes "
                        "for one image file: refused before reading it")
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the file"


def test_a_truncated_zip_member_is_an_error_naming_it(tmp_path):
    data, crc = deflated_zeros(1000)
    path = raw_zip(tmp_path / "d.zip", "a/x.png", data, 2000, crc)
    with pytest.raises(ValueError, match=f"{path}/a/x.png: cannot read this zip member"):
        ImageFolder(path, progress=False)


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
