"""Fixtures for the data tests: a local HTTP server to download from, PNG bombs. (The real data sets come from the
fixtures of tests/conftest.py: mnist_dir and cifar10_jpeg_zip, through real_data.)

The server never reaches the internet: it listens on 127.0.0.1 (port 0: a free port) and answers from a
dict of routes, so each test decides what a "mirror" serves: good, corrupt or truncated files, or a 404.
"""
import socket
import struct
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Handler(BaseHTTPRequestHandler):
    """GET /path -> routes[path]: bytes (200); ("truncated", bytes) (announces them all, sends half, closes);
    ("slow", seconds) (answers nothing for that long); ("drip", bytes, seconds) (announces them all, then sends one
    byte every `seconds`); ("drip headers", seconds) (sends its status line and headers a byte every `seconds`,
    never ending them); else 404."""

    def do_GET(self):
        route = self.server.routes.get(self.path)
        self.server.requests.append(self.path)
        if route is None:
            self.send_error(404)
            return
        if isinstance(route, tuple) and route[0] == "slow":
            time.sleep(route[1])
            return
        if isinstance(route, tuple) and route[0] in ("drip", "drip headers"):
            self.drip(*route)
            return
        body = route[1] if isinstance(route, tuple) else route
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if isinstance(route, tuple) else body)

    def drip(self, kind, *args):
        """One byte at a time, `seconds` apart, until done or the client hangs up (each byte keeps a read alive)."""
        if kind == "drip":
            body, seconds = args
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
        else:
            seconds, = args
            body = b"HTTP/1.0 200 OK\r\n" + b"X-Slow: " + b"z" * 10_000  # a header line that never ends
        try:
            for k in range(len(body)):
                self.wfile.write(body[k:k + 1])
                self.wfile.flush()
                time.sleep(seconds)
        except OSError:  # the client gave up: what the tests expect
            pass

    def log_message(self, *args):  # keep the test output quiet
        pass


class Server:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.routes, self.httpd.requests = {}, []
        # A short poll interval: shutdown() waits for the next poll.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def routes(self):
        return self.httpd.routes

    @property
    def requests(self):
        return self.httpd.requests

    def url(self, prefix):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def dead_url():
    """A URL on a port where nothing listens: the connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of_zeros(width, height, rows=None):
    """A 1-bit grayscale PNG, all black, of width x height pixels, compressed a block of rows at a time so the
    (1 + width/8) * height bytes it unpacks to are never in memory; rows: how many rows of data to store (default
    all; fewer make a cut file whose header still declares the full size, which is all a size check reads)."""
    z, row = zlib.compressobj(9), bytes(1 + -(-width // 8))
    rows = height if rows is None else rows
    idat = [z.compress(row * min(1000, rows - k)) for k in range(0, rows, 1000)] + [z.flush()]
    ihdr = struct.pack(">2I5B", width, height, 1, 0, 0, 0, 0)  # bit depth 1, grayscale, no interlace
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"".join(idat)) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


@pytest.fixture
def user_cache(monkeypatch, tmp_path):
    """The user's cache folder inside tmp_path."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path / "user"))
    return tmp_path / "user" / "cache"


@pytest.fixture(scope="session")
def png_bomb():
    """A complete, valid 109 kB PNG of 30000x30000 pixels (900 million: 2.5 GiB as RGB), built once (0.5 s)."""
    return png_of_zeros(30000, 30000)


def peak_memory(fn):
    """Run fn() (it must raise ValueError) -> (the error, the peak bytes Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as e:
            fn()
        return e.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
