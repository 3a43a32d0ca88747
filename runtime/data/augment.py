"""Training-time image augmentation of a dataset: an ordered pipeline of batched tensor ops.

``Augment`` holds the pipeline (``ops``, as declared in ``builder/augment_spec.py``) with the
data's normalisation, and applies it to the image field of training batches (``Splits.batches``
calls it; validation is never augmented).  Without ``ops`` it is the original three tricks
AlexNet used against over-fitting, from its ``padding``/``flip``/``jitter`` fields: random crops
(pad, then crop back, so shapes never change), horizontal flips and colour jitter.  The ops
themselves live in ``runtime/data/transforms.py``.  torchvision is deliberately not used: it
does not load with every torch build we support.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from builder.augment_spec import full_ops, legacy_ops
from runtime.data.transforms import aug_crop, aug_flip, augment_batch

__all__ = ["Augment", "random_crop", "random_flip", "colour_jitter", "preview_images",
           "augmented_pixels"]


def random_crop(x: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad each side by ``padding`` and cut a random window of the original size.

    On normalised data zero is the mean colour, so the border reads as "no information"
    rather than as a black frame.
    """
    return aug_crop(x, generator, 0.0, padding)


def random_flip(x: Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> Tensor:
    """Mirror each image left-right with probability ``p``."""
    return aug_flip(x, generator, 0.0, p)


def colour_jitter(
    x: Tensor,
    strength: float,
    generator: torch.Generator | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> Tensor:
    """Scale brightness, contrast and saturation by random factors in [1-s, 1+s] (pixel values
    in [0, 1]: normalised data is mapped back with ``mean``/``std`` and normalised again)."""
    if strength <= 0:
        return x
    op = {"op": "jitter", "brightness": strength, "contrast": strength, "saturation": strength}
    return augment_batch(x, [op], generator, mean, std)


@dataclass(frozen=True)
class Augment:
    """The augmentation of one dataset's training batches (field ``field``, images only).

    ``ops`` is the ordered pipeline; when it is None the three legacy fields say what to do.
    """

    padding: int = 4
    flip: bool = True
    jitter: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    field: str = "x"
    ops: tuple[dict[str, Any], ...] | None = None

    @classmethod
    def from_ops(cls, ops, mean=None, std=None, field: str = "x") -> Augment:
        """A pipeline checked against the op specs, every param filled in."""
        return cls(mean=mean, std=std, field=field, ops=tuple(full_ops(list(ops))))

    def __post_init__(self) -> None:
        if self.ops is None:
            legacy = {"augment": True, "crop_padding": self.padding, "flip": self.flip,
                      "jitter": self.jitter}
            ops = full_ops(legacy_ops(legacy))
        else:
            ops = list(self.ops)
        object.__setattr__(self, "_ops", ops)  # checked once, not on every batch

    def pipeline(self) -> list[dict[str, Any]]:
        """The ops applied, in order, with every param (the legacy fields' ones if no ops)."""
        return [dict(op) for op in self._ops]

    def __call__(
        self, batch: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        x = batch[self.field]
        if x.dim() != 4:
            raise ValueError(f"augmentation expects [B, C, H, W] images; received {list(x.shape)}")
        ops = self._ops
        # Geometric ops and blur commute with normalising (its zero is the mean colour, their
        # fill): skip the round trip through mean/std unless an op needs pixel values.
        values = any(op["op"] in ("jitter", "noise") for op in ops)
        x = augment_batch(x, ops, generator, *((self.mean, self.std) if values else (None, None)))
        return {**batch, self.field: x}


def preview_images(name: str, params: dict[str, Any], n: int = 16, seed: int = 0):
    """``n`` training images of a small instance of dataset ``name`` as the trainer sees them
    before augmentation: ``(images [n, C, H, W], mean, std)``, or None when its samples are
    not images.  Downloads are never started here (the files must be there already)."""
    import tempfile

    from runtime.data.registry import DATASETS, load

    spec = DATASETS[name]
    p = dict(params)
    declared = {q.name for q in spec.params}
    if spec.kind == "download":
        p["download"] = False
    for key, most in (("train_limit", 256), ("val_limit", 16), ("n_samples", 256)):
        if key in declared and not 0 < int(p.get(key, spec.param(key).default) or 0) <= most:
            p[key] = most
    with tempfile.TemporaryDirectory(prefix="layerloom-preview-") as tmp:
        root = None if spec.kind in ("download", "file") else tmp  # a small set is not cached
        try:
            splits = load(name, p, root=root)
        except (ValueError, RuntimeError):  # too small for these settings: the real size
            splits = load(name, params if spec.kind != "download" else p, root=root)
    field = splits.info.fields.get("x")
    if field is None or field.kind != "image":
        return None
    batch = next(splits.batches("train", n, shuffle=True, augment=False,
                                generator=torch.Generator().manual_seed(seed)))
    return batch["x"].cpu(), splits.info.mean, splits.info.std


def augmented_pixels(images: Tensor, ops, seed: int = 0, mean=None, std=None) -> Tensor:
    """``images`` (normalised with ``mean``/``std``) through the pipeline ``ops`` with a seeded
    generator, as pixels in [0, 1] for a picture."""
    aug = Augment.from_ops(ops, mean, std)
    x = aug({"x": images}, torch.Generator().manual_seed(seed))["x"] if ops else images
    if mean is not None and std is not None:
        x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return x.clamp(0.0, 1.0)
