"""Generated image sets made once and kept in the data folder, compactly, as ``.npz`` files.

A generator returns uint8 images and int labels (a 70,000 × 28 × 28 set is 55 MB that way,
220 MB as float32); ``cached`` stores them under ``<data folder>/generated/`` keyed by the
dataset name, a hash of the params that shape the samples and the generator's version, so a
changed generator never serves stale data.  Files are written to a temporary name and renamed
(no reader ever sees half a file) and read without pickle; one that cannot be read is made
again.  ``float_splits`` splits the compact arrays first and only then widens images to
float32 in [0, 1], so the whole set never exists as float32 at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.data.core import DataInfo, TensorData
from runtime.data.prepare import split_indices
from runtime.data.splits import Splits

__all__ = ["FOLDER", "cache_path", "cached", "float_splits"]

FOLDER = "generated"
Arrays = dict[str, np.ndarray]


def cache_path(root: Path, name: str, version: int, params: dict[str, Any]) -> Path:
    """Where the set ``name`` made with ``params`` by generator ``version`` is kept."""
    key = json.dumps({"v": version, **params}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(root) / FOLDER / f"{name}-{digest}.npz"


def _read(path: Path, n: int) -> Arrays | None:
    """The arrays in ``path`` if it is a whole, well-formed cache of ``n`` samples."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    if not arrays or any(a.ndim == 0 or len(a) != n for a in arrays.values()):
        return None
    return arrays


def _write(path: Path, arrays: Arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            # Uncompressed: the pixel noise leaves zlib little to gain (143 of 184 MB for
            # 60,000 shapes) at the cost of seconds per write and per read.
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a cache is no secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(root: Path, name: str, version: int, params: dict[str, Any], n: int,
           make: Callable[[], Arrays]) -> Arrays:
    """The arrays ``make()`` returns for these params, from the cache when it holds them.

    ``n`` is the number of samples every array must have; a file that disagrees, is cut short
    or is not an npz is ignored and overwritten.  A data folder that cannot be written only
    costs the speed-up.
    """
    path = cache_path(root, name, version, params)
    if path.is_file():
        arrays = _read(path, n)
        if arrays is not None:
            return arrays
    arrays = make()
    try:
        _write(path, arrays)
    except OSError:
        pass
    return arrays


def float_splits(arrays: Arrays, info: DataInfo, val_fraction: float, seed: int,
                 images: tuple[str, ...] = ("x",), stratify: str | None = "y") -> Splits:
    """Seeded (stratified) train/val parts; uint8 ``images`` become float32 in [0, 1]."""
    labels = arrays[stratify] if stratify else None
    parts = []
    for index in split_indices(len(next(iter(arrays.values()))), val_fraction, seed, labels):
        fields = {}
        for key, a in arrays.items():
            t = torch.from_numpy(a[index])
            fields[key] = t.float().div_(255) if key in images else t.long()
        parts.append(TensorData(fields))
    return Splits(parts[0], parts[1], info)
