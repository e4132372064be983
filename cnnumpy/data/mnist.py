"""MNIST: 70,000 handwritten digits, 28x28 grayscale, read from the four published IDX files.

MNIST is by Yann LeCun, Corinna Cortes and Christopher Burges. Every file is checked before use: its IDX
structure, its shape, and the md5 of its uncompressed content (so .gz and raw files both pass, and so does
a re-compressed copy), so a truncated or corrupt file is an error naming it, never silently used.

Where the files are looked for: `root`, else $CNNUMPY_DATA, else ~/.cache/cnnumpy; in that folder
itself or in its `mnist/` subfolder. A small sample (600 training and 100 test images per class) ships
inside the package: `MNIST.sample(train)`; `load_mnist` falls back to it when the full set is missing.
"""
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from . import idx
from .download import DownloadError, download_file
from .loader import ArrayDataset, Transform, checked_transform, flag

# Pixel mean and standard deviation of the training images scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")

# name: (dtype, shape, md5 of the uncompressed file, md5 of the published .gz as torchvision lists it)
FILES = {
    "train-images-idx3-ubyte": ("uint8", (60000, 28, 28), "6bbc9ace898e44ae57da46a324031adb",
                                "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte": ("uint8", (60000,), "a25bea736e30d166cdddb491f175f624",
                                "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte": ("uint8", (10000, 28, 28), "2646ac647ad5339dbf082846283269ea",
                               "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte": ("uint8", (10000,), "27ae3e4e09519cfbb04c329615203637",
                               "ec29112dd5afa0611ce80d1b7f02629c"),
}
SPLITS = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

# The embedded sample, written by scripts/make_mnist_sample.py; "indices" are the images' places in the full set.
SAMPLE_DIR = Path(__file__).parent / "mnist_sample"
SAMPLE_FILES = {
    "train-images-idx3-ubyte": ("uint8", (6000, 28, 28), "3c85692503e575b93289adf21b50e6b3", None),
    "train-labels-idx1-ubyte": ("uint8", (6000,), "9d6cf39e281151661175ce6cba38ebfa", None),
    "train-indices-idx1-int": ("int32", (6000,), "895354fd83a7d10044734781c6f6eea9", None),
    "t10k-images-idx3-ubyte": ("uint8", (1000, 28, 28), "378ada602e4488f4f63399815d1dd82d", None),
    "t10k-labels-idx1-ubyte": ("uint8", (1000,), "ea74d8849001d1f3513149e2e7af1246", None),
    "t10k-indices-idx1-int": ("int32", (1000,), "b3675eaeb26594fdb94d7d724f590dc3", None),
}
SAMPLE_INDICES = {True: "train-indices-idx1-int", False: "t10k-indices-idx1-int"}

log = logging.getLogger(__name__)


class MNIST(ArrayDataset):
    """The MNIST training (60,000) or test (10,000) split, as torchvision.datasets.MNIST.

    data: (N, 28, 28) uint8; targets: (N,) int64 in 0..9; classes: ["0", ..., "9"]
    ds[i] -> (transform(image), label); ds.batch(indices) -> (transform(images), labels), used by DataLoader.
    indices: (N,) the images' places in the full split (0..N-1, except for the sample).
    root: the folder holding the files, or one with a `mnist/` subfolder holding them (default
    $CNNUMPY_DATA, else ~/.cache/cnnumpy). download: fetch the missing files from `MNIST.mirrors`
    into the folder already holding MNIST files, else into root/mnist.
    progress: show a progress bar on stderr while downloading (False: nothing on stderr).
    """

    classes = [str(d) for d in range(10)]
    mirrors = list(MIRRORS)

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, download: bool = False,
                 transform: Transform | None = None, progress: bool = True) -> None:
        self.train = flag("train", train)
        download, progress = flag("download", download), flag("progress", progress)
        checked_transform(transform)  # now, not after reading 47 MB
        self.root = resolve_root(root)
        self.is_sample = False
        names = SPLITS[self.train]
        paths = {n: find(n, candidates(self.root)) for n in names}
        missing = [n for n, p in paths.items() if p is None]
        if missing and not download:
            looked = " or ".join(str(f) for f in candidates(self.root))
            raise FileNotFoundError(
                f"MNIST: {', '.join(n + '[.gz]' for n in missing)} not found in {looked}. Pass root= (or set "
                "CNNUMPY_DATA to) a folder holding the MNIST files, or use download=True")
        for n in missing:
            _, _, md5sum, gz_md5 = FILES[n]
            paths[n] = download_file(n + ".gz", files_folder(self.root), self.mirrors, md5sum, gz_md5,
                                     progress=progress)
        self.folder = paths[names[0]].parent
        images, labels = (read_checked(paths[n], FILES[n]) for n in names)
        super().__init__(images, labels.astype(np.int64), transform)
        self.indices = np.arange(len(images))

    @classmethod
    def sample(cls, train: bool = True, transform: Transform | None = None) -> "MNIST":
        """The embedded sample: 600 (train) or 100 (test) images per class, evenly spaced in file order."""
        train = flag("train", train)
        names = SPLITS[train] + (SAMPLE_INDICES[train],)
        images, labels, indices = (read_checked(SAMPLE_DIR / f"{n}.gz", SAMPLE_FILES[n]) for n in names)
        ds = cls.__new__(cls)  # the files are known and checked: skip the search of __init__
        ArrayDataset.__init__(ds, images, labels.astype(np.int64), transform)
        ds.root = ds.folder = SAMPLE_DIR
        ds.train, ds.is_sample, ds.indices = train, True, indices.astype(np.int64)
        return ds

    def __repr__(self):
        split = "train" if self.train else "test"
        kind = "sample" if self.is_sample else "full set"
        return f"MNIST({split}, {len(self)} images, {kind} in {self.folder})"


def load_mnist(root: str | os.PathLike | None = None, train: bool = True, download: bool = False,
               transform: Transform | None = None, progress: bool = True) -> MNIST:
    """The full MNIST split if it is found (or downloaded), else the embedded sample.

    The fallback is announced in one warning of the logger "cnnumpy.data.mnist", saying where the files were looked
    for and how to point at them: a warning, because the results of a sample ten times smaller are not those of
    MNIST, and because without any logging configured Python prints warnings (not infos) on stderr, as before.
    A file that is present but corrupt is still an error: only absence falls back.
    """
    try:
        return MNIST(root, train, download, transform, progress)
    except (FileNotFoundError, DownloadError) as e:
        ds = MNIST.sample(train, transform)
        looked = " or ".join(str(f) for f in candidates(resolve_root(root)))
        why = "could not be downloaded into" if isinstance(e, DownloadError) else "was not found in"
        log.warning("the full MNIST %s %s; using the embedded sample (%d images). For the full set, pass root= or "
                    "set CNNUMPY_DATA to a folder holding the MNIST files, or use download=True.", why, looked, len(ds))
        return ds


def resolve_root(root: str | os.PathLike | None) -> Path:
    """root, else $CNNUMPY_DATA, else ~/.cache/cnnumpy -> Path."""
    if root is None:
        env = os.environ.get("CNNUMPY_DATA")
        return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnumpy"
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path (str or Path) or None, got {type(root).__name__}")
    return Path(root).expanduser()


def candidates(root):
    """The folders that may hold the files: root itself, and root/mnist."""
    return [root, root / "mnist"]


def files_folder(root):
    """The first candidate folder holding any MNIST file, else where downloads go: root/mnist
    (root itself when it is already named mnist)."""
    for folder in candidates(root):
        if any(find(n, [folder]) for n in FILES):
            return folder
    return root if root.name == "mnist" else root / "mnist"


def find(name, folders):
    """The path of name.gz or name in the first folder holding one, else None."""
    for folder in folders:
        for path in (folder / f"{name}.gz", folder / name):
            if path.is_file():
                return path
    return None


def read_checked(path, spec):
    """Read an IDX file and check its dtype, shape and content md5 -> ndarray; ValueError naming the file."""
    dtype, shape, md5sum, _ = spec
    buf = idx.read_bytes(path)
    x = idx.parse(buf, path)
    if x.dtype != dtype or x.shape != shape:
        raise ValueError(f"{path}: expected {dtype} of shape {shape}, got {x.dtype} of shape {x.shape}: "
                         "not the file its name says")
    got = hashlib.md5(buf).hexdigest()
    if got != md5sum:
        raise ValueError(f"{path}: md5 of the uncompressed content is {got}, expected {md5sum}: the file is "
                         "corrupt or not the published one; delete it and download it again (download=True)")
    return x
