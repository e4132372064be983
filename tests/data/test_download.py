"""The downloader against a local HTTP server: good, corrupt, truncated, missing and slow files, a dead port.

Nothing here reaches the internet; every test is bounded by the server being local (and one by a timeout).
"""
import gzip
import hashlib
import sys
import time

import pytest

from cnnumpy.data import download
from cnnumpy.data.download import DownloadError, download_file, verify

CONTENT = bytes(range(256)) * 40
PACKED = gzip.compress(CONTENT, mtime=0)
MD5 = hashlib.md5(CONTENT).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_file_is_verified_and_named(server, tmp_path):
    server.routes["/a/data.gz"] = PACKED
    path = download_file("data.gz", tmp_path / "new", [server.url("a/")], MD5, progress=False)
    assert path == tmp_path / "new" / "data.gz" and path.read_bytes() == PACKED
    assert leftovers(tmp_path / "new") == ["data.gz"], "a temporary file was left behind"


def test_next_mirror_after_404_and_dead_port(server, dead_url, tmp_path):
    server.routes["/b/data.gz"] = PACKED
    mirrors = [dead_url, server.url("missing"), server.url("b")]
    path = download_file("data.gz", tmp_path, mirrors, MD5, progress=False)
    assert path.read_bytes() == PACKED
    assert server.requests == ["/missing/data.gz", "/b/data.gz"]


def test_every_failure_is_named_and_nothing_is_left(server, dead_url, tmp_path):
    corrupt = bytearray(PACKED)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server.routes["/corrupt/data.gz"] = bytes(corrupt)
    server.routes["/wrong/data.gz"] = gzip.compress(b"other content")
    server.routes["/truncated/data.gz"] = ("truncated", PACKED)
    mirrors = [server.url(p) for p in ("corrupt", "wrong", "truncated", "missing")] + [dead_url]
    start = time.perf_counter()
    with pytest.raises(DownloadError) as e:
        download_file("data.gz", tmp_path, mirrors, MD5, progress=False)
    msg = str(e.value)
    assert time.perf_counter() - start < 5
    assert f"could not download data.gz into {tmp_path}; tried 5 mirror(s)" in msg
    for mirror in mirrors:
        assert mirror.rstrip("/") + "/data.gz" in msg, msg
    for reason in ("not a valid gzip file", "content md5", "connection closed after", "HTTP Error 404",
                   "refused"):
        assert reason in msg, msg
    assert isinstance(e.value, OSError)
    assert leftovers(tmp_path) == []


def test_timeout_moves_on(server, tmp_path):
    server.routes["/slow/data.gz"] = ("slow", 2.0)
    server.routes["/fast/data.gz"] = PACKED
    start = time.perf_counter()
    download_file("data.gz", tmp_path, [server.url("slow"), server.url("fast")], MD5, timeout=0.3,
                  progress=False)
    assert time.perf_counter() - start < 1.5
    assert leftovers(tmp_path) == ["data.gz"]


def test_timeout_is_reported(server, tmp_path):
    server.routes["/slow/data.gz"] = ("slow", 2.0)
    with pytest.raises(DownloadError, match="timed out"):
        download_file("data.gz", tmp_path, [server.url("slow")], MD5, timeout=0.3, progress=False)


