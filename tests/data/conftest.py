"""Fixtures for the data tests: a local HTTP server to download from. (The real data sets come from the
real_data fixture of tests/conftest.py.)

The server never reaches the internet: it listens on 127.0.0.1 (port 0: a free port) and answers from a
dict of routes, so each test decides what a "mirror" serves: good, corrupt or truncated files, or a 404.
"""
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Handler(BaseHTTPRequestHandler):
    """GET /path -> routes[path]: bytes (200); ("truncated", bytes) (announces them all, sends half, closes);
    ("slow", seconds) (answers nothing for that long); else 404."""

    def do_GET(self):
        route = self.server.routes.get(self.path)
        self.server.requests.append(self.path)
        if route is None:
            self.send_error(404)
            return
        if isinstance(route, tuple) and route[0] == "slow":
            time.sleep(route[1])
            return
        body = route[1] if isinstance(route, tuple) else route
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if isinstance(route, tuple) else body)

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
