"""ImageFolder: images stored one folder per class, in a folder or a .zip, decoded once with Pillow, cached as .npz.

    root/cat/001.jpg, root/cat/002.png, root/dog/001.jpg  ->  classes ["cat", "dog"], targets [0, 0, 1]

As torchvision's ImageFolder: the classes are the folder names sorted, the samples class after class, each class's
images sorted by file name, image files recognised by their extension. One difference: only the images directly
inside a class folder count (torchvision also walks its subfolders), so a folder of splits, train/ and test/, is an
error that says to pass split=, never two classes "test" and "train".

root is a folder, a .zip file, or a folder inside a zip written as a path through the zip:
    ImageFolder("data/cifar10-jpeg.zip", split="train")      # a zip's single top folder is stepped into
    ImageFolder("data/cifar10-jpeg.zip/cifar10-jpeg/train")  # the same images
    ImageFolder("data/cifar10-jpeg", split="test")           # an extracted copy
The zip is read in place (members are read, never extracted, so their names cannot point outside it).

Decoding is the slow part (docs/performance.md#decoding-jpeg-images), so the decoded images are saved once as an
uncompressed .npz (plain arrays, no pickle) and read back from it afterwards:
    next to the data:  <the folder holding the zip or the image folder>/<name>-<key>.npz,
                       e.g. data/cifar10-jpeg-train-<key>.npz
    or, when that folder is read-only:  $CNNUMPY_DATA/cache/, else ~/.cache/cnnumpy/cache/
key: a hash of `size` and of the source: a zip's size and mtime with the path asked for inside it (so a cache hit
never reads the zip's directory), or a folder's listing with every image's size and mtime. A changed source gets a
new key, hence a new decoding; old cache files are not deleted.

Where the images are, and how they are listed and read with bounds, is folder_source.py's Source; this module
decodes them and keeps the cache.
"""
import hashlib
import io
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

from ..nn import check
from .folder_source import EXTENSIONS, MAX_IMAGE_BYTES, Source, children, is_image, visible
from .image import MAX_PIXELS, opened
from .loader import ArrayDataset, Transform, checked_transform, flag

# Source and its helpers are names of this module too, as they were before they moved to folder_source.py
__all__ = ["CACHE_VERSION", "EXTENSIONS", "ImageFolder", "MAX_IMAGE_BYTES", "Source", "children", "decode",
           "is_image", "load_cache", "save_cache", "tqdm", "visible", "writable", "write_atomic"]

CACHE_VERSION = 1  # bump when the cache's content changes meaning


class ImageFolder(ArrayDataset):
    """Every image of a one-folder-per-class tree, decoded to RGB, in memory.

    data: (N, 3, H, W) uint8 (NCHW; all images must share one size, or pass size=); targets: (N,) int64
    classes: the class folders' names, sorted; class_to_idx: {name: index}; files: (N,) "class/file" names
    root: a folder, a .zip, or a path through a zip to a folder inside it (see the module's docstring)
    split: a subfolder of root to read, e.g. "train", or None for root itself
    size: None (keep the images' size), or int or (H, W): resize every image to it (bilinear) after decoding
    cache: read the decoded images from, and save them to, an .npz cache (where and keyed by what: see the module)
    progress: show a tqdm progress bar on stderr while decoding (needs tqdm, part of the `train` extra)
    cache_file: the .npz read or written, or None; from_cache: whether the images came from it.
    """

    def __init__(self, root: str | os.PathLike, split: str | None = None, transform: Transform | None = None,
                 size: int | tuple[int, int] | None = None, cache: bool = True, progress: bool = True) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root: expected a path (str or Path), got {type(root).__name__}")
        if split is not None and not isinstance(split, str):
            raise TypeError(f"split: expected None or a folder name (str) such as 'train', got {split!r}")
        if split is not None and (not split or split.startswith("/") or ".." in split.split("/")):
            raise ValueError(f"split: expected None or a relative folder name such as 'train', got {split!r}")
        checked_transform(transform)  # before the decoding, not after
        self.size = None if size is None else check.pair("size", size)
        cache, progress = flag("cache", cache), flag("progress", progress)
        self.root, self.split = Path(root).expanduser(), split
        source = Source(self.root, split)
        key = hashlib.sha256(repr((CACHE_VERSION, self.size, source.identity())).encode()).hexdigest()[:16]
        paths = source.cache_paths(key) if cache else []
        self.cache_file, cached = next(((p, c) for p in paths if (c := load_cache(p)) is not None), (None, None))
        self.from_cache = cached is not None
        if cached is None:
            tree = source.listing()
            classes = sorted(tree)
            files = [f"{c}/{name}" for c in classes for name, _ in sorted(tree[c][0])]
            targets = np.repeat(np.arange(len(classes), dtype=np.int64), [len(tree[c][0]) for c in classes])
            data = decode(source, files, self.size, progress)
            if cache:
                self.cache_file = save_cache(paths, dict(data=data, targets=targets, classes=np.array(classes),
                                                         files=np.array(files)))
        else:
            data, targets, classes, files = (cached[k] for k in ("data", "targets", "classes", "files"))
            classes, files = classes.tolist(), files.tolist()
        self.classes, self.files = classes, files
        self.class_to_idx = {c: i for i, c in enumerate(classes)}
        super().__init__(data, targets, transform)

    def __repr__(self):
        _, c, h, w = self.data.shape
        where = self.root if self.split is None else f"{self.root}, split={self.split!r}"
        return f"ImageFolder({len(self)} images {c}x{h}x{w}, {len(self.classes)} classes, from {where})"


