"""The 1,797 UCI handwritten digits (8×8, 16 grey levels) that scikit-learn ships.

No download and no cache: scikit-learn reads them from a small CSV inside its package in a few
milliseconds.  Small enough for an MLP or a tiny CNN to train in seconds, and the set the
latent-map and embedding-projector examples look at.
"""

from __future__ import annotations

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
    from sklearn.datasets import load_digits  # imported here: scikit-learn loads slowly

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    return x, bunch.target.astype(np.int64)


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
