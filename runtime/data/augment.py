"""Training-time image augmentation as batched tensor ops on the data's device.

The three tricks AlexNet used to fight over-fitting: random crops (here: pad, then crop back to
the original size, so shapes never change), horizontal flips and colour changes (brightness,
contrast, saturation).  Each acts on a whole ``[B, C, H, W]`` batch at once with per-sample
random numbers, so augmenting costs a few kernel launches per step instead of a Python loop.
torchvision is deliberately not used: it does not load with every torch build we support.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Augment", "random_crop", "random_flip", "colour_jitter"]


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device) -> Tensor:
    """Uniform [0, 1) numbers on ``device``, drawn from a generator that may live elsewhere."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=where).to(device, non_blocking=True)


def random_crop(x: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad each side by ``padding`` and cut a random window of the original size.

    On normalised data zero is the mean colour, so the border reads as "no information"
    rather than as a black frame.
    """
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = (_rand((2, b), generator, x.device) * (2 * padding + 1)).long()
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # [B, H]
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # [B, W]
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> Tensor:
    """Mirror each image left-right with probability ``p``."""
    flip = _rand((x.shape[0],), generator, x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def colour_jitter(
    x: Tensor,
    strength: float,
    generator: torch.Generator | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> Tensor:
    """Scale brightness, contrast and saturation by random factors in [1-s, 1+s].

    The factors are meant for pixel values in [0, 1], so normalised data is mapped back with
    ``mean``/``std`` first and normalised again afterwards.
    """
    if strength <= 0:
        return x
    b, c = x.shape[:2]
    shape = (-1, 1, 1, 1)
    if mean is not None and std is not None:
        m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        img = x * s + m
    else:
        img = x
    factors = 1 + strength * (2 * _rand((3, b), generator, x.device) - 1)
    img = img * factors[0].view(shape)
    grey = _grey(img)
    avg = grey.mean(dim=(1, 2, 3), keepdim=True)
    img = (img - avg) * factors[1].view(shape) + avg
    if c == 3:
        grey = _grey(img)
        img = (img - grey) * factors[2].view(shape) + grey
    img = img.clamp(0.0, 1.0)
    if mean is not None and std is not None:
        return (img - m) / s
    return img


def _grey(img: Tensor) -> Tensor:
    if img.shape[1] != 3:
        return img.mean(dim=1, keepdim=True)
    weights = torch.tensor((0.299, 0.587, 0.114), device=img.device, dtype=img.dtype)
    return (img * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


@dataclass(frozen=True)
class Augment:
    """The augmentation of one dataset's training batches (field ``field``, images only)."""

    padding: int = 4
    flip: bool = True
    jitter: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    field: str = "x"

    def __call__(
        self, batch: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        x = batch[self.field]
        if x.dim() != 4:
            raise ValueError(f"augmentation expects [B, C, H, W] images; received {list(x.shape)}")
        x = random_crop(x, self.padding, generator)
        if self.flip:
            x = random_flip(x, generator)
        x = colour_jitter(x, self.jitter, generator, self.mean, self.std)
        return {**batch, self.field: x}
