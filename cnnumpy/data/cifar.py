"""CIFAR-10: 60,000 colour images 32x32 in 10 classes, read from either official release.

CIFAR-10 is by Alex Krizhevsky (https://www.cs.toronto.edu/~kriz/cifar.html). Two releases hold the same images:

    binary  cifar-10-binary.tar.gz -> cifar-10-batches-bin/  data_batch_1.bin .. data_batch_5.bin, test_batch.bin,
            batches.meta.txt (the class names, one a line). A batch is 10,000 records of 3073 bytes:
            1 label byte (0..9), then 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each 32x32 row-major.
    python  cifar-10-python.tar.gz -> cifar-10-batches-py/   data_batch_1 .. data_batch_5, test_batch, batches.meta:
            Python 2 pickles of dicts; b"data" (10000, 3072) uint8 in the same CHW order, b"labels" 10000 ints,
            b"label_names" in batches.meta.

Each row is one image in C, H, W order, so `data` is (N, 3, 32, 32), NCHW like the rest of cnnumpy, by a reshape
(torchvision transposes to (N, 32, 32, 3) for PIL instead).

The pickles are read by `load_pickle`, whose unpickler builds only NumPy arrays (and the plain lists, dicts, bytes
and numbers pickle makes without help): a file asking for any other function, os.system say, is refused before
anything runs. The python files are also checked against the md5s that torchvision lists, before unpickling.
The binary files have no published per-file md5: their size (exactly 10,000 records), their labels (0..9) and the
class names are checked, and the archive's md5 when they come out of it.

Where the files are looked for: `root` (default $CNNUMPY_DATA, else ~/.cache/cnnumpy), in root/cifar-10-batches-bin,
root/cifar-10-batches-py or root itself; else one of the two archives in root is checked and extracted (only the
files named above, by our names: a crafted member such as ../../x is never written).

The files are read, sizes and checksums checked first, by cifar_files.py; this module finds, extracts or downloads
a release and builds the data set from it.
"""
import gzip
import os
import shutil
import tarfile
import zlib

import numpy as np

from .cifar_files import (ALLOWED, NAMES_TXT_BYTES, PIXELS, PYTHON_FILES, RECORDS, Refused, SafeUnpickler, file_size,
                          labels_checked, load_pickle, names_checked, read_binary, read_names_pickle, read_names_txt,
                          read_python, read_sized)
from .download import download_file, md5
from .folder import ImageFolder, writable, write_atomic
from .loader import ArrayDataset, Transform, checked_transform, flag
from .mnist import resolve_root

# the readers of cifar_files.py are names of this module too, as they were before they moved there
__all__ = ["ALLOWED", "BATCHES", "CIFAR10", "CIFAR10_MEAN", "CIFAR10_STD", "CLASSES", "MIRRORS", "NAMES_TXT_BYTES",
           "PIXELS", "PYTHON_FILES", "RECORDS", "RELEASES", "Refused", "SafeUnpickler", "extract", "file_size",
           "find_release", "folders", "labels_checked", "load_cifar10", "load_pickle", "missing", "names_checked",
           "read_binary", "read_names_pickle", "read_names_txt", "read_python", "read_sized"]

# Per-channel mean and standard deviation of the training images scaled to [0, 1] (official release).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
BATCHES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}

# format: (archive, its md5, the folder it unpacks to, the file suffix of the batches, the class-names file)
RELEASES = {
    "binary": ("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-batches-bin", ".bin",
               "batches.meta.txt"),
    "python": ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py", "",
               "batches.meta"),
}

