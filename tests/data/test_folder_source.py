"""Where an ImageFolder's images are (folder_source.py): the ways of naming a folder inside a zip, folders of
splits, listing errors, and files and zip members read with a bound (declared sizes, sizes on disk, CRCs)."""
import struct
import zipfile
import zlib

import pytest

from cnnumpy.data import folder_source
from cnnumpy.data.folder import ImageFolder
from tests.data.conftest import peak_memory
from tests.data.folder_util import check, picture, png, tree, write_dir, write_zip

pytestmark = pytest.mark.usefixtures("user_cache")


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


def test_a_zip_member_declaring_more_than_the_bound_is_not_read(tmp_path):
    """The zip's directory says 1 GiB for one image: refused by what it declares, before a byte is inflated."""
    data, crc = deflated_zeros(1 << 20)
    path = raw_zip(tmp_path / "d.zip", "a/x.png", data, 1 << 30, crc)
    assert path.stat().st_size < 10_000
    err, peak = peak_memory(lambda: ImageFolder(path, progress=False))
    assert str(err) == (f"{path}/a/x.png: 1073741824 bytes declared, more than the bound of "
                        f"{folder_source.MAX_IMAGE_BYTES} bytes for one image file: refused before reading it")
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
    assert str(err) == (f"{root}/a/1.png: {100 << 20} bytes, more than the bound of "
                        f"{folder_source.MAX_IMAGE_BYTES} bytes for one image file: refused before reading it")
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the file"


def test_a_truncated_zip_member_is_an_error_naming_it(tmp_path):
    data, crc = deflated_zeros(1000)
    path = raw_zip(tmp_path / "d.zip", "a/x.png", data, 2000, crc)
    with pytest.raises(ValueError, match=f"{path}/a/x.png: cannot read this zip member"):
        ImageFolder(path, progress=False)