def decode(source, files, size, progress, max_pixels=MAX_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    """Decode every image to RGB -> (N, 3, H, W) uint8; ValueError naming an unreadable or odd-sized image, a file
    of more than max_bytes, or an image of more than max_pixels pixels (refused from its header, before decoding)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'cnnumpy[train]'") from None
    bar = tqdm()(total=len(files), desc=f"decoding {source}", unit="img", leave=False) if progress else None
    data = None
    try:
        with source.reader(max_bytes) as read:
            for k, name in enumerate(files):
                raw = read(name)
                try:
                    with opened(io.BytesIO(raw), f"{source}/{name}", max_pixels) as im:
                        rgb = im.convert("RGB")
                except (UnidentifiedImageError, OSError) as e:
                    raise ValueError(f"{source}/{name}: not an image Pillow can read ({e})") from None
                if size is not None and rgb.size != size[::-1]:
                    rgb = rgb.resize(size[::-1], Image.BILINEAR)
                if data is None:
                    first, shape = name, (rgb.height, rgb.width)
                    data = np.empty((len(files), 3) + shape, np.uint8)
                elif (rgb.height, rgb.width) != shape:
                    raise ValueError(f"{source}/{name}: (H, W) = {(rgb.height, rgb.width)}, but {source}/{first} "
                                     f"is {shape}: the images of an ImageFolder must share one size; pass "
                                     "size=(H, W) to resize them all")
                data[k] = np.asarray(rgb).transpose(2, 0, 1)  # HWC, as Pillow gives it, to CHW
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
    return data


def load_cache(path):
    """The arrays cached in path, or None when it is missing, unreadable or inconsistent."""
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in ("data", "targets", "classes", "files")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    x, y, n = d["data"], d["targets"], len(d["data"])
    ok = (x.dtype == np.uint8 and x.ndim == 4 and x.shape[1] == 3 and y.dtype == np.int64 and y.shape == (n,)
          and d["files"].shape == (n,) and d["classes"].ndim == 1 and y.min(initial=0) >= 0
          and y.max(initial=0) < len(d["classes"]))
    return d if ok else None


def save_cache(paths, arrays):
    """Save the arrays as an .npz in the first of paths whose folder is writable -> that path, or None."""
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if writable(path.parent):
                write_atomic(path, lambda f: np.savez(f, **arrays))
                return path
        except OSError:  # a full disk, a read-only file system: try the next place
            continue
    return None


def writable(folder):
    """Whether to write in folder: it grants write access by its permission bits, not only to us
    (root may write anywhere, but a folder marked read-only, like ../shared/data, is left alone)."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(mode & 0o222)


def write_atomic(path, write):
    """Call write(f) on a new hidden file next to path, then rename it to path: no reader sees half a file,
    and an interrupted write leaves nothing behind."""
    part = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with open(part, "xb") as f:
            write(f)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        raise ImportError("the decoding progress bar needs tqdm: pip install 'cnnumpy[train]' "
                          "(or pass progress=False)") from None
    return tqdm