class CIFAR10(ArrayDataset):
    """The CIFAR-10 training (50,000) or test (10,000) split, as torchvision.datasets.CIFAR10 but NCHW.

    data: (N, 3, 32, 32) uint8; targets: (N,) int64 in 0..9; classes: the 10 names from the meta file.
    ds[i] -> (transform(image), label); ds.batch(indices) -> (transform(images), labels), used by DataLoader.
    format: "binary" or "python", the release read; folder: where its files are.
    root: a folder holding cifar-10-batches-bin/ or cifar-10-batches-py/ (or one of the archives), or such a
    folder itself (default $CNNUMPY_DATA, else ~/.cache/cnnumpy).
    download: when root holds neither a complete release nor an archive, fetch the binary archive (no pickle in
    it) from `CIFAR10.mirrors` into root, check its md5 and extract it.
    progress: show a progress bar on stderr while downloading (False: nothing on stderr).
    """

    mirrors = list(MIRRORS)

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, download: bool = False,
                 transform: Transform | None = None, progress: bool = True) -> None:
        self.train = flag("train", train)
        download, progress = flag("download", download), flag("progress", progress)
        checked_transform(transform)  # before reading (or downloading) anything
        self.root = resolve_root(root)
        self.format, self.folder = self.locate(download, progress)
        _, _, _, suffix, meta = RELEASES[self.format]
        paths = [self.folder / (name + suffix) for name in BATCHES[self.train]]
        read = read_binary if self.format == "binary" else read_python
        images, labels = zip(*(read(p) for p in paths))
        self.classes = (read_names_txt if self.format == "binary" else read_names_pickle)(self.folder / meta)
        super().__init__(np.concatenate(images), np.concatenate(labels), transform)

    def locate(self, download, progress=True):
        """(format, folder) of a release holding this split: found in root, else extracted from an archive in
        root (the one of an incomplete release first), else downloaded when `download`."""
        found = find_release(self.root)
        if found is not None and not missing(*found, self.train):
            return found
        archives = [f for f in RELEASES if (self.root / RELEASES[f][0]).is_file()]
        archives.sort(key=lambda f: found is None or f != found[0])
        if not archives and download:
            name, archive_md5 = RELEASES["binary"][:2]
            download_file(name, self.root, self.mirrors, archive_md5, archive_md5, progress=progress)
            archives = ["binary"]
        if not archives and found is None:
            raise FileNotFoundError(
                f"CIFAR10: no CIFAR-10 release in {self.root}: looked for {', '.join(map(str, folders(self.root)))} "
                f"and the archives {', '.join(r[0] for r in RELEASES.values())}. Pass root= (or set CNNUMPY_DATA "
                "to) the folder holding them, or use download=True")
        if not archives:
            raise FileNotFoundError(
                f"CIFAR10: {', '.join(missing(*found, self.train))} missing from {found[1]}; put the missing files "
                f"there, or the archive {RELEASES[found[0]][0]} in {self.root}, or use download=True")
        fmt = archives[0]
        return fmt, extract(self.root / RELEASES[fmt][0], fmt, self.root)

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"CIFAR10({split}, {len(self)} images, {self.format} release in {self.folder})"


def load_cifar10(root: str | os.PathLike | None = None, train: bool = True, download: bool = False,
                 transform: Transform | None = None, progress: bool = True) -> CIFAR10 | ImageFolder:
    """CIFAR-10 from the official release (or its archive) under root, else from the JPEG copy, else downloaded.

    root: as for CIFAR10; the JPEG copy is root/cifar10-jpeg.zip, a folder root/cifar10-jpeg, or root itself
    when it is such a zip or folder, laid out cifar10-jpeg/{train,test}/{class}/NNNN.jpg and read by ImageFolder
    (decoded once, then cached as .npz). Its pixels differ slightly from the official release (JPEG): report
    accuracy on it as "CIFAR-10 (JPEG copy)". -> a CIFAR10 or an ImageFolder, both data (N, 3, 32, 32) uint8.
    download: used only when neither is there (see CIFAR10).
    progress: show the progress bars on stderr (downloading, decoding the JPEG copy); False: nothing on stderr.
    """
    flag("train", train)
    root = resolve_root(root)
    official = find_release(root) is not None or any((root / r[0]).is_file() for r in RELEASES.values())
    jpeg = next((p for p in (root, root / "cifar10-jpeg.zip", root / "cifar10-jpeg")
                 if (p.suffix == ".zip" and p.is_file()) or (p.name == "cifar10-jpeg" and p.is_dir())), None)
    if official or jpeg is None:
        try:
            return CIFAR10(root, train, download, transform, progress)
        except FileNotFoundError as e:
            if jpeg is not None:
                raise
            raise FileNotFoundError(f"{e}; nor is the JPEG copy there ({root / 'cifar10-jpeg.zip'} or "
                                    f"{root / 'cifar10-jpeg'})") from None
    ds = ImageFolder(jpeg, split="train" if train else "test", transform=transform, progress=progress)
    if ds.classes != CLASSES or ds.data.shape[1:] != (3, 32, 32):
        raise ValueError(f"{jpeg}: expected the CIFAR-10 classes {CLASSES} with 3x32x32 images, got {ds.classes} "
                         f"with {'x'.join(map(str, ds.data.shape[1:]))}")
    return ds


