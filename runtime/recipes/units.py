"""A field's values between the standardised units the networks see and the data's own
(pixels in [0, 1]): pictures show what the user's data looks like, and corruption happens in
the data's units.  No recipe here."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from runtime.data.core import DataInfo

__all__ = ["unnormalise", "normalise"]


def _stats(info: DataInfo, field: str, x: Tensor) -> tuple[Tensor, Tensor] | None:
    """(mean, std) shaped to broadcast over ``x``'s channels/features, or None when the
    dataset left the field as it was."""
    stats = info.stats.get(field)
    if stats is None and field == "x" and info.mean is not None:
        stats = (info.mean, info.std)
    return None if stats is None else _on(tuple(map(tuple, stats)), x.device, x.dtype, x.dim())


@lru_cache(maxsize=16)
def _on(stats: tuple, device: torch.device, dtype: torch.dtype, dims: int
        ) -> tuple[Tensor, Tensor]:
    """The statistics as tensors, made once per device: a training step reads them, and a
    copy from the host would make the step wait for the device."""
    shape = (1, -1) + (1,) * (dims - 2)
    return tuple(torch.tensor(s, device=device, dtype=dtype).view(shape) for s in stats)


def unnormalise(info: DataInfo, field: str, x: Tensor) -> Tensor:
    """Back to the data's own units (pixels in [0, 1]) when the dataset standardised the
    field: pictures must show what the user's data looks like."""
    stats = _stats(info, field, x)
    return x if stats is None else x * stats[1] + stats[0]


def normalise(info: DataInfo, field: str, x: Tensor) -> Tensor:
    """The inverse of ``unnormalise``: the data's units to the standardised ones."""
    stats = _stats(info, field, x)
    return x if stats is None else (x - stats[0]) / stats[1]