def test_interrupted_download_leaves_nothing(server, tmp_path, monkeypatch):
    """Ctrl-C half-way: the partial file is deleted and the interrupt goes on to the caller."""
    def interrupted(url, f, *args):
        f.write(PACKED[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "copy_url", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_file("data.gz", tmp_path, [server.url("a")], MD5, progress=False)
    assert leftovers(tmp_path) == []


def test_a_dripping_server_is_stopped_at_the_deadline(server, tmp_path):
    """A byte every 50 ms: no read ever waits `timeout`, so only the deadline ends it (before: never, in effect)."""
    server.routes["/drip/data.gz"] = ("drip", PACKED, 0.05)
    server.routes["/fast/data.gz"] = PACKED
    start = time.perf_counter()
    with pytest.raises(DownloadError) as e:
        download_file("data.gz", tmp_path, [server.url("drip")], MD5, timeout=0.5, deadline=0.6, min_rate=0,
                      progress=False)
    assert 0.6 <= time.perf_counter() - start < 1.5
    assert f"{server.url('drip/data.gz')}: took longer than 0.6 s (deadline)" in str(e.value), str(e.value)
    assert leftovers(tmp_path) == []
    path = download_file("data.gz", tmp_path, [server.url("drip"), server.url("fast")], MD5, timeout=0.5,
                         deadline=0.4, min_rate=0, progress=False)
    assert path.read_bytes() == PACKED and leftovers(tmp_path) == ["data.gz"]


def test_headers_that_never_end_are_stopped_at_the_deadline(server, tmp_path):
    """The deadline covers the headers too: a status line and a header sent a byte every 50 ms, never ended."""
    server.routes["/drip/data.gz"] = ("drip headers", 0.05)
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"drip/data.gz: took longer than 0.5 s \(deadline\)"):
        download_file("data.gz", tmp_path, [server.url("drip")], MD5, timeout=0.5, deadline=0.5, min_rate=0,
                      progress=False)
    assert time.perf_counter() - start < 1.5 and leftovers(tmp_path) == []


def test_a_server_slower_than_min_rate_is_left(server, tmp_path):
    """20 bytes/s, below a minimum of 1000 bytes/s over the last 0.3 s: left after the window, not the deadline."""
    server.routes["/drip/data.gz"] = ("drip", PACKED, 0.05)
    start = time.perf_counter()
    with pytest.raises(DownloadError) as e:
        download_file("data.gz", tmp_path, [server.url("drip")], MD5, timeout=0.5, deadline=10, min_rate=1000,
                      rate_window=0.3, progress=False)
    assert time.perf_counter() - start < 1.0
    msg = str(e.value)
    assert f"{server.url('drip/data.gz')}: slower than 1000 bytes/s: " in msg and " bytes in the last 0.3 s" in msg, msg
    assert leftovers(tmp_path) == []


def test_the_rate_is_measured_over_the_window(monkeypatch):
    """Rate.check on a fake clock: nothing is judged before a whole window; then the bytes of the last window."""
    now = [0.0]
    monkeypatch.setattr(download.time, "monotonic", lambda: now[0])
    rate = download.Rate("u", min_rate=100, window=10)
    for t, got in ((1, 10), (5, 20), (9.9, 30)):  # 30 bytes in 9.9 s: too early to judge
        now[0] = t
        rate.check(got)
    now[0] = 10.0
    with pytest.raises(ValueError, match=r"u: slower than 100 bytes/s: 30 bytes in the last 10.0 s"):
        rate.check(30)
    rate = download.Rate("u", min_rate=100, window=10)
    for t in range(1, 30):  # 150 bytes/s throughout: never too slow, however long
        now[0] = t
        rate.check(150 * t)
    now[0] = 35.0  # then 5 s without a byte: 150 * (29 - 25) bytes over the last 10 s (from t = 25)
    with pytest.raises(ValueError, match=r"600 bytes in the last 10.0 s"):
        rate.check(150 * 29)


def test_verify_accepts_the_published_archive_or_the_same_content(tmp_path):
    path = tmp_path / "data.gz"
    path.write_bytes(PACKED)
    verify(path, MD5)  # the content matches
    verify(path, "0" * 32, gz_md5=hashlib.md5(PACKED).hexdigest())  # the archive itself matches
    path.write_bytes(gzip.compress(CONTENT, compresslevel=1))  # other gzip bytes, same content
    verify(path, MD5, gz_md5=hashlib.md5(PACKED).hexdigest())
    path.write_bytes(CONTENT)  # not compressed at all
    verify(path, MD5)
    with pytest.raises(ValueError, match=f"{path}: content md5 .* expected {'0' * 32}"):
        verify(path, "0" * 32)


def test_progress_bar_on_stderr(server, tmp_path, capsys):
    server.routes["/a/data.gz"] = PACKED
    download_file("data.gz", tmp_path, [server.url("a")], MD5)
    captured = capsys.readouterr()
    assert "data.gz" in captured.err and captured.out == ""


def test_missing_tqdm_is_explained(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` fail
    with pytest.raises(ImportError, match=r"tqdm: pip install 'cnnumpy\[train\]' \(or pass progress=False\)"):
        download_file("data.gz", tmp_path, ["http://127.0.0.1:9/"], MD5)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(mirrors="http://x/"), TypeError, "mirrors: expected a list of URL strings, got 'http://x/'"),
    (dict(mirrors=[1]), TypeError, r"mirrors: expected a list of URL strings, got \[1\]"),
    (dict(mirrors=[]), ValueError, "mirrors: expected at least one URL, got none"),
    (dict(timeout=0), ValueError, "timeout: expected a positive number of seconds, got 0"),
    (dict(timeout="5"), ValueError, "timeout: expected a positive number of seconds, got '5'"),
    (dict(deadline=0), ValueError, "deadline: expected a positive number of seconds, got 0"),
    (dict(rate_window=-1), ValueError, "rate_window: expected a positive number of seconds, got -1"),
    (dict(min_rate=-1), ValueError, "min_rate: expected a number of bytes per second >= 0, got -1"),
    (dict(min_rate=None), ValueError, "min_rate: .* got None"),
])
def test_argument_errors(tmp_path, kwargs, error, message):
    args = dict(filename="data.gz", folder=tmp_path, mirrors=["http://127.0.0.1:9/"], md5sum=MD5,
                progress=False) | kwargs
    with pytest.raises(error, match=message):
        download_file(**args)
    assert leftovers(tmp_path) == []
