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
    def interrupted(url, f, timeout, bar=None):
        f.write(PACKED[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "copy_url", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_file("data.gz", tmp_path, [server.url("a")], MD5, progress=False)
    assert leftovers(tmp_path) == []


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
])
def test_argument_errors(tmp_path, kwargs, error, message):
    args = dict(filename="data.gz", folder=tmp_path, mirrors=["http://127.0.0.1:9/"], md5sum=MD5,
                progress=False) | kwargs
    with pytest.raises(error, match=message):
        download_file(**args)
    assert leftovers(tmp_path) == []
