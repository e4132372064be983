"""Fetch a file from a list of mirrors; it gets its real name only once its checksum matches.

Each attempt writes to a hidden `.NAME.*.part` file in the target folder (the same file system, so the
final `os.replace` is atomic) and deletes it on any failure, Ctrl-C included: an interrupted, truncated or
corrupt download never leaves a file that looks valid. A failed mirror moves on to the next one.

Three clocks bound an attempt. `timeout` is how long one read may wait for the next bytes; but a server that
sends a byte every half second never lets a read wait that long, so it alone would let a download last for ever.
`deadline` bounds the whole attempt (connection, headers and body): when it passes, the connection is shut down,
even in the middle of a read. `min_rate` ends an attempt that brings fewer bytes per second than that over the
last `rate_window` seconds, long before the deadline.
"""
import collections
import gzip
import hashlib
import http.client
import numbers
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror gave the file with the expected checksum (offline, HTTP error, truncated or corrupt)."""


def md5(path: str | os.PathLike, gunzip: bool = False) -> str:
    """md5 hex digest of the file, or of what it unzips to; read in chunks so memory stays flat."""
    h = hashlib.md5()
    with (gzip.open if gunzip else open)(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def is_gzip(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def verify(path: str | os.PathLike, md5sum: str, gz_md5: str | None = None, name: object = None) -> None:
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


class Deadline:
    """Shuts the connection of one attempt down when `seconds` have passed since start(), even mid-read.

    A shut-down socket makes the read that waits on it return or fail at once; `expired` then says why.
    The timer is a thread because the main one is blocked in that read.
    """

    def __init__(self, seconds):
        self.seconds, self.expired, self.sock = seconds, False, None
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self.expire)
        self.timer.daemon = True

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()

    def watch(self, sock):
        """Called by the connection once it is made: the socket to shut down when time is up."""
        with self.lock:
            self.sock = sock
            if self.expired:
                shut(sock)

    def expire(self):
        with self.lock:
            self.expired = True
            if self.sock is not None:
                shut(self.sock)


def shut(sock):
    """Shut the socket down for reading and writing (socket.socket's method: an SSL socket's own would first drop its
    SSL state under the feet of the thread reading it)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def watched(base):
    """A subclass of the connection class `base` that hands its socket to a Deadline as soon as it is connected."""
    class Watched(base):
        def __init__(self, *args, deadline, **kwargs):
            super().__init__(*args, **kwargs)
            self.deadline = deadline

        def connect(self):
            super().connect()
            self.deadline.watch(self.sock)
    return Watched


WatchedHTTP = watched(http.client.HTTPConnection)
HTTPS = hasattr(http.client, "HTTPSConnection")  # False only for a Python built without ssl


class HTTPHandler(urllib.request.HTTPHandler):
    """urllib's handler for http://, through a connection watched by `deadline`."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(WatchedHTTP, req, deadline=self.deadline)


if HTTPS:
    WatchedHTTPS = watched(http.client.HTTPSConnection)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        """urllib's handler for https://, through a connection watched by `deadline` (default SSL context)."""

        def __init__(self, deadline):
            super().__init__()
            self.deadline = deadline

        def https_open(self, req):
            return self.do_open(WatchedHTTPS, req, deadline=self.deadline)


class Rate:
    """The bytes received over the last `window` seconds: too few (below min_rate bytes/s) is an error.

    marks: (time, bytes so far) after each read; the oldest kept is the last one at least `window` seconds old,
    so the rate is measured over at least the window, and only once a whole window has passed.
    """

    def __init__(self, url, min_rate, window):
        self.url, self.min_rate, self.window = url, min_rate, window
        self.marks = collections.deque([(time.monotonic(), 0)])

    def check(self, got):
        now = time.monotonic()
        self.marks.append((now, got))
        while len(self.marks) > 1 and now - self.marks[1][0] >= self.window:
            self.marks.popleft()
        t0, got0 = self.marks[0]
        if now - t0 >= self.window and got - got0 < self.min_rate * (now - t0):
            raise ValueError(f"{self.url}: slower than {self.min_rate} bytes/s: {got - got0} bytes in the last "
                             f"{now - t0:.1f} s")


def copy_url(url, f, timeout, bar=None, deadline=3600.0, min_rate=1024, rate_window=60.0):
    """Stream url into the open file f. ValueError for a body shorter than its Content-Length, an attempt longer
    than `deadline` seconds, or fewer than min_rate bytes/s over the last rate_window seconds (see the module)."""
    with Deadline(deadline) as clock:
        try:
            handlers = [HTTPHandler(clock)] + ([HTTPSHandler(clock)] if HTTPS else [])
            opener = urllib.request.build_opener(*handlers)
            with opener.open(url, timeout=timeout) as r:
                length = r.headers.get("Content-Length")
                total = int(length) if length is not None else None
                if bar is not None:
                    bar.reset(total=total)
                got, rate = 0, Rate(url, min_rate, rate_window)
                # read1: what one receive brings (up to CHUNK), so the rate is checked however slowly bytes come
                while block := r.read1(CHUNK):
                    f.write(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block))
                    rate.check(got)
        except (OSError, ValueError, http.client.HTTPException):
            if clock.expired:  # the shut-down socket made the read fail: say why it was shut down
                raise ValueError(f"{url}: took longer than {deadline} s (deadline)") from None
            raise
        if clock.expired and got != total:  # the shut-down socket ended the body early
            raise ValueError(f"{url}: took longer than {deadline} s (deadline)")
    if total is not None and got != total:
        raise ValueError(f"{url}: connection closed after {got} of {total} bytes")


def reason(e):
    """A one-line reason: 'HTTP Error 404: Not Found', '[Errno 111] Connection refused', 'timed out'."""
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return str(e.reason)
    return str(e) or type(e).__name__


def download_file(filename: str, folder: str | os.PathLike, mirrors: Sequence[str], md5sum: str,
                  gz_md5: str | None = None, timeout: float = 30, progress: bool = True, deadline: float = 3600.0,
                  min_rate: float = 1024, rate_window: float = 60.0) -> Path:
    """Download `filename` into `folder` from the first mirror that serves it intact -> its Path.

    mirrors: base URLs, tried in order; the file's URL is mirror + "/" + filename.
    md5sum: md5 of the content (unzipped if gzip); gz_md5: md5 of the published archive, or None.
    timeout: seconds one read (or the connection) may wait for the next bytes before trying the next mirror.
    deadline: seconds one mirror's attempt may take in all, connection and headers included (1 hour: CIFAR-10's
      163 MB at 50 kB/s); min_rate, rate_window: an attempt bringing fewer than min_rate bytes/s over the last
      rate_window seconds moves on to the next mirror (0: no minimum).
    progress: show a tqdm progress bar on stderr (needs tqdm, part of the `train` extra).
    Raises DownloadError (an OSError) naming the file and every mirror tried, with its reason.
    """
    if not isinstance(mirrors, (list, tuple)) or not all(isinstance(m, str) for m in mirrors):
        raise TypeError(f"mirrors: expected a list of URL strings, got {mirrors!r}")
    if not mirrors:
        raise ValueError("mirrors: expected at least one URL, got none")
    for name, value in (("timeout", timeout), ("deadline", deadline), ("rate_window", rate_window)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name}: expected a positive number of seconds, got {value!r}")
    if isinstance(min_rate, bool) or not isinstance(min_rate, numbers.Real) or not min_rate >= 0:
        raise ValueError(f"min_rate: expected a number of bytes per second >= 0, got {min_rate!r}")
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
                copy_url(url, f, timeout, bar, deadline, min_rate, rate_window)
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
