"""Images in folders, one sub-folder per class, read lazily through a DataLoader.

Layouts: ``root/<class>/*.png`` (split into training and validation, seeded and stratified),
or ``root/train/<class>/...`` beside ``root/val/<class>/...`` (or ``test``), used as given.
A folder of images without class sub-folders (``root/*.png``, or ``root/train/*.png`` beside
``root/val/*.png``) loads unlabelled: field ``x`` only, task ``generative``; what an
unlabelled stream wants, e.g. domain adaptation's target domain or an autoencoder's data.
Each image is decoded with Pillow, converted to RGB or grey, scaled so its shorter side fits
``image_size`` and centre-cropped square (or stretched), then standardised with statistics
measured on up to ``STATS_IMAGES`` training images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo
from runtime.data.prepare import split_indices
from runtime.data.registry import (
    AUGMENT_PARAMS,
    NORMALIZE,
    SEED,
    VAL_FRACTION,
    DatasetSpec,
    register,
    require_path,
)
from runtime.data.splits import Splits

__all__ = ["IMAGE_EXTENSIONS", "STATS_IMAGES", "scan_classes", "scan_flat", "read_image",
           "ImageFolderData"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm",
                    ".pgm")
STATS_IMAGES = 256


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a declared dependency
        raise ImportError("reading image folders needs Pillow: pip install Pillow") from None
    return Image


def scan_classes(root: Path, classes: tuple[str, ...] | None = None):
    """(file paths, labels, class names) under ``root``: one sub-folder per class, sorted."""
    if classes is None:
        classes = tuple(sorted(d.name for d in root.iterdir()
                               if d.is_dir() and not d.name.startswith(".")))
    if not classes:
        raise ValueError(f"{root} has no class sub-folders (expected {root}/<class>/<image>)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS) \
            if folder.is_dir() else []
        paths += [str(f) for f in files]
        labels += [label] * len(files)
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    return paths, labels, classes


def scan_flat(root: Path) -> list[str] | None:
    """The images directly in ``root`` when it has no class sub-folders (an unlabelled
    set), else None."""
    if any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()):
        return None
    files = sorted(str(f) for f in root.iterdir()
                   if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
    return files or None


def read_image(path: str, size: int, channels: int, fit: str = "crop") -> np.ndarray:
    """One image as uint8 [size, size, channels]."""
    image_mod = _pil()
    try:
        with image_mod.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
            if fit == "crop":
                w, h = im.size
                scale = size / min(w, h)
                nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
                im = im.resize((nw, nh), image_mod.BILINEAR)
                left, top = (nw - size) // 2, (nh - size) // 2
                im = im.crop((left, top, left + size, top + size))
            else:
                im = im.resize((size, size), image_mod.BILINEAR)
            arr = np.array(im, dtype=np.uint8)  # a writable copy, as torch wants
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


class ImageFolderData(Dataset):
    """Samples ``{"x": float [C, S, S], "y": int64 []}`` decoded from files on demand;
    without ``labels`` (None) samples are ``{"x": ...}`` only."""

    def __init__(self, paths, labels, size: int, channels: int, fit: str = "crop",
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None):
        self.paths = list(paths)
        self.labels = None if labels is None else list(labels)
        self.size, self.channels, self.fit = size, channels, fit
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        arr = read_image(self.paths[i], self.size, self.channels, self.fit)
        x = torch.from_numpy(arr).permute(2, 0, 1).float().div_(255)
        if self.mean is not None and self.std is not None:
            x = (x - torch.tensor(self.mean).view(-1, 1, 1)) / torch.tensor(self.std).view(-1, 1, 1)
        if self.labels is None:
            return {"x": x}
        return {"x": x, "y": torch.tensor(self.labels[i], dtype=torch.int64)}


def _stats(data: ImageFolderData, seed: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(data))[:STATS_IMAGES]
    xs = torch.stack([data[int(i)]["x"] for i in pick])
    var, mean = torch.var_mean(xs, dim=(0, 2, 3), correction=0)
    std = torch.where(var.sqrt() > 1e-6, var.sqrt(), torch.ones_like(var))
    return tuple(mean.tolist()), tuple(std.tolist())


def _parts(root: Path, p: dict):
    """Training and validation (paths, labels), class names; labels None and no class names
    for a folder of images without class sub-folders."""
    val_dir = next((root / v for v in ("val", "test") if (root / v).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        tp, vp = scan_flat(root / "train"), scan_flat(val_dir)
        if tp and vp:
            return tp, None, vp, None, ()
        tp, tl, classes = scan_classes(root / "train")
        vp, vl, _ = scan_classes(val_dir, classes)
        return tp, tl, vp, vl, classes
    flat = scan_flat(root)
    if flat:
        tr, va = split_indices(len(flat), p["val_fraction"], p["seed"])
        return [flat[i] for i in tr], None, [flat[i] for i in va], None, ()
    paths, labels, classes = scan_classes(root)
    tr, va = split_indices(len(paths), p["val_fraction"], p["seed"], np.array(labels))
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    return pick(paths, tr), pick(labels, tr), pick(paths, va), pick(labels, va), classes


def _build(p: dict, ctx) -> Splits:
    root = require_path(p, "a folder of class folders", folder=True)
    tp, tl, vp, vl, classes = _parts(root, p)
    c = 1 if p["grayscale"] else 3
    args = (p["image_size"], c, p["fit"])
    train = ImageFolderData(tp, tl, *args)
    mean = std = None
    if p["normalize"]:
        mean, std = _stats(train, p["seed"])
        train.mean, train.std = mean, std
    val = ImageFolderData(vp, vl, *args, mean=mean, std=std)
    s = p["image_size"]
    fields = {"x": FieldInfo((c, s, s), "image", "float32")}
    if tl is not None:
        fields["y"] = FieldInfo((), "label", "int64")
    info = DataInfo(
        root.name, "classification" if tl is not None else "generative", fields,
        num_classes=len(classes) if tl is not None else None, class_names=classes, mean=mean,
        std=std, source=str(root),
    )
    return Splits(train, val, info, num_workers=p["workers"] if p["workers"] >= 0 else None)


register(
    DatasetSpec(
        "image_folder", "Image folder", "Your own photos: one sub-folder per class (or "
        "none: unlabelled images).",
        "file", "Your files", "classification",
        (Param("path", "str", "",
               help="Folder holding one sub-folder of images per class; images directly in "
                    "it, without sub-folders, load unlabelled (e.g. a target domain)."),
         Param("image_size", "int", 64, min=8, max=1024, help="Images become size × size."),
         Param("fit", "choice", "crop", choices=("crop", "stretch"),
               help="crop: keep proportions and cut the centre; stretch: squeeze to fit."),
         Param("grayscale", "bool", False, help="Read images as one grey channel."),
         Param("workers", "int", -1, min=-1, max=64,
               help="Loader processes (-1: choose from the number of cores, 0: none)."),
         NORMALIZE, SEED, VAL_FRACTION, *AUGMENT_PARAMS),
        _build,
        paths=(("path", "folder"),),
    ),
)
