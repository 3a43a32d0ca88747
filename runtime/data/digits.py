"""The 1,797 UCI handwritten digits (8×8, 16 grey levels) that scikit-learn ships.

No download and no cache: they are read from a small CSV inside scikit-learn's package in a
few milliseconds, without importing scikit-learn.  Small enough for an MLP or a tiny CNN to
train in seconds, and the set the latent-map and embedding-projector examples look at.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.prepare import subset
from runtime.data.registry import NORMALIZE, SEED, VAL_FRACTION, DatasetSpec, register

__all__ = ["DIGITS8_SIZE", "digits8"]

DIGITS8_SIZE = 1797
_CLASSES = tuple(str(i) for i in range(10))


def digits8() -> tuple[np.ndarray, np.ndarray]:
    """images float32 [1797, 1, 8, 8] in [0, 1] and labels int64 [1797], in file order."""
    data = _read_csv()
    x = (data[:, :-1].reshape(-1, 8, 8) / 16.0).astype(np.float32)[:, None]
    return x, data[:, -1].astype(np.int64)


def _read_csv() -> np.ndarray:
    """scikit-learn's digits.csv.gz (64 pixels and the label per row), read where it ships:
    importing scikit-learn (and scipy) to call ``load_digits`` costs a second or more."""
    from importlib.util import find_spec

    spec = find_spec("sklearn")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return np.loadtxt(path, delimiter=",")
    from sklearn.datasets import load_digits  # the file moved: ask scikit-learn

    bunch = load_digits()
    return np.column_stack([bunch.data, bunch.target])


def _build(p, ctx):
    x, y = digits8()
    data = TensorData({"x": torch.from_numpy(x), "y": torch.from_numpy(y)})
    # A seeded, stratified subset, and the order shuffled either way: file order is 0, 1, 2...
    data = subset(data, p["n_samples"], p["seed"], "y")
    order = np.random.default_rng(p["seed"]).permutation(len(data))
    data = data.subset(torch.from_numpy(order))
    info = DataInfo("digits8", "classification",
                    {"x": FieldInfo((1, 8, 8), "image", "float32", "8×8 grey digit"),
                     "y": FieldInfo((), "label", "int64", "the digit")},
                    num_classes=10, class_names=_CLASSES, source="scikit-learn")
    return data, info


register(
    DatasetSpec(
        "digits8", "Digits 8×8",
        "The 1,797 UCI handwritten digits 0-9 as 8×8 grey images, shipped with scikit-learn: "
        "no download, trains in seconds.",
        "bundled", "Images", "classification",
        (Param("n_samples", "int", DIGITS8_SIZE, min=20, max=DIGITS8_SIZE,
               help="How many of the 1,797 images to use (a stratified subset)."),
         SEED, VAL_FRACTION, NORMALIZE),
        _build,
    ),
)
