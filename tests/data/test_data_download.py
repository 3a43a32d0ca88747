"""Downloads against a real HTTP server on 127.0.0.1: hashes, resume, retries, mirrors."""

from __future__ import annotations

import pytest

from runtime.data import DownloadError, data_root, download, load
from runtime.data import downloads as download_mod
from runtime.data import remote as remote_mod

BLOB = bytes(range(256)) * 400  # 102,400 bytes: several read chunks


def _get(server, tmp_path, name="f.bin", body=BLOB, **kw):
    server.files[name] = body
    kw.setdefault("backoff", 0)
    return download(f"{server.url}/{name}", tmp_path / name, kw.pop("sha", None)
                    or __import__("hashlib").sha256(body).hexdigest(), **kw)


def test_download_verifies_and_reports_progress(server, tmp_path):
    seen = []
    out = _get(server, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert out.read_bytes() == BLOB
    assert not (tmp_path / "f.bin.part").exists()
    assert seen[-1] == (len(BLOB), len(BLOB))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # Already there: no second request.
    n = len(server.requests)
    _get(server, tmp_path)
    assert len(server.requests) == n


def test_corrupt_file_is_refused_and_removed(server, tmp_path, helpers):
    server.files["bad.bin"] = BLOB[:-1] + b"\x00"
    with pytest.raises(DownloadError, match="SHA-256"):
        download(f"{server.url}/bad.bin", tmp_path / "bad.bin", helpers.sha256(BLOB), backoff=0)
    assert not (tmp_path / "bad.bin").exists()
    assert not (tmp_path / "bad.bin.part").exists()


def test_interrupted_transfer_is_resumed_with_range(server, tmp_path):
    server.cut["f.bin"] = 30_000
    out = _get(server, tmp_path, retries=2)
    assert out.read_bytes() == BLOB
    assert server.requests == [("f.bin", None), ("f.bin", "bytes=30000-")]


def test_interruption_keeps_part_then_next_call_resumes(server, tmp_path):
    server.cut["f.bin"] = 40_000
    with pytest.raises(DownloadError, match="interrupted"):
        _get(server, tmp_path, retries=0)
    assert not (tmp_path / "f.bin").exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 40_000
    out = _get(server, tmp_path)
    assert out.read_bytes() == BLOB
    assert server.requests[-1] == ("f.bin", "bytes=40000-")


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(BLOB[:5000])
    out = _get(server, tmp_path)
    assert out.read_bytes() == BLOB
    assert server.requests == [("f.bin", "bytes=5000-")]  # asked, got the whole file


def test_stale_part_is_discarded_after_mismatch(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(b"\xff" * 5000)  # bytes of some other file
    out = _get(server, tmp_path)
    assert out.read_bytes() == BLOB
    assert server.requests == [("f.bin", "bytes=5000-"), ("f.bin", None)]


def test_complete_part_is_accepted_on_416(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(BLOB)
    out = _get(server, tmp_path)
    assert out.read_bytes() == BLOB and not (tmp_path / "f.bin.part").exists()


def test_missing_file_fails_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download(f"{server.url}/nothing.bin", tmp_path / "x", "0" * 64, backoff=0)
    assert len(server.requests) == 1


def test_unreachable_server_gives_up_after_retries(tmp_path):
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    with pytest.raises(DownloadError, match="after 2 tries"):
        download("http://127.0.0.1:9/x", tmp_path / "x", "0" * 64, retries=1, backoff=0,
                 timeout=2)


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("LAYERLOOM_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "layerloom" / "data"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert str(data_root()).endswith(".local/share/layerloom/data")


@pytest.mark.parametrize("ranges", [True, False])
def test_mnist_downloads_from_a_mirror(server, tmp_path, helpers, monkeypatch, ranges):
    """Generated IDX .gz files pinned by their real hashes; the first transfer of the images
    breaks off halfway and is resumed (Range) or restarted (a server without Range)."""
    files = helpers.fake_idx_set(tmp_path / "made")
    for name, blob in files.items():
        server.files[f"mnist/{name}"] = blob
    server.ranges = ranges
    images = "mnist/train-images-idx3-ubyte.gz"
    half = len(files["train-images-idx3-ubyte.gz"]) // 2
    server.cut[images] = half
    monkeypatch.setitem(remote_mod.REMOTE, "mnist", helpers.remote_set(files))
    monkeypatch.setattr(download_mod, "BACKOFF", 0.0)
    seen = []
    splits = load("mnist", {"mirror": f"{server.url}/mnist"}, root=tmp_path / "data",
                  progress=lambda d, t: seen.append((d, t)))
    assert splits.sizes() == (40, 20)
    assert splits.info.fields["x"].shape == (1, 28, 28)
    total = sum(len(b) for b in files.values())
    assert seen[-1] == (total, total)
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(files)
    # The retry asks for the rest either way; only a Range-capable server honours it.
    assert [r for name, r in server.requests if name == images] == [None, f"bytes={half}-"]


def test_mirror_from_environment_and_corrupt_mirror(server, tmp_path, helpers, monkeypatch):
    files = helpers.fake_idx_set(tmp_path / "made")
    for name, blob in files.items():
        server.files[f"kmnist/{name}"] = blob
    monkeypatch.setitem(remote_mod.REMOTE, "kmnist", helpers.remote_set(files))
    monkeypatch.setenv("LAYERLOOM_MIRROR", server.url)
    server.files["kmnist/t10k-images-idx3-ubyte.gz"] = b"tampered"
    with pytest.raises(DownloadError, match="SHA-256"):
        load("kmnist", root=tmp_path / "data")
    folder = tmp_path / "data" / "kmnist"
    assert not (folder / "t10k-images-idx3-ubyte.gz").exists()
    assert not list(folder.glob("*.part"))
    server.files["kmnist/t10k-images-idx3-ubyte.gz"] = files["t10k-images-idx3-ubyte.gz"]
    splits = load("kmnist", root=tmp_path / "data")
    assert splits.info.class_names[0].startswith("o")


def test_no_download_when_switched_off(tmp_path):
    with pytest.raises(FileNotFoundError, match="switched off"):
        load("fashion_mnist", {"download": False}, root=tmp_path)
