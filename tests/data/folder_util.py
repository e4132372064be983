"""Small image trees written here, as folders and as zips, for the ImageFolder tests: classes and order, and what
ImageFolder must read from them."""
import io
import zipfile

import numpy as np
from PIL import Image

CLASSES = ["cat", "dog", "emu"]


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
