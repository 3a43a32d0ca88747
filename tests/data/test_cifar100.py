"""CIFAR-100 from a tiny fake archive made here (no network): fine labels, 100 class names."""

import io
import pickle
import tarfile

import numpy as np
import pytest

from runtime.data import CifarError, load
from runtime.data import remote as remote_mod
from runtime.data.cifar100 import CIFAR100_CLASSES


def _batch(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    d = {b"filenames": [b"x%d.png" % i for i in range(n)], b"batch_label": b"training",
         b"fine_labels": [int(i % 100) for i in range(n)],
         b"coarse_labels": [int(i % 20) for i in range(n)],
         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
    return pickle.dumps(d, protocol=2)


def _archive(n_train=200, n_test=100, names=CIFAR100_CLASSES) -> bytes:
    meta = pickle.dumps({b"fine_label_names": [s.encode() for s in names],
                         b"coarse_label_names": [b"c%d" % i for i in range(20)]}, protocol=2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, blob in (("train", _batch(n_train, 0)), ("test", _batch(n_test, 1)),
                           ("meta", meta)):
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def test_cifar100_reads_a_fake_archive(tmp_path):
    folder = tmp_path / "cifar100"
    folder.mkdir()
    (folder / "cifar-100-python.tar.gz").write_bytes(_archive())
    splits = load("cifar100", {"download": False, "augment": True}, root=tmp_path)
    assert splits.sizes() == (200, 100)
    assert splits.info.num_classes == 100 and splits.info.class_names[0] == "apple"
    assert splits.info.class_names[-1] == "worm" and len(CIFAR100_CLASSES) == 100
    assert sorted(np.unique(splits.train["y"].numpy()).tolist()) == list(range(100))
    assert splits.info.fields["x"].shape == (3, 32, 32) and splits.augment is not None
    again = load("cifar100", {"download": False, "train_limit": 100}, root=tmp_path)
    assert again.sizes() == (100, 100)  # read from the unpacked folder this time


def test_cifar100_refuses_a_wrong_meta(tmp_path):
    folder = tmp_path / "cifar100"
    folder.mkdir()
    (folder / "cifar-100-python.tar.gz").write_bytes(_archive(names=CIFAR100_CLASSES[:10]))
    with pytest.raises(CifarError, match="100 class names"):
        load("cifar100", {"download": False}, root=tmp_path)


def test_cifar100_needs_its_files_when_downloads_are_off(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-100-python.tar.gz"):
        load("cifar100", {"download": False}, root=tmp_path)


def test_cifar100_downloads_from_a_mirror(server, tmp_path, helpers, monkeypatch):
    blob = _archive(100, 50)
    server.files["cifar-100-python.tar.gz"] = blob
    monkeypatch.setitem(remote_mod.REMOTE, "cifar100",
                        helpers.remote_set({"cifar-100-python.tar.gz": blob}))
    splits = load("cifar100", {"mirror": server.url}, root=tmp_path / "data")
    assert splits.sizes() == (100, 50)
    assert sorted(p.name for p in (tmp_path / "data" / "cifar100").iterdir()) == [
        "cifar-100-python"]
