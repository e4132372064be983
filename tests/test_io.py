"""Saving without pickle, atomically: round trips, bad files, and a kill in the middle of a save."""
import math
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from cnnumpy import io


def test_round_trip_of_nested_structures(tmp_path):
    obj = {"model": {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "1.n": np.array(3, np.int64)},
           "optimizer": {"state": {0: {"step": 4, "buf": np.ones(2)}}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99),
                                                                                      "nesterov": False, "x": None}]},
           "name": "lenet5", "epoch": 2, "big": 2 ** 100, "ratio": np.float64(0.5)}
    back = io.load(io.save(obj, tmp_path / "c.npz"))
    np.testing.assert_array_equal(back["model"]["0.weight"], obj["model"]["0.weight"])
    assert back["model"]["0.weight"].dtype == np.float32 and back["model"]["1.n"].dtype == np.int64
    assert list(back["optimizer"]["state"]) == [0]
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert back["optimizer"]["param_groups"][0]["x"] is None and back["big"] == 2 ** 100 and back["ratio"] == 0.5
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:  # no entry needs pickle
        assert all(z[k].dtype != object for k in z.files)


def test_refuses_what_it_cannot_store_without_pickle(tmp_path):
    with pytest.raises(TypeError, match="checkpoint: cannot store a object without pickle"):
        io.save({"a": object()}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="checkpoint: cannot store a object without pickle"):
        io.save({"a": np.array([object()])[0]}, tmp_path / "c.npz")
    assert not list(tmp_path.iterdir()), "a failed save must leave nothing behind"


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


def test_save_refuses_what_load_would_refuse(tmp_path):
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="cannot store a structure nested more than 100 deep"):
        io.save(deep, tmp_path / "c.npz")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="cannot store a structure nested more than 100 deep"):
        io.save(loop, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="cannot store an array of dtype object without pickle"):
        io.save({"a": np.array([1, None], dtype=object), "n": 1}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="cannot store an array of dtype object without pickle"):
        io.save({"a": np.array([1, None], dtype=object)}, tmp_path / "c.npz")
    assert not list(tmp_path.iterdir())


CHILD = r"""
import sys, time, numpy as np
from cnnumpy import io
path = sys.argv[1]
def slow(f):
    f.write(b"PK\x03\x04 partial")   # the start of a zip, then nothing for a long time
    f.flush()
    time.sleep(60)
io.atomic_write(path, slow)
"""


def test_kill_during_save_leaves_the_previous_file_loadable(tmp_path):
    path = tmp_path / "checkpoint.npz"
    io.save({"epoch": 1, "w": np.full(3, 7.0)}, path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)])
    try:
        deadline = time.monotonic() + 30
        while not any(p.suffix == ".tmp" for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    back = io.load(path)
    assert back["epoch"] == 1 and np.array_equal(back["w"], np.full(3, 7.0))
    io.save({"epoch": 2}, path)  # a later save still works beside the orphaned temporary file
    assert io.load(path)["epoch"] == 2


def test_permissions_follow_the_umask_as_open_would(tmp_path):
    """mkstemp creates 0600 files: a checkpoint written through it could not be read by the group or others."""
    umask = os.umask(0o022)
    try:
        path = io.atomic_write(tmp_path / "c.npz", lambda f: f.write(b"data"))
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_and_load_take_torchs_arguments(tmp_path):
    """cnnumpy.save(obj, path) and cnnumpy.load(path), as torch.save and torch.load; the old order is a clear error."""
    import cnnumpy
    state = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
    path = cnnumpy.save(state, str(tmp_path / "w.npz"))
    assert path == tmp_path / "w.npz" and cnnumpy.save is io.save and cnnumpy.load is io.load
    back = cnnumpy.load(path)
    assert list(back) == ["0.weight", "0.bias"] and np.array_equal(back["0.weight"], state["0.weight"])
    with pytest.raises(TypeError, match=r"^save: expected save\(obj, path\) as torch.save takes them, got a path "
                                        r"first \(.*w.npz'\) and a dict second; swap the two arguments$"):
        cnnumpy.save(tmp_path / "w.npz", state)
    with pytest.raises(TypeError, match="^path: expected a str or os.PathLike, got int$"):
        cnnumpy.save(state, 3)
    assert cnnumpy.load(cnnumpy.save("text", tmp_path / "s.npz")) == "text"  # a str is an object too


def test_a_state_dict_is_the_npz_numpy_writes(tmp_path):
    """A dict of arrays alone is stored as np.savez stores it: np.load gives back exactly its keys."""
    import cnnumpy
    from cnnumpy import models
    state = models.lenet5().state_dict()
    with np.load(cnnumpy.save(state, tmp_path / "w.npz"), allow_pickle=False) as z:
        assert z.files == list(state)
        for k in state:
            assert np.array_equal(z[k], state[k]) and z[k].dtype == state[k].dtype, k
    back = cnnumpy.load(tmp_path / "w.npz")
    assert list(back) == list(state) and all(np.array_equal(back[k], state[k]) for k in state)
    np.savez(tmp_path / "numpys.npz", w=np.arange(3))  # and an .npz of numpy's own loads as such a dict
    assert list(cnnumpy.load(tmp_path / "numpys.npz")) == ["w"]


def test_entries_are_named_by_their_place(tmp_path):
    a, b, c, d, e, f = (np.full(2, float(i)) for i in range(6))
    obj = {"optimizer": {"state": {0: {"momentum_buffer": a}}}, "history": [{"loss": b}],
           "a/b": c, "a": {"b": d}, 0: e, "0": f, "__meta__": np.zeros(1), "x": (np.ones(1), 5)}
    path = io.save(obj, tmp_path / "c.npz")
    with np.load(path, allow_pickle=False) as z:
        assert z.files == ["optimizer/state/0/momentum_buffer", "history/0/loss", "a%2Fb", "a/b", "0", "0~2",
                           "__meta__~2", "x/0", "__meta__"]
    back = io.load(path)
    for value, again in ((a, back["optimizer"]["state"][0]["momentum_buffer"]), (b, back["history"][0]["loss"]),
                         (c, back["a/b"]), (d, back["a"]["b"]), (e, back[0]), (f, back["0"])):
        assert np.array_equal(value, again)
    assert back["x"][1] == 5 and list(back) == list(obj)


def test_keys_that_are_names_of_savez_arguments(tmp_path):
    """Entries are named by their keys now, and np.savez(file, *args, allow_pickle=True, **kwds) takes its names
    as keyword arguments: the keys "file" and "allow_pickle" must still be stored as arrays."""
    obj = {"file": np.ones(2), "allow_pickle": np.zeros(3)}
    back = io.load(io.save(obj, tmp_path / "c.npz"))
    assert list(back) == ["file", "allow_pickle"] and back["allow_pickle"].shape == (3,)
    back = io.load(io.save({**obj, "epoch": 1}, tmp_path / "c.npz"))
    assert back["file"].shape == (2,) and back["epoch"] == 1


def test_negative_sizes_in_a_header(tmp_path):
    """(-2, -4) holds 8 values as (2, 4) does: the bytes match, the shape is still not one."""
    zip_of(tmp_path / "bad.npz", {"w.npy": npy((-2, -4), body=bytes(64))})
    with pytest.raises(ValueError, match=r"bad.npz is not a readable .npz file: its entry 'w' declares the shape "
                                         r"\(-2, -4\), with a negative size$"):
        io.load(tmp_path / "bad.npz")
