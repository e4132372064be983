"""Files that are not checkpoints, or are damaged: every command that reads one ends with one line naming the file
and what is wrong, exit code 2, and no traceback (the checks of cnnumpy.io's reading, through the commands)."""
import json
import pickle
import zipfile

import numpy as np
import pytest

import cnnumpy
from cnnumpy import models
from tests.checkpoint.util import assert_one_line_errors

pytestmark = pytest.mark.usefixtures("no_full_mnist")


def members(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def rezip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def npy_header(descr, shape):
    import io as stdio
    f = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue()


def meta_npy(text):
    return npy_header(f"<U{len(text)}", ()) + text.encode("utf-32-le")


def object_weight(path, original):
    m = members(original)
    m["0.weight.npy"] = npy_header("|O", (6, 1, 5, 5)) + pickle.dumps(np.zeros((6, 1, 5, 5), object))
    rezip(path, m)


def missing_entry(path, original):
    m = members(original)
    del m["0.weight.npy"]
    rezip(path, m)


def deep_meta(path, original):
    m = members(original)
    m["__meta__.npy"] = meta_npy("[" * 100_000 + "]" * 100_000)
    rezip(path, m)


def raw_meta(path, original):
    """The report of issue #15: a JSON document of our own instead of save's encoding."""
    np.savez(path, __meta__=np.array(json.dumps({"format": 1})))


def bomb(path, original):
    """A deflated member of 256 MiB of zeros in a file of a few hundred KB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("0.weight.npy", "w") as f:
            f.write(npy_header("<f4", (1 << 26,)))
            for _ in range(16):
                f.write(bytes(1 << 24))


def torch_file(path, original):
    import torch
    torch.save({"0.weight": torch.zeros(6, 1, 5, 5)}, path)


def cut(path, original):
    data = original.read_bytes()
    path.write_bytes(data[:len(data) // 2])


FILES = [
    ("object array", object_weight, "its entry '0.weight' holds Python objects (dtype object), which only pickle "
                                    "reads"),
    ("missing entry", missing_entry,
     "__meta__ is not what cnnumpy.save writes: at model/0.weight: refers to the entry '0.weight', which the file "
     "does not have"),
    ("meta 100000 deep", deep_meta, "__meta__ is nested 100,000 deep; at most 100"),
    ("issue 15", raw_meta, "__meta__ is not what cnnumpy.save writes: at the top: expected an object with one key"),
    ("bomb", bomb, "its entries declare 268,435,584 bytes uncompressed, more than the 67,108,864 allowed"),
    ("pickle", lambda p, o: p.write_bytes(pickle.dumps({"0.weight": np.zeros(3)})),
     "is not an .npz file: it is a pickle (such as torch.save's legacy format), which cnnumpy never loads"),
    ("torch", torch_file, "it is a PyTorch file (torch.save's zip of pickles), which cnnumpy never loads"),
    ("text", lambda p, o: p.write_text("0.weight: [0.1, 0.2]\n"), "is not an .npz file: it is a text file"),
    ("empty", lambda p, o: p.write_bytes(b""), "is not an .npz file: it is empty"),
    ("cut short", cut, "is not a readable .npz file: it is damaged or cut short"),
    ("state_dict alone", lambda p, o: cnnumpy.save(models.lenet5().state_dict(), p),
     "has no '__meta__' entry: it is an .npz of arrays alone"),
]


@pytest.mark.parametrize("make, message", [f[1:] for f in FILES], ids=[f[0] for f in FILES])
def test_tampered_files(genuine, image, tmp_path, capsys, make, message):
    path = tmp_path / "checkpoint.npz"
    make(path, genuine["lenet5"][0])
    assert_one_line_errors(path, message, image, capsys)
