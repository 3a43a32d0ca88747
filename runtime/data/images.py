"""The classic image benchmarks: MNIST, Fashion-MNIST, KMNIST (IDX files) and CIFAR-10.

Files are looked for in ``<data folder>/<dataset>/`` (IDX raw or ``.gz``; CIFAR as the
``cifar-10-batches-py`` folder or its archive) and downloaded there on first use.  The
official test set is the validation part; ``train_limit``/``val_limit`` take seeded,
stratified subsets for quick experiments on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.cifar import BATCH_FOLDER, extract_cifar10, read_cifar10
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.idx import IdxError, read_idx
from runtime.data.prepare import subset
from runtime.data.registry import AUGMENT_PARAMS, NORMALIZE, SEED, Context, DatasetSpec, register
from runtime.data.remote import REMOTE, fetch
from runtime.data.splits import Splits

__all__ = ["MNIST_CLASSES", "FASHION_CLASSES", "KMNIST_CLASSES"]

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
KMNIST_CLASSES = ("o お", "ki き", "su す", "tsu つ", "na な", "ha は", "ma ま", "ya や",
                  "re れ", "wo を")

_DOWNLOAD = (
    Param("download", "bool", True, help="Download the official files if they are missing."),
    Param("mirror", "str", "", help="URL of a folder that serves the same files (optional)."),
)
_LIMITS = (
    Param("train_limit", "int", 0, min=0, help="Use at most this many training images (0: all)."),
    Param("val_limit", "int", 0, min=0, help="Use at most this many test images (0: all)."),
)
_PARAMS = (*_DOWNLOAD, *_LIMITS, SEED, NORMALIZE, *AUGMENT_PARAMS)


def _need(ctx: Context, p: dict, name: str, folder: Path, missing: list[str]) -> None:
    if not missing:
        return
    if not p["download"]:
        raise FileNotFoundError(f"{name}: {', '.join(missing)} not found in {folder} and "
                                "downloading is switched off")
    fetch(name, folder, missing, mirror=p["mirror"], progress=ctx.progress)


def _image_splits(name, p, x, y, xt, yt, classes, folder) -> Splits:
    train = subset(TensorData({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}),
                   p["train_limit"], p["seed"], "y")
    val = subset(TensorData({"x": torch.from_numpy(xt), "y": torch.from_numpy(yt)}),
                 p["val_limit"], p["seed"], "y")

    def to_float(d: TensorData) -> TensorData:
        # Pixels to [0, 1] here; load() then standardises with training statistics.
        return TensorData({"x": d["x"].float().div_(255), "y": d["y"]})

    info = DataInfo(
        name, "classification",
        {"x": FieldInfo(tuple(x.shape[1:]), "image", "float32"),
         "y": FieldInfo((), "label", "int64")},
        num_classes=len(classes), class_names=tuple(classes), source=str(folder),
    )
    return Splits(to_float(train), to_float(val), info)


def _check_pair(images: np.ndarray, labels: np.ndarray, what: str, classes: int) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IdxError(f"{what} images must be a uint8 N×H×W array; found {images.dtype} "
                       f"{list(images.shape)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise IdxError(f"{what}: {len(images)} images but labels of shape {list(labels.shape)}")
    if labels.size and int(labels.max()) >= classes:
        raise IdxError(f"{what} labels must be below {classes}; found {int(labels.max())}")


def _idx_builder(name: str, classes: tuple[str, ...]):
    def build(p: dict, ctx: Context) -> Splits:
        folder = ctx.root / name
        paths, missing = {}, []
        for f in REMOTE[name].files:
            raw = folder / f.name.removesuffix(".gz")
            paths[f.name] = raw if raw.exists() else folder / f.name
            if not paths[f.name].exists():
                missing.append(f.name)
        _need(ctx, p, name, folder, missing)
        x, y, xt, yt = (read_idx(paths[f.name]) for f in REMOTE[name].files)
        _check_pair(x, y, f"{name} training", len(classes))
        _check_pair(xt, yt, f"{name} test", len(classes))
        return _image_splits(name, p, x[:, None], y.astype(np.int64), xt[:, None],
                             yt.astype(np.int64), classes, folder)

    return build


def _cifar_build(p: dict, ctx: Context) -> Splits:
    folder = ctx.root / "cifar10"
    batches = folder / BATCH_FOLDER
    if not batches.is_dir():
        archive = folder / REMOTE["cifar10"].files[0].name
        fetched = not archive.exists()
        if fetched:
            _need(ctx, p, "cifar10", folder, [archive.name])
        extract_cifar10(archive, folder)
        if fetched:
            archive.unlink()  # the batches are what we read; keep 170 MB off the disk
    x, y, xt, yt, classes = read_cifar10(batches)
    return _image_splits("cifar10", p, x, y, xt, yt, classes, batches)


def _spec(name, title, description, build) -> DatasetSpec:
    return DatasetSpec(name, title, description, "download", "Images", "classification",
                       _PARAMS, build)


register(
    _spec("mnist", "MNIST digits",
          "70,000 handwritten digits 0-9 as 28×28 grey images (60,000 train, 10,000 test).",
          _idx_builder("mnist", MNIST_CLASSES)),
    _spec("fashion_mnist", "Fashion-MNIST",
          "70,000 28×28 grey photos of clothing in 10 classes, a harder drop-in for MNIST.",
          _idx_builder("fashion_mnist", FASHION_CLASSES)),
    _spec("kmnist", "Kuzushiji-MNIST",
          "70,000 28×28 grey images of 10 cursive Japanese hiragana characters.",
          _idx_builder("kmnist", KMNIST_CLASSES)),
    _spec("cifar10", "CIFAR-10",
          "60,000 32×32 colour photos in 10 classes: planes, cars, birds, cats, ships...",
          _cifar_build),
)
