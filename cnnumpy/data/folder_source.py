"""Where an ImageFolder's images are: a folder on disk, or a folder inside a .zip read in place. Its classes are
listed once, and its files are read with a bound on their size (a zip member is never inflated beyond what it
declares), so that a crafted folder or zip cannot make us read or allocate without end.
"""
import os
import zipfile
import zlib
from contextlib import contextmanager

from .mnist import resolve_root

# What torchvision's ImageFolder takes for an image (compared lower-case).
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# The most bytes one image file may have (on disk, or as a zip member declares it): a zip of 1 MB may hold a member
# of 1 GiB of zeros; it is refused by its declared size before it is read, and no member yields more than it
# declares. Images too large by their pixels are refused by image.MAX_PIXELS, from their header, before decoding.
MAX_IMAGE_BYTES = 64 << 20


class Source:
    """Where the images are: the folder `folder` on disk, or a folder inside the zip file `zip`.

    For a zip, the folder inside it (`inner`) is found when the zip is first listed: the cache is keyed by the zip's
    size and mtime and by the path as given (`wanted`), so loading from the cache never reads the zip's directory.
    """

    def __init__(self, root, split):
        self.zip = None if root.is_dir() else next((p for p in (root, *root.parents) if p.is_file()), None)
        self.split, self.tree = split, None
        if self.zip is None:
            self.folder = root / split if split else root
            if not self.folder.is_dir():
                raise FileNotFoundError(f"root: no folder (or zip file) at {self.folder}")
        elif not zipfile.is_zipfile(self.zip):
            raise ValueError(f"root: {self.zip} is neither a folder nor a zip file")
        else:
            wanted = root.relative_to(self.zip).as_posix()
            self.wanted = "" if wanted == "." else wanted
            self.inner = None

    def __str__(self):
        if self.zip is None:
            return str(self.folder)
        inner = self.inner if self.inner is not None else self.wanted
        return f"{self.zip}/{inner}" if inner else str(self.zip)

    def identity(self):
        """What the cache key hashes: a zip's size, mtime and the folder asked for; for a folder on disk every
        image's name, size and mtime (a folder's own mtime does not change when a file inside a subfolder does)."""
        if self.zip is not None:
            st = self.zip.stat()
            return "zip", st.st_size, st.st_mtime_ns, self.wanted, self.split
        return "folder", sorted((c, f, t) for c, (files, _) in self.listing().items() for f, t in files)

    def listing(self):
        """{class: ([(image file name, token)], [subfolder names])}, read once; token: (size, mtime) or (size, CRC)."""
        if self.tree is None:
            self.tree = self.scan_folder() if self.zip is None else self.scan_zip()
            if not self.tree:
                raise FileNotFoundError(f"root: no class folders in {self}: expected {self}/<class>/<image file>")
            for cls, (files, subs) in sorted(self.tree.items()):
                if not files:
                    more = ", ..." if len(subs) > 5 else ""
                    hint = (f"; it holds the folders {', '.join(sorted(subs)[:5])}{more}: if {self} is a folder of "
                            f"splits, pass split='{cls}'" if subs else "")
                    raise FileNotFoundError(f"{self}/{cls}: no image files ({', '.join(EXTENSIONS)}) directly in "
                                            f"this class folder{hint}")
        return self.tree

    def scan_folder(self):
        tree = {}
        for d in os.scandir(self.folder):
            if d.is_dir() and visible(d.name):
                entries = list(os.scandir(d.path))
                tree[d.name] = ([(e.name, (e.stat().st_size, e.stat().st_mtime_ns)) for e in entries
                                 if e.is_file() and is_image(e.name) and visible(e.name)],
                                [e.name for e in entries if e.is_dir() and visible(e.name)])
        return tree

    def scan_zip(self):
        with zipfile.ZipFile(self.zip) as z:
            infos = {i.filename: i for i in z.infolist() if not i.is_dir() and visible(i.filename)}
        inner = self.wanted
        if not inner:
            # `zip -r x.zip x/` puts everything in one top folder: look inside it, unless it holds the images
            # itself or the split is found at the top.
            tops = children(infos, "")
            wrapped = len(tops) == 1 and not any(n.count("/") == 1 and is_image(n) for n in infos)
            if wrapped and not (self.split and any(n.startswith(self.split + "/") for n in infos)):
                inner = tops[0]
        if self.split:
            inner = f"{inner}/{self.split}" if inner else self.split
        if inner and not any(n.startswith(inner + "/") for n in infos):
            parent = inner.rpartition("/")[0]
            there = ", ".join(children(infos, parent)[:12]) or "none"
            raise FileNotFoundError(f"root: no folder {inner} inside {self.zip}; the folders in "
                                    f"{parent or 'its top level'}: {there}")
        self.inner = inner
        tree, prefix = {}, inner + "/" if inner else ""
        for n, info in infos.items():
            cls, _, rest = n[len(prefix):].partition("/") if n.startswith(prefix) else ("", "", "")
            if not rest:
                continue  # outside the folder, or a loose file next to the class folders
            files, subs = tree.setdefault(cls, ([], []))
            if "/" in rest:
                subs.append(rest.partition("/")[0])
            elif is_image(rest):
                files.append((rest, (info.file_size, info.CRC)))
        return {c: (files, sorted(set(subs))) for c, (files, subs) in tree.items()}

    @contextmanager
    def reader(self, max_bytes=MAX_IMAGE_BYTES):
        """-> read(name): the bytes of the file `name` ("class/file") of this folder.

        A file larger than max_bytes on disk, or a zip member that declares more, is refused before it is read
        (ValueError naming it); a member is inflated no further than the size it declares, and one whose bytes
        differ from what it declares (size or CRC-32) is a ValueError naming it.
        """
        def bounded(name, size, what="bytes"):
            if size > max_bytes:
                raise ValueError(f"{self}/{name}: {size} {what}, more than the bound of {max_bytes} bytes for one "
                                 "image file: refused before reading it")

        if self.zip is None:
            def read(name):
                with open(self.folder / name, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    bounded(name, size)
                    data = f.read(size + 1)  # read(n) allocates n bytes first: n is the size, not the bound
                bounded(name, len(data))  # it may have grown since
                return data
            yield read
        else:
            prefix = self.inner + "/" if self.inner else ""
            with zipfile.ZipFile(self.zip) as z:
                def read(name):
                    info = z.getinfo(prefix + name)
                    bounded(name, info.file_size, "bytes declared")
                    try:
                        # read(n), not read(): read() inflates all the compressed bytes at once, whatever the size
                        # declared, and only then cuts them to it; read(n) inflates at most n bytes.
                        with z.open(info) as f:
                            data = f.read(info.file_size)
                    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
                        raise ValueError(f"{self}/{name}: cannot read this zip member ({e}): the zip is "
                                         "corrupt") from None
                    if len(data) != info.file_size:
                        raise ValueError(f"{self}/{name}: cannot read this zip member ({len(data)} bytes, "
                                         f"{info.file_size} declared): the zip is corrupt")
                    return data
                yield read

    def cache_paths(self, key):
        """The cache file next to the data, then the one in the user's cache folder."""
        if self.zip is None:
            near, label = self.folder.parent, self.folder.name
        else:
            parts = [p for p in f"{self.wanted}/{self.split or ''}".split("/") if p and p != self.zip.stem]
            near, label = self.zip.parent, "-".join([self.zip.stem] + parts)
        name = f"{label}-{key}.npz"
        return [near / name, resolve_root(None) / "cache" / name]


def children(names, prefix):
    """The sorted first parts of the paths below the folder `prefix` ("" for the top) among the zip's file names."""
    start = prefix + "/" if prefix else ""
    return sorted({n[len(start):].partition("/")[0] for n in names if n.startswith(start) and "/" in n[len(start):]})


def visible(name):
    """Not a hidden file or folder (.DS_Store, .git) nor a macOS resource folder (__MACOSX), at any depth."""
    return not any(p.startswith(".") or p == "__MACOSX" for p in name.split("/"))


def is_image(name):
    return name.lower().endswith(EXTENSIONS)
