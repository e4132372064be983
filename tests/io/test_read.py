"""Loading files that are damaged, not .npz, or crafted (too large, too deep, lying headers): one-line ValueErrors."""
import math
import zipfile

import numpy as np
import pytest

from cnnumpy import io


def npy(shape=(2,), descr="<f8", body=None):
    """The bytes of a .npy member whose header says `shape` and `descr`, followed by `body` (default: zeros)."""
    import io as stdio
    f = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue() + (bytes(8 * math.prod(shape)) if body is None else body)


def zip_of(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def meta(text):
    return npy((), f"<U{max(len(text), 1)}", text.encode("utf-32-le"))


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="^checkpoint: no file at nope.npz$"):
        io.load("nope.npz")


def cut(tmp_path):
    data = io.save({"w": np.zeros(1000), "n": 1}, tmp_path / "c.npz").read_bytes()
    return (tmp_path / "bad.npz").write_bytes(data[: len(data) // 2])


def overwritten(tmp_path):
    """A bit flipped in the middle of an array: the zip's CRC-32 tells."""
    data = bytearray(io.save({"w": np.zeros(1000), "n": 1}, tmp_path / "c.npz").read_bytes())
    data[len(data) // 3] ^= 1
    return (tmp_path / "bad.npz").write_bytes(bytes(data))


def torch_file(tmp_path):
    import torch
    torch.save({"w": torch.zeros(2)}, tmp_path / "bad.npz")


def legacy_torch_file(tmp_path):
    import torch
    torch.save({"w": torch.zeros(2)}, tmp_path / "bad.npz", _use_new_zipfile_serialization=False)


def pickled(tmp_path):
    import pickle
    (tmp_path / "bad.npz").write_bytes(pickle.dumps({"w": np.zeros(2)}))


def declared(tmp_path, size, compression=zipfile.ZIP_DEFLATED):
    """A member of one float whose zip records (both of them) declare `size` bytes uncompressed."""
    import struct
    zip_of(tmp_path / "bad.npz", {"w.npy": npy((1,))}, compression)
    data = bytearray((tmp_path / "bad.npz").read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, size)
    struct.pack_into("<I", data, central + 24, size)
    (tmp_path / "bad.npz").write_bytes(bytes(data))


@pytest.mark.parametrize("make, message", [
    (cut, "is not a readable .npz file: it is damaged or cut short (File is not a zip file)"),
    (overwritten, "is not a readable .npz file: it is damaged or cut short (Bad CRC-32 for file 'w.npy')"),
    (lambda p: (p / "bad.npz").write_bytes(b""), "is not an .npz file: it is empty"),
    (lambda p: (p / "bad.npz").write_text("weights: 1 2 3\n"), "is not an .npz file: it is a text file"),
    (lambda p: np.save((p / "bad.npz").open("wb"), np.zeros(2)),
     "is not an .npz file: it is a single .npy array (np.save); an .npz is a zip of them, as np.savez writes"),
    (pickled, "is not an .npz file: it is a pickle (such as torch.save's legacy format), which cnnumpy never loads"),
    (legacy_torch_file,
     "is not an .npz file: it is a pickle (such as torch.save's legacy format), which cnnumpy never loads"),
    (torch_file, "is not a readable .npz file: it is a PyTorch file (torch.save's zip of pickles), which cnnumpy "
                 "never loads"),
    (lambda p: zip_of(p / "bad.npz", {"notes.txt": b"hello"}),
     "is not a readable .npz file: it is a zip archive but not an .npz: its member 'notes.txt' is not a .npy array"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": npy(), "__meta__.npy": npy((), "|O", b"")}),
     "is not a readable .npz file: its entry '__meta__' holds Python objects (dtype object), which only pickle "
     "reads"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": npy((1 << 40,), body=bytes(16))}),
     "is not a readable .npz file: its entry 'w' declares shape (1099511627776,) of float64 (8,796,093,022,208 "
     "bytes) but holds 16 bytes"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": b"\x93NUMPY\x01\x00" + b"\xff" * 40}),
     "is not a readable .npz file: its entry 'w' is not a .npy array"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": b"not an array"}),
     "is not a readable .npz file: its entry 'w' is not a .npy array"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": npy(), "__meta__.npy": npy((2,))}),
     "is not a readable .npz file: its entry '__meta__' is not a JSON text of at most 16,777,216 characters (got "
     "an array of shape (2,) and dtype float64)"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": npy(), "__meta__.npy": meta("{")}),
     "__meta__ is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    (lambda p: zip_of(p / "bad.npz", {"__meta__.npy": meta("[" * 100_000 + "]" * 100_000)}),
     "__meta__ is nested 100,000 deep; at most 100"),
    (lambda p: zip_of(p / "bad.npz", {"__meta__.npy": meta('{"format": 1}')}),
     "__meta__ is not what cnnumpy.save writes: at the top: expected an object with one key, '__array__', "
     "'__tuple__' or '__dict__', got keys ['format']"),
    (lambda p: zip_of(p / "bad.npz", {"__meta__.npy": meta('{"__dict__": [["w", {"__array__": "a0"}]]}')}),
     "__meta__ is not what cnnumpy.save writes: at w: refers to the entry 'a0', which the file does not have"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": npy(), "__meta__.npy": meta('[{"__array__": "w"}, {"__array__": '
                                                                            '"w"}]')}),
     "__meta__ is not what cnnumpy.save writes: at 1: refers to the entry 'w' a second time"),
    (lambda p: zip_of(p / "bad.npz", {"w.npy": npy(), "v.npy": npy(), "__meta__.npy": meta('{"__array__": "w"}')}),
     "the entry 'v' is not referred to by __meta__"),
    (lambda p: zip_of(p / "bad.npz", {"__meta__.npy": meta('{"__dict__": [["a", 1], ["a", 2]]}')}),
     "__meta__ is not what cnnumpy.save writes: at the top: the key 'a' appears twice"),
    (lambda p: zip_of(p / "bad.npz", {"__meta__.npy": meta('{"__dict__": [[true, 1]]}')}),
     "__meta__ is not what cnnumpy.save writes: at the top: expected [key, value] pairs with str or int keys, got "
     "[true, 1]"),
    (lambda p: zip_of(p / "bad.npz", {"__meta__.npy": meta('{"__tuple__": 3}')}),
     "__meta__ is not what cnnumpy.save writes: at the top: expected a list after '__tuple__', got int"),
    (lambda p: declared(p, 1 << 30),
     "is not a readable .npz file: its entries declare 1,073,741,824 bytes uncompressed, more than the "
     "67,108,864 allowed for a file of 179 bytes (the larger of 67,108,864 and 20 times the file)"),
    (lambda p: declared(p, 1000, zipfile.ZIP_STORED),
     "is not a readable .npz file: its entry 'w' is damaged (stored, but 1,000 bytes declared for 136 written)"),
], ids=["cut short", "bit flipped", "empty", "text", "npy", "pickle", "legacy torch", "torch zip", "zip of text",
        "object array", "shape larger than member", "bad npy header", "not npy", "meta not a string", "meta not json",
        "meta 100000 deep", "meta raw json", "meta missing entry", "meta entry twice", "entry not referred to",
        "meta key twice", "meta bool key", "meta tuple not list", "declares 1 GiB", "stored size lie"])
def test_bad_files_are_one_line_value_errors(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(ValueError) as info:
        io.load(tmp_path / "bad.npz")
    text = str(info.value)
    assert text.startswith(f"checkpoint: {tmp_path / 'bad.npz'}") and "\n" not in text, text
    assert message in text
    assert "allow_pickle" not in text


def test_a_small_file_cannot_ask_for_a_large_inflation(tmp_path, monkeypatch):
    """A deflated member may inflate up to ~1000 times its size: the declared sizes are checked against
    max(INFLATE_FLOOR, INFLATE_RATIO x the file's size) before any member is opened."""
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("w.npy", "w") as f:  # 128 MiB of zeros, in a file of about 130 KB
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (1 << 25,)})
            for _ in range(8):
                f.write(bytes(1 << 24))
    size = (tmp_path / "bomb.npz").stat().st_size
    assert size < 1 << 20
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("a member was opened"))
    with pytest.raises(ValueError, match=f"its entries declare 134,217,856 bytes uncompressed, more than the "
                                         f"67,108,864 allowed for a file of {size:,} bytes"):
        io.load(tmp_path / "bomb.npz")


def test_compressed_files_load(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", w=np.zeros((100, 100)))
    assert io.load(tmp_path / "c.npz")["w"].shape == (100, 100)


def test_negative_sizes_in_a_header(tmp_path):
    """(-2, -4) holds 8 values as (2, 4) does: the bytes match, the shape is still not one."""
    zip_of(tmp_path / "bad.npz", {"w.npy": npy((-2, -4), body=bytes(64))})
    with pytest.raises(ValueError, match=r"bad.npz is not a readable .npz file: its entry 'w' declares the shape "
                                         r"\(-2, -4\), with a negative size$"):
        io.load(tmp_path / "bad.npz")
