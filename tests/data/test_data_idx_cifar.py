"""The IDX reader and the CIFAR-10 batch reader on generated files."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from runtime.data import CifarError, IdxError, load, read_idx, write_idx
from runtime.data import remote as remote_mod
from runtime.data.cifar import extract_cifar10, read_batch, safe_loads


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    arr = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == "u1":
        arr = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = write_idx(tmp_path / f"a.idx{suffix}", arr)
    out = read_idx(path)
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def _raw(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes((0, 0, code, len(dims))) + struct.pack(f">{len(dims)}I", *dims) + payload


@pytest.mark.parametrize(("blob", "message"), [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file"),
    (_raw(0x07, (2,), b"ab"), "unknown element type 0x07"),
    (bytes((0, 0, 8, 0)), "zero dimensions"),
    (bytes((0, 0, 8, 3)) + b"\x00" * 5, "truncated header"),
    (_raw(0x08, (10, 28, 28), b"\x00" * 7000), "truncated: a 10×28×28 array of uint8 needs 7840"),
    (_raw(0x08, (4,), b"\x00" * 6), "2 unexpected bytes"),
])
def test_idx_rejects_malformed_files(tmp_path, blob, message):
    (tmp_path / "bad").write_bytes(blob)
    with pytest.raises(IdxError, match=message):
        read_idx(tmp_path / "bad")


def test_idx_rejects_truncated_gzip(tmp_path):
    blob = gzip.compress(_raw(0x08, (100,), bytes(100)))
    (tmp_path / "t.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(IdxError, match="gzip stream is truncated"):
        read_idx(tmp_path / "t.gz")


def test_mnist_from_local_raw_files(tmp_path, helpers):
    folder = tmp_path / "fashion_mnist"
    files = helpers.fake_idx_set(folder, 30, 10)
    # Users often keep the files unpacked: the raw name must work as well as .gz.
    name = "train-images-idx3-ubyte.gz"
    (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress(files[name]))
    (folder / name).unlink()
    splits = load("fashion_mnist", {"download": False, "train_limit": 20}, root=tmp_path)
    assert splits.sizes() == (20, 10)
    assert np.bincount(splits.train["y"].numpy()).tolist() == [2] * 10  # stratified subset
    assert splits.info.class_names[-1] == "Ankle boot"
    assert splits.train["x"].dtype.is_floating_point
    assert abs(float(splits.train["x"].mean())) < 1e-4  # normalised with training stats


def _cifar_batch(n: int, seed: int, protocol: int = 2) -> bytes:
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"training batch", b"labels": [int(i % 10) for i in range(n)],
         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [b"img%d.png" % i for i in range(n)]}
    return pickle.dumps(d, protocol=protocol)


def _cifar_folder(folder, n: int = 20):
    folder.mkdir(parents=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(_cifar_batch(n, i))
    (folder / "test_batch").write_bytes(_cifar_batch(n, 9))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_batch_reads(tmp_path, protocol):
    (tmp_path / "b").write_bytes(_cifar_batch(12, 0, protocol))
    x, y = read_batch(tmp_path / "b")
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.uint8
    assert y.tolist() == [i % 10 for i in range(12)]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned",))


@pytest.mark.parametrize("payload", [
    {b"data": _Evil()},
    {b"data": np.array([1, "a"], dtype=object)},
    {b"data": io.BytesIO(b"x")},
])
def test_cifar_refuses_non_allowed_classes(tmp_path, payload):
    (tmp_path / "evil").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CifarError, match="refusing|not allowed"):
        read_batch(tmp_path / "evil")


def test_cifar_rejects_wrong_contents(tmp_path):
    (tmp_path / "a").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(CifarError, match="not a CIFAR batch dict"):
        read_batch(tmp_path / "a")
    (tmp_path / "b").write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8),
                                               "labels": [0, 1]}))
    with pytest.raises(CifarError, match="N×3072"):
        read_batch(tmp_path / "b")
    (tmp_path / "c").write_bytes(_cifar_batch(4, 0)[:-20])
    with pytest.raises(CifarError, match="not a readable CIFAR batch"):
        read_batch(tmp_path / "c")
    assert safe_loads(pickle.dumps({"k": [1, 2.5, "s", b"b"]}, protocol=2)) == \
        {"k": [1, 2.5, "s", b"b"]}


def test_cifar_load_from_folder(tmp_path):
    _cifar_folder(tmp_path / "cifar10" / "cifar-10-batches-py")
    splits = load("cifar10", {"download": False, "augment": True}, root=tmp_path)
    assert splits.sizes() == (100, 20)
    assert splits.info.fields["x"].shape == (3, 32, 32)
    assert splits.info.class_names[1] == "automobile"
    assert len(splits.info.mean) == 3 and splits.augment is not None


def _archive(tmp_path, n: int = 8) -> bytes:
    src = tmp_path / "src" / "cifar-10-batches-py"
    _cifar_folder(src, n)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(src.iterdir()):
            tar.add(f, arcname=f"cifar-10-batches-py/{f.name}")
        evil = tarfile.TarInfo("../escaped")
        evil.size = 3
        tar.addfile(evil, io.BytesIO(b"bad"))
    return buf.getvalue()


def test_cifar_archive_extracts_only_the_batches(tmp_path):
    (tmp_path / "a.tar.gz").write_bytes(_archive(tmp_path))
    out = extract_cifar10(tmp_path / "a.tar.gz", tmp_path / "dest")
    assert sorted(p.name for p in out.iterdir())[:2] == ["batches.meta", "data_batch_1"]
    assert not (tmp_path / "escaped").exists()
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(CifarError, match="not a readable CIFAR archive"):
        extract_cifar10(tmp_path / "broken.tar.gz", tmp_path / "dest2")


def test_cifar_download_from_mirror(server, tmp_path, helpers, monkeypatch):
    blob = _archive(tmp_path)
    server.files["cifar-10-python.tar.gz"] = blob
    monkeypatch.setitem(remote_mod.REMOTE, "cifar10",
                        helpers.remote_set({"cifar-10-python.tar.gz": blob}))
    splits = load("cifar10", {"mirror": server.url}, root=tmp_path / "data")
    assert splits.sizes() == (40, 8)
    folder = tmp_path / "data" / "cifar10"
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-batches-py"]