def folders(root):
    """Where each release may be: root/<its folder>, or root itself when it bears that name."""
    return [root if root.name == r[2] else root / r[2] for r in RELEASES.values()]


def missing(fmt, folder, train):
    """The names of the files of split `train` (and the class names) not in folder."""
    _, _, _, suffix, meta = RELEASES[fmt]
    return [n for n in [b + suffix for b in BATCHES[train]] + [meta] if not (folder / n).is_file()]


def find_release(root):
    """(format, folder) of the first release with any of its files present, or None; binary first (no pickle)."""
    for fmt, folder in zip(RELEASES, folders(root)):
        _, _, _, suffix, meta = RELEASES[fmt]
        names = [n + suffix for n in BATCHES[True] + BATCHES[False]] + [meta]
        for place in (folder, root):
            if any((place / n).is_file() for n in names):
                return fmt, place
    return None


def extract(archive, fmt, dest):
    """Check the archive's md5, then write its release files into dest/<release folder>/ -> that folder.

    Only the members named by the release (e.g. cifar-10-batches-bin/data_batch_1.bin) are read, each must be a
    regular file, and it is written (atomically) under the name we chose, not the member's: path traversal
    (../x, /etc/x, symlinks) cannot happen. Other members (readme.html) are skipped.
    """
    _, archive_md5, folder, suffix, meta = RELEASES[fmt]
    got = md5(archive)
    if got != archive_md5:
        raise ValueError(f"{archive}: md5 {got}, expected {archive_md5}: the archive is corrupt, truncated or not "
                         "the published one; delete it and download it again (download=True)")
    wanted = {f"{folder}/{n}{suffix}": n + suffix for n in BATCHES[True] + BATCHES[False]}
    wanted[f"{folder}/{meta}"] = meta
    # Only the published archive passes the md5 above; the sizes are checked all the same, so that no member is ever
    # inflated beyond the size of the file it stands for, should the md5 list be wrong or edited.
    if not writable(dest):
        raise PermissionError(f"{dest}: not writable, cannot extract {archive.name} there; extract it elsewhere "
                              "(or copy it to a writable folder) and pass that folder as root")
    out = dest / folder
    out.mkdir(parents=True, exist_ok=True)
    done = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name not in wanted:
                    continue
                if not member.isfile():
                    raise ValueError(f"{archive}: member {member.name} is not a regular file; refusing to extract")
                size, exact = file_size(fmt, wanted[member.name])
                if member.size > size or (exact and member.size != size):
                    raise ValueError(f"{archive}: member {member.name} is {member.size} bytes, expected "
                                     f"{'' if exact else 'at most '}{size}: not the published file; refusing to "
                                     "extract it")
                # copyfileobj streams the member: memory stays flat, and tarfile reads exactly member.size bytes
                write_atomic(out / wanted[member.name], lambda f: shutil.copyfileobj(tar.extractfile(member), f))
                done.add(member.name)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{archive}: not a readable tar.gz archive ({e})") from None
    absent = sorted(set(wanted) - done)
    if absent:
        raise ValueError(f"{archive}: {', '.join(absent)} missing from the archive: not the published one")
    return out
