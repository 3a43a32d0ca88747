"""Shared helpers for the dataset tests: a real HTTP file server on 127.0.0.1 and small
generated stand-ins for the official MNIST-style files."""

from __future__ import annotations

import gzip
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from runtime.data.idx import write_idx
from runtime.data.remote import RemoteFile, RemoteSet

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours Range only when ``server.ranges`` is true, and sends
    just ``server.cut[name]`` bytes of a file once (then drops the connection) when asked."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        srv = self.server
        name = self.path.lstrip("/")
        srv.requests.append((name, self.headers.get("Range")))
        body = srv.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and srv.ranges:
            start = int(wanted.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = srv.cut.pop(name, None)
        self.wfile.write(payload if cut is None else payload[:cut])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


class FileServer:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.files, self.httpd.cut, self.httpd.requests = {}, {}, []
        self.httpd.ranges = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    files = property(lambda self: self.httpd.files)
    cut = property(lambda self: self.httpd.cut)
    requests = property(lambda self: self.httpd.requests)

    @property
    def ranges(self) -> bool:
        return self.httpd.ranges

    @ranges.setter
    def ranges(self, value: bool) -> None:
        self.httpd.ranges = value

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    srv = FileServer()
    yield srv
    srv.close()


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def fake_idx_set(folder, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, bytes]:
    """Small MNIST-shaped IDX .gz files (every class present) written to ``folder``."""
    rng = np.random.default_rng(seed)
    arrays = (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        (np.arange(n_test) % 10).astype(np.uint8),
    )
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, arr in zip(IDX_NAMES, arrays, strict=True):
        write_idx(folder / name, arr)
        out[name] = (folder / name).read_bytes()
    return out


def remote_set(files: dict[str, bytes]) -> RemoteSet:
    """A RemoteSet pinning these exact bytes (sizes and real SHA-256)."""
    return RemoteSet("http://unused.invalid/",
                     tuple(RemoteFile(n, len(b), sha256(b)) for n, b in files.items()))


def gz(blob: bytes) -> bytes:
    return gzip.compress(blob, mtime=0)


class Helpers:
    """The helpers above, handed to tests as a fixture (test modules do not import conftest)."""

    IDX_NAMES = IDX_NAMES
    sha256 = staticmethod(sha256)
    fake_idx_set = staticmethod(fake_idx_set)
    remote_set = staticmethod(remote_set)
    gz = staticmethod(gz)


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers
