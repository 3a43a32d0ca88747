"""Seeded train/validation splits, subsets, and normalisation with training-set statistics.

Splits and subsets of classification data are stratified: every class keeps its share in both
parts, so a small validation set still says something about the rare classes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from runtime.data.core import DataInfo, TensorData

__all__ = ["NORMALISED_KINDS", "normalised_fields", "split_indices", "split", "subset",
           "channel_stats", "normalise"]


def split_indices(
    n: int, val_fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, val) index arrays.  With ``labels``, each class is split separately."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); received {val_fraction}")
    if n < 2 and val_fraction > 0:
        raise ValueError(f"cannot split {n} sample(s) into training and validation parts")
    rng = np.random.default_rng(seed)
    if labels is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(labels).reshape(n, -1)[:, 0]
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    val_parts, train_parts = [], []
    for g in groups:
        g = rng.permutation(g)
        k = int(round(len(g) * val_fraction))
        val_parts.append(g[:k])
        train_parts.append(g[k:])
    val = np.concatenate(val_parts)
    train = np.concatenate(train_parts)
    if val_fraction > 0 and len(val) == 0:
        # Classes too small to give one sample each: take one sample from the pool at random.
        pick = rng.integers(len(train))
        val, train = train[pick : pick + 1], np.delete(train, pick)
    return np.sort(train), np.sort(val)


def _labels(data: TensorData, stratify: str | None) -> np.ndarray | None:
    if stratify is None or stratify not in data:
        return None
    return data[stratify].cpu().numpy()


def split(
    data: TensorData, val_fraction: float, seed: int, stratify: str | None = None
) -> tuple[TensorData, TensorData]:
    """Split ``data`` into (train, val); stratified on field ``stratify`` when given."""
    train, val = split_indices(len(data), val_fraction, seed, _labels(data, stratify))
    return data.subset(torch.from_numpy(train)), data.subset(torch.from_numpy(val))


def subset(data: TensorData, limit: int, seed: int, stratify: str | None = None) -> TensorData:
    """At most ``limit`` samples of ``data`` (all of them when ``limit`` is 0), seeded."""
    if limit <= 0 or limit >= len(data):
        return data
    _, keep = split_indices(len(data), limit / len(data), seed, _labels(data, stratify))
    return data.subset(torch.from_numpy(keep))


def _reduce_dims(x: Tensor, kind: str) -> tuple[int, ...]:
    if kind == "image":
        return (0, 2, 3)  # per channel of [N, C, H, W]
    if kind == "sequence":
        return tuple(range(x.dim() - 1))  # per feature of [N, T, D]
    return (0,)  # per feature of [N, D]


def channel_stats(x: Tensor, kind: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (images) or per-feature mean and std of ``x``.

    A constant feature gets std 1, so normalising leaves it at 0 rather than dividing by 0.
    """
    # Two plain passes, not torch.var_mean: its Welford reduction is 2-3x slower on CPU, and
    # this runs on the whole training set before the first step.  The second pass goes in
    # chunks of samples so that it never holds a second copy of the set.
    x, dims = x.float(), _reduce_dims(x, kind)
    mean = x.mean(dim=dims, keepdim=True)
    squares = sum((part - mean).square_().sum(dim=dims) for part in x.split(4096))
    std = (squares / (x.numel() // mean.numel())).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return tuple(mean.flatten().tolist()), tuple(std.flatten().tolist())


NORMALISED_KINDS = ("vector", "image", "sequence")


def normalised_fields(info: DataInfo) -> list[str]:
    """The fields ``normalise`` standardises: every float input field (vector, image or
    sequence); labels, token ids and regression targets stay as they are."""
    return [name for name, f in info.fields.items()
            if f.kind in NORMALISED_KINDS and f.dtype.startswith(("float", "bfloat"))]


def normalise(
    train: TensorData, val: TensorData, info: DataInfo, fields: list[str] | None = None
) -> tuple[TensorData, TensorData, DataInfo]:
    """Standardise each of ``fields`` (default: ``normalised_fields``) in both parts with
    its own statistics of the training part; ``info.stats`` records them per field, and
    ``info.mean``/``info.std`` those of ``x``."""
    stats = dict(info.stats)
    for name in normalised_fields(info) if fields is None else fields:
        kind = info.fields[name].kind
        mean, std = channel_stats(train[name], kind)
        shape = [1] * train[name].dim()
        shape[1 if kind == "image" else -1] = -1

        def apply(data: TensorData, name=name, mean=mean, std=std, shape=shape) -> TensorData:
            x = data[name]
            m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape)
            s = torch.tensor(std, dtype=x.dtype, device=x.device).view(shape)
            return TensorData({**data.fields, name: x.sub(m).div_(s)})  # one new copy

        train, val = apply(train), apply(val)
        stats[name] = (mean, std)
    x = stats.get("x")
    return train, val, info.with_(stats=stats, mean=x[0] if x else info.mean,
                                  std=x[1] if x else info.std)
