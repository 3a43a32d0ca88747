"""Arrays from a NumPy ``.npz`` archive: inputs under one key, targets (optional) under another.

Loaded with ``allow_pickle=False``: an object array inside an archive is a pickle, and
unpickling a file from elsewhere can run arbitrary code, so such archives are refused.

Input layout with ``x_kind = auto``: [N] or [N, D] is a vector; [N, H, W] is a grey image
when its dtype is uint8, else a sequence [N, T, D]; [N, C, H, W] or [N, H, W, C] (C of 1, 3
or 4) is an image.  uint8 images are scaled to [0, 1].  Targets with ``task = auto``: whole
numbers [N] are class labels, other [N] or [N, K] arrays regression targets, and [N, K] of
only 0 and 1 multilabel targets.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import (
    NORMALIZE,
    SEED,
    VAL_FRACTION,
    DatasetSpec,
    register,
    require_path,
)

__all__ = ["read_npz", "inputs_of", "targets_of"]

X_KINDS = ("auto", "vector", "image", "sequence", "tokens")
TASK_CHOICES = ("auto", "classification", "regression", "multilabel")


def read_npz(path: str | Path, keys: list[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of archive ``path``, refusing pickled objects."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise KeyError(f"{path.name} has no array {missing[0]!r}; it holds: "
                               f"{', '.join(z.files) or 'nothing'}")
            return {k: z[k] for k in keys}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise ValueError(f"{path.name} stores Python objects (a pickle); only plain "
                             "numeric arrays can be loaded safely") from None
        raise
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path.name} is not a readable .npz archive: {e}") from None


def inputs_of(x: np.ndarray, kind: str) -> tuple[torch.Tensor, FieldInfo]:
    if x.dtype.kind not in "biuf":
        raise ValueError(f"inputs must be numbers; the array has dtype {x.dtype}")
    if kind == "auto":
        if x.ndim <= 2:
            kind = "vector"
        elif x.ndim == 3:
            kind = "image" if x.dtype == np.uint8 else "sequence"
        else:
            kind = "image"
    if kind == "tokens":
        if x.ndim != 2 or x.dtype.kind not in "iu":
            raise ValueError(f"tokens must be whole numbers [N, T]; found {x.dtype} "
                             f"{list(x.shape)}")
        t = torch.from_numpy(x.astype(np.int64, copy=False))
        return t, FieldInfo(tuple(t.shape[1:]), "tokens", "int64")
    # The arrays np.load read are ours: float32 inputs are used as they are (no copy), other
    # dtypes are converted once and uint8 images then scaled in place.
    scale = kind == "image" and x.dtype == np.uint8
    x = x.astype(np.float32, copy=False)
    if scale:
        x /= 255.0
    if kind == "vector":
        x = x.reshape(len(x), -1)
    elif kind == "sequence":
        if x.ndim not in (2, 3):
            raise ValueError(f"a sequence is [N, T] or [N, T, D]; found {list(x.shape)}")
        x = x if x.ndim == 3 else x[:, :, None]
    elif kind == "image":
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim != 4:
            raise ValueError(f"images are [N, H, W] or [N, C, H, W]; found {list(x.shape)}")
        elif x.shape[1] not in (1, 3, 4):
            if x.shape[3] not in (1, 3, 4):
                raise ValueError(f"cannot tell the channels of images shaped {list(x.shape)}")
            x = x.transpose(0, 3, 1, 2)
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t, FieldInfo(tuple(t.shape[1:]), kind, "float32")


def targets_of(y: np.ndarray, task: str, n: int):
    """(tensor, FieldInfo, task, num_classes) for target array ``y`` of ``n`` samples."""
    if len(y) != n:
        raise ValueError(f"{n} inputs but {len(y)} targets")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"targets must be numbers; the array has dtype {y.dtype}")
    y = y.reshape(n, -1) if y.ndim > 2 else y
    whole = y.dtype.kind in "biu" or bool(np.all(np.mod(y, 1) == 0))
    if task == "auto":
        if y.ndim == 2 and y.shape[1] > 1 and np.isin(y, (0, 1)).all():
            task = "multilabel"
        elif y.ndim == 1 and y.dtype.kind in "biu":
            task = "classification"
        else:
            task = "regression"
    if task == "classification":
        if not whole or y.ndim != 1 or (y.size and y.min() < 0):
            raise ValueError("class labels must be one whole number >= 0 per sample")
        t = torch.from_numpy(y.astype(np.int64, copy=False))
        return t, FieldInfo((), "label", "int64"), task, int(y.max()) + 1 if y.size else 0
    y = y.astype(np.float32, copy=False).reshape(n, -1)
    if task == "multilabel" and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("multilabel targets must be 0 or 1")
    return torch.from_numpy(y), FieldInfo((y.shape[1],), "target", "float32"), task, None


def _build(p, ctx):
    path = require_path(p, "an .npz file")
    keys = [p["x_key"]] + ([p["y_key"]] if p["y_key"] else [])
    arrays = read_npz(path, keys)
    x, fx = inputs_of(arrays[p["x_key"]], p["x_kind"])
    fields, data = {"x": fx}, {"x": x}
    task, classes = "generative", None
    if p["y_key"]:
        y, fy, task, classes = targets_of(arrays[p["y_key"]], p["task"], len(x))
        fields["y"], data["y"] = fy, y
    names = tuple(str(i) for i in range(classes)) if classes else ()
    info = DataInfo(path.stem, task, fields, num_classes=classes, class_names=names,
                    source=str(path))
    return TensorData(data), info


register(
    DatasetSpec(
        "npz", "NumPy arrays", "Arrays from an .npz file: inputs under one key, targets "
        "under another.",
        "file", "Your files", "auto",
        (Param("path", "str", "", help="The .npz file."),
         Param("x_key", "str", "x", help="Name of the input array."),
         Param("y_key", "str", "y", help="Name of the target array (empty: inputs only)."),
         Param("x_kind", "choice", "auto", choices=X_KINDS, help="What each input is."),
         Param("task", "choice", "auto", choices=TASK_CHOICES),
         NORMALIZE, SEED, VAL_FRACTION),
        _build,
        paths=(("path", "*.npz"),),
    ),
)
