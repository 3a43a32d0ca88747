"""Datasets for Layerloom: a declarative catalogue, loaders, splits, augmentation, previews.

``load(name, params)`` returns ``Splits(train, val, info)``.  In-memory data is a
``TensorData`` (a dict of equal-length tensors that moves wholly to the device and batches by
indexing there); file-backed image folders are torch ``Dataset``s read through a DataLoader.
``DATASETS`` maps each name to its ``DatasetSpec`` (title, description, typed params, kind).
Every dataset module registers its specs when this package is imported.
"""

from __future__ import annotations

from runtime.data import (  # noqa: F401 - imported for their registrations
    cifar100,
    csvfile,
    digits,
    glyphs,
    imagefolder,
    images,
    npzfile,
    rnn_tasks,
    sequences,
    shapes,
    text,
    toys,
    trees,
    words,
)
from runtime.data.augment import Augment, colour_jitter, random_crop, random_flip
from runtime.data.cifar import CifarError
from runtime.data.core import FIELD_KINDS, TASKS, DataInfo, FieldInfo, TensorData
from runtime.data.downloads import DownloadError, download
from runtime.data.idx import IdxError, read_idx, write_idx
from runtime.data.prepare import channel_stats, normalise, split, split_indices
from runtime.data.preview import Preview, preview
from runtime.data.registry import DATASETS, DatasetSpec, load
from runtime.data.remote import DATA_ENV, MIRROR_ENV, data_root
from runtime.data.splits import Splits, make_loader

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "MIRROR_ENV",
    "FIELD_KINDS",
    "TASKS",
    "Augment",
    "CifarError",
    "DataInfo",
    "DatasetSpec",
    "DownloadError",
    "FieldInfo",
    "IdxError",
    "Preview",
    "Splits",
    "TensorData",
    "channel_stats",
    "colour_jitter",
    "data_root",
    "download",
    "load",
    "make_loader",
    "normalise",
    "preview",
    "random_crop",
    "random_flip",
    "read_idx",
    "split",
    "split_indices",
    "write_idx",
]
