"""Fetch a file from a list of mirrors; it gets its real name only once its checksum matches.

Each attempt writes to a hidden `.NAME.*.part` file in the target folder (the same file system, so the
final `os.replace` is atomic) and deletes it on any failure, Ctrl-C included: an interrupted, truncated or
corrupt download never leaves a file that looks valid. A failed mirror moves on to the next one.
"""
import gzip
import hashlib
import http.client
import numbers
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror gave the file with the expected checksum (offline, HTTP error, truncated or corrupt)."""


def md5(path, gunzip=False):
    """md5 hex digest of the file, or of what it unzips to; read in chunks so memory stays flat."""
    h = hashlib.md5()
    with (gzip.open if gunzip else open)(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def is_gzip(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def verify(path, md5sum, gz_md5=None, name=None):
    """Raise ValueError naming the file unless its content has md5 `md5sum`.

    The content is the file itself, or what it unzips to when it is gzip, so a re-compressed copy is as
    good as the published archive. `gz_md5`, the published archive's own md5, is a shortcut checked first.
    """
    name = name or path
    if gz_md5 is not None and md5(path) == gz_md5:
        return
    try:
        got = md5(path, gunzip=is_gzip(path))
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{name}: not a valid gzip file ({e}); it is truncated or corrupt") from None
    if got != md5sum:
        raise ValueError(f"{name}: content md5 {got}, expected {md5sum}: the file is corrupt, truncated "
                         "or not the expected one")


def copy_url(url, f, timeout, bar=None):
    """Stream url into the open file f; a body shorter than its Content-Length raises ValueError."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        length = r.headers.get("Content-Length")
        total = int(length) if length is not None else None
        if bar is not None:
            bar.reset(total=total)
        got = 0
        while block := r.read(CHUNK):
            f.write(block)
            got += len(block)
            if bar is not None:
                bar.update(len(block))
    if total is not None and got != total:
        raise ValueError(f"{url}: connection closed after {got} of {total} bytes")


def reason(e):
    """A one-line reason: 'HTTP Error 404: Not Found', '[Errno 111] Connection refused', 'timed out'."""
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return str(e.reason)
    return str(e) or type(e).__name__


def download_file(filename, folder, mirrors, md5sum, gz_md5=None, timeout=30, progress=True):
    """Download `filename` into `folder` from the first mirror that serves it intact -> its Path.

    mirrors: base URLs, tried in order; the file's URL is mirror + "/" + filename.
    md5sum: md5 of the content (unzipped if gzip); gz_md5: md5 of the published archive, or None.
    timeout: seconds to wait on the connection before trying the next mirror.
    progress: show a tqdm progress bar on stderr (needs tqdm, part of the `train` extra).
    Raises DownloadError (an OSError) naming the file and every mirror tried, with its reason.
    """
    if not isinstance(mirrors, (list, tuple)) or not all(isinstance(m, str) for m in mirrors):
        raise TypeError(f"mirrors: expected a list of URL strings, got {mirrors!r}")
    if not mirrors:
        raise ValueError("mirrors: expected at least one URL, got none")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    tqdm = _tqdm() if progress else None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        fd, part = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        bar = tqdm(desc=filename, unit="B", unit_scale=True, unit_divisor=1024, leave=False) if tqdm else None
        try:
            with os.fdopen(fd, "wb") as f:
                copy_url(url, f, timeout, bar)
            verify(part, md5sum, gz_md5, name=url)
            os.replace(part, folder / filename)
            return folder / filename
        except ValueError as e:
            failures.append(str(e))
        except (OSError, http.client.HTTPException) as e:
            failures.append(f"{url}: {reason(e)}")
        finally:
            if bar is not None:
                bar.close()
            Path(part).unlink(missing_ok=True)
    tried = "\n  ".join(failures)
    raise DownloadError(f"could not download {filename} into {folder}; tried {len(mirrors)} mirror(s):\n  {tried}\n"
                        "Check the network connection, or put the file in that folder by hand.")


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        raise ImportError("the download progress bar needs tqdm: pip install 'cnnumpy[train]' "
                          "(or pass progress=False)") from None
    return tqdm
