"""CIFAR-10 and CIFAR-100 "python version" batches, read without trusting pickle.

The official batches are Python pickles.  Plain ``pickle.load`` runs whatever code a file names
(any importable callable with any arguments), so a tampered download or a file from a stranger
could take over the user's machine.  ``SafeUnpickler`` resolves only a fixed allow-list of
globals: the numpy array and dtype constructors (refusing object dtypes, whose elements could
be anything) and the latin-1 ``_codecs.encode`` that protocol-2 pickles use to spell bytes.
Everything else in a batch (dicts, lists, numbers, strings, bytes) needs no global at all.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CifarError",
    "SafeUnpickler",
    "safe_loads",
    "read_batch",
    "read_meta",
    "read_cifar10",
    "read_cifar100",
    "extract_cifar10",
    "extract_cifar100",
    "BATCH_FOLDER",
    "CIFAR100_FOLDER",
    "TRAIN_BATCHES",
    "CIFAR10_CLASSES",
]

BATCH_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_MEMBERS = (*TRAIN_BATCHES, "test_batch", "batches.meta")
CIFAR100_FOLDER = "cifar-100-python"
_MEMBERS100 = ("train", "test", "meta")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


class CifarError(ValueError):
    """A CIFAR file is missing, malformed or not allowed; the message names the file."""


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("array reconstruction asked for a class other than ndarray")
    return np.ndarray.__new__(np.ndarray, shape, _dtype(dtype))


def _dtype(spec: Any, *args: Any) -> np.dtype:
    dt = np.dtype(spec.decode("ascii") if isinstance(spec, bytes) else spec, *args)
    if dt.hasobject:
        raise pickle.UnpicklingError("object arrays are not allowed in a CIFAR batch")
    return dt


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"unexpected text encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain Python data and numpy arrays (see module doc)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR batch may only hold plain data "
                "and numpy arrays"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent references are not allowed")


def safe_loads(blob: bytes) -> Any:
    """Unpickle ``blob`` with ``SafeUnpickler``; Python 2 strings come back as bytes."""
    return SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()


def _load_dict(path: Path) -> dict[str, Any]:
    try:
        obj = safe_loads(path.read_bytes())
    except FileNotFoundError:
        raise CifarError(f"{path} is missing") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as e:
        raise CifarError(f"{path.name} is not a readable CIFAR batch: {e}") from None
    if not isinstance(obj, dict):
        raise CifarError(f"{path.name} holds a {type(obj).__name__}, not a CIFAR batch dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_batch(path: str | Path, key: str = "labels", classes: int = 10
               ) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 32, 32], labels int64 [N]) from one batch file; ``key`` names the
    labels (CIFAR-100: ``fine_labels``), which must be below ``classes``."""
    path = Path(path)
    d = _load_dict(path)
    data, labels = d.get("data"), d.get(key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        got = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else \
            type(data).__name__
        raise CifarError(f"{path.name}: 'data' must be a uint8 array of N×3072; found {got}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise CifarError(f"{path.name}: {key!r} must list one label per image "
                         f"({len(data)} images)")
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= classes)):
        raise CifarError(f"{path.name}: labels must be whole numbers 0 to {classes - 1}")
    return data.reshape(-1, 3, 32, 32), y.astype(np.int64)


def read_meta(path: str | Path, key: str = "label_names", classes: int = 10
              ) -> tuple[str, ...]:
    """Class names from ``batches.meta`` (CIFAR-100: ``meta``, key ``fine_label_names``);
    CIFAR-10's standard names if the file is absent."""
    path = Path(path)
    if not path.exists() and classes == 10:
        return CIFAR10_CLASSES
    names = _load_dict(path).get(key)
    if not isinstance(names, list) or len(names) != classes:
        raise CifarError(f"{path.name}: {key!r} must be a list of {classes} class names")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def read_cifar10(folder: str | Path):
    """(x_train, y_train, x_test, y_test, class names) from a ``cifar-10-batches-py`` folder."""
    folder = Path(folder)
    parts = [read_batch(folder / name) for name in TRAIN_BATCHES]
    x_test, y_test = read_batch(folder / "test_batch")
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return x, y, x_test, y_test, read_meta(folder / "batches.meta")


def read_cifar100(folder: str | Path):
    """(x_train, y_train, x_test, y_test, class names) from a ``cifar-100-python`` folder, with
    the 100 fine labels (the 20 coarse superclasses are not used)."""
    folder = Path(folder)
    x, y = read_batch(folder / "train", "fine_labels", 100)
    x_test, y_test = read_batch(folder / "test", "fine_labels", 100)
    return x, y, x_test, y_test, read_meta(folder / "meta", "fine_label_names", 100)


def extract_cifar100(archive: str | Path, dest: str | Path) -> Path:
    """Unpack ``cifar-100-python.tar.gz`` into ``dest/cifar-100-python`` (as
    ``extract_cifar10``)."""
    return extract_cifar10(archive, dest, CIFAR100_FOLDER, _MEMBERS100)


def extract_cifar10(archive: str | Path, dest: str | Path, name: str = BATCH_FOLDER,
                    members: tuple[str, ...] = _MEMBERS) -> Path:
    """Unpack the batch files of ``cifar-10-python.tar.gz`` into ``dest/cifar-10-batches-py``
    (or, given ``name`` and ``members``, those of another CIFAR archive).

    Only the expected regular files are read from the archive, and each is written by us
    under a fixed name, so no member path from the archive (``../``, links) is ever used.
    The folder appears under its final name only once every file is written.
    """
    dest = Path(dest)
    final = dest / name
    tmp = dest / (name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    found = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                folder, _, base = member.name.lstrip("./").rpartition("/")
                if folder != name or base not in members or not member.isfile():
                    continue
                src = tar.extractfile(member)
                with open(tmp / base, "wb") as out:
                    shutil.copyfileobj(src, out)
                found.add(base)
    except (tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CifarError(f"{Path(archive).name} is not a readable CIFAR archive: {e}") from None
    missing = sorted(set(members) - found)
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CifarError(f"{Path(archive).name} lacks {', '.join(missing)}")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final
