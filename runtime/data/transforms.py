"""Image augmentation ops as batched tensor ops on the data's device, and their pipeline.

Every op acts on a whole ``[B, C, H, W]`` batch at once with per-sample random numbers drawn
from the trainer's generator, so a pipeline costs a few kernel launches per step instead of a
Python loop per image, and the in-memory loader stays fast.  Ops work on pixels in [0, 1]:
``augment_batch`` maps normalised data back with ``mean``/``std`` first and normalises again
afterwards; geometric ops fill what they uncover with ``fill`` (the mean colour).

The functions from ``_rand`` to ``augment_batch`` use only ``math``, ``torch`` and each other,
so ``pipeline_source`` can copy them into an exported ``train.py`` as they are.  The params of
each op are declared in ``builder/augment_spec.py``.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

__all__ = ["augment_batch", "pipeline_source", "OP_FUNCTIONS", "aug_flip", "aug_rotate",
           "aug_crop", "aug_jitter", "aug_blur", "aug_erase", "aug_noise"]


def _rand(shape, generator, device):
    """Uniform [0, 1) numbers on ``device`` from a generator that may live on another device."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=where).to(device, non_blocking=True)


def _randn(shape, generator, device):
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where).to(device, non_blocking=True)


def _grey(img):
    if img.shape[1] != 3:
        return img.mean(dim=1, keepdim=True)
    weights = torch.tensor((0.299, 0.587, 0.114), device=img.device, dtype=img.dtype)
    return (img * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def aug_flip(img, generator=None, fill=0.0, p=0.5, direction="horizontal"):
    """Mirror each image with probability ``p`` (left-right, or upside-down)."""
    chosen = _rand((img.shape[0],), generator, img.device) < p
    return torch.where(chosen[:, None, None, None],
                       img.flip(-1 if direction == "horizontal" else -2), img)


def aug_rotate(img, generator=None, fill=0.0, degrees=15.0, p=1.0):
    """Turn each image about its centre by an angle in [-degrees, degrees] (chance ``p``)."""
    if degrees <= 0 or p <= 0:
        return img
    b, _, h, w = img.shape
    u = _rand((2, b), generator, img.device)
    angle = (2 * u[0] - 1) * math.radians(degrees) * (u[1] < p)
    cos, sin = angle.cos(), angle.sin()
    # affine_grid works in [-1, 1] coordinates; the aspect ratio keeps a turn a true turn.
    theta = torch.stack([torch.stack([cos, -sin * h / w, torch.zeros_like(cos)], 1),
                         torch.stack([sin * w / h, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta.to(img.dtype), list(img.shape), align_corners=False)
    out = F.grid_sample(img - fill, grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out + fill


def aug_crop(img, generator=None, fill=0.0, padding=4):
    """Pad each side by ``padding`` (with ``fill``) and cut a random window of the old size."""
    if padding <= 0:
        return img
    b, c, h, w = img.shape
    padded = F.pad(img - fill, (padding, padding, padding, padding)) + fill
    offsets = (_rand((2, b), generator, img.device) * (2 * padding + 1)).long()
    rows = offsets[0, :, None] + torch.arange(h, device=img.device)  # [B, H]
    cols = offsets[1, :, None] + torch.arange(w, device=img.device)  # [B, W]
    bi = torch.arange(b, device=img.device)[:, None, None, None]
    ci = torch.arange(c, device=img.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def aug_jitter(img, generator=None, fill=0.0, brightness=0.2, contrast=0.2, saturation=0.2):
    """Scale brightness, contrast and saturation by random factors in [1-s, 1+s]."""
    if brightness <= 0 and contrast <= 0 and saturation <= 0:
        return img
    b, c = img.shape[:2]
    u = 2 * _rand((3, b), generator, img.device) - 1
    strength = torch.tensor((brightness, contrast, saturation), device=img.device)
    factors = (1 + strength[:, None] * u).to(img.dtype).view(3, -1, 1, 1, 1)
    img = img * factors[0]
    avg = _grey(img).mean(dim=(1, 2, 3), keepdim=True)
    img = (img - avg) * factors[1] + avg
    if c == 3:
        grey = _grey(img)
        img = (img - grey) * factors[2] + grey
    return img.clamp(0.0, 1.0)


def aug_blur(img, generator=None, fill=0.0, p=0.5, sigma_min=0.1, sigma_max=1.0):
    """Gaussian blur of a random width in [sigma_min, sigma_max] (chance ``p``), separable,
    every image with its own kernel in one grouped convolution."""
    if p <= 0:
        return img
    b, c, h, w = img.shape
    radius = max(1, min(math.ceil(2 * sigma_max), max(h, w)))
    u = _rand((2, b), generator, img.device)
    sigma = sigma_min + (sigma_max - sigma_min) * u[0]
    d = torch.arange(-radius, radius + 1, device=img.device, dtype=img.dtype)
    k = torch.exp(-(d[None, :] ** 2) / (2 * sigma[:, None].to(img.dtype) ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [B*C, K]
    flat = F.pad(img.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, k[:, None, None, :], groups=b * c)
    flat = F.conv2d(flat, k[:, None, :, None], groups=b * c)
    return torch.where((u[1] < p)[:, None, None, None], flat.reshape(b, c, h, w), img)


def aug_erase(img, generator=None, fill=0.0, p=0.5, area_min=0.02, area_max=0.2):
    """Fill one random rectangle per image (area share in [area_min, area_max], aspect ratio
    in [0.3, 3.3], chance ``p``) with ``fill``."""
    if p <= 0 or area_max <= 0:
        return img
    b, _, h, w = img.shape
    u = _rand((5, b), generator, img.device)
    area = (area_min + (area_max - area_min) * u[0]) * h * w
    ratio = torch.exp(math.log(0.3) + (math.log(3.3) - math.log(0.3)) * u[1])
    eh = (area * ratio).sqrt().round().clamp(1, h)
    ew = (area / ratio).sqrt().round().clamp(1, w)
    top = (u[2] * (h - eh + 1)).floor()
    left = (u[3] * (w - ew + 1)).floor()
    rows = torch.arange(h, device=img.device)[None, :]
    cols = torch.arange(w, device=img.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])  # [B, H]
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])  # [B, W]
    mask = in_rows[:, :, None] & in_cols[:, None, :] & (u[4] < p)[:, None, None]
    value = torch.as_tensor(fill, dtype=img.dtype, device=img.device)
    return torch.where(mask[:, None], value, img)


def aug_noise(img, generator=None, fill=0.0, std=0.05):
    """Add Gaussian pixel noise of standard deviation ``std``."""
    if std <= 0:
        return img
    return (img + std * _randn(tuple(img.shape), generator, img.device)).clamp(0.0, 1.0)


def augment_batch(x, ops, generator=None, mean=None, std=None):
    """Apply the ops (dicts ``{"op": name, **params}``, params complete) in order to a batch
    ``x`` of ``[B, C, H, W]`` images, normalised with ``mean``/``std`` when these are given."""
    if not ops:
        return x
    table = {"flip": aug_flip, "rotate": aug_rotate, "crop": aug_crop, "jitter": aug_jitter,
             "blur": aug_blur, "erase": aug_erase, "noise": aug_noise}
    if mean is not None and std is not None:
        m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        img, fill = x * s + m, m
    else:
        img, fill = x, 0.0
    for op in ops:
        params = {k: v for k, v in op.items() if k != "op"}
        img = table[op["op"]](img, generator, fill, **params)
    if mean is not None and std is not None:
        return (img - m) / s
    return img


_SOURCE_PARTS = (_rand, _randn, _grey, aug_flip, aug_rotate, aug_crop, aug_jitter, aug_blur,
                 aug_erase, aug_noise, augment_batch)
OP_FUNCTIONS = {"flip": aug_flip, "rotate": aug_rotate, "crop": aug_crop, "jitter": aug_jitter,
                "blur": aug_blur, "erase": aug_erase, "noise": aug_noise}


def pipeline_source(ops, mean=None, std=None) -> str:
    """Standalone Python source (imports math, torch, F) that defines the ops, ``augment_batch``
    and the constants ``AUGMENT``, ``AUGMENT_MEAN``, ``AUGMENT_STD`` for a ``train.py``:
    ``x = augment_batch(x, AUGMENT, generator, AUGMENT_MEAN, AUGMENT_STD)`` on training
    batches only.  ``ops`` may leave params out; they are filled in here."""
    from builder.augment_spec import full_ops

    full = full_ops(ops)
    head = ("import math\n\nimport torch\nimport torch.nn.functional as F\n\n"
            "# Training-time augmentation, batched on the device (from Layerloom).\n")
    body = "\n\n".join(inspect.getsource(f) for f in _SOURCE_PARTS)
    consts = (f"AUGMENT = {full!r}\n"
              f"AUGMENT_MEAN = {tuple(mean) if mean is not None else None!r}\n"
              f"AUGMENT_STD = {tuple(std) if std is not None else None!r}\n")
    return head + "\n\n" + body + "\n\n" + consts
