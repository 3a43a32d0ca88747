"""What a loaded dataset is: field descriptions, in-memory tensor data, and the train/val pair.

In-memory data is a dict of equal-length tensors that moves wholly to the device; a batch is
then one indexing operation on the device, so a training step does no host work at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "FIELD_KINDS",
    "TASKS",
    "FieldInfo",
    "DataInfo",
    "TensorData",
    "randperm",
]

# What one field of a sample is.  ``index`` fields hold positions into another field of the same
# sample (the child pointers of an expression tree), -1 meaning "none".
FIELD_KINDS = ("vector", "image", "sequence", "tokens", "label", "target", "index")
TASKS = ("classification", "regression", "multilabel", "generative", "sequence", "language")


@dataclass(frozen=True)
class FieldInfo:
    """One field of every sample: its per-sample shape (batch excluded), kind and dtype."""

    shape: tuple[int, ...]
    kind: str
    dtype: str
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"field kind must be one of {', '.join(FIELD_KINDS)}: {self.kind!r}")


@dataclass(frozen=True)
class DataInfo:
    """Everything a recipe or the GUI needs to know about a loaded dataset.

    ``mean``/``std`` are the per-channel (images) or per-feature (vectors, sequences)
    statistics of field ``x`` computed on the training split and already applied to both
    splits; ``None`` when the data was left as generated.  ``stats`` holds them for every
    standardised field (all float inputs, not only ``x``).  ``vocab[i]`` is the text of token i.
    ``extra`` holds dataset-specific facts documented by each dataset (special token ids, the
    tree encoding, feature names of a CSV...).
    """

    name: str
    task: str
    fields: dict[str, FieldInfo]
    num_classes: int | None = None
    class_names: tuple[str, ...] = ()
    vocab: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # field → (mean, std) per channel/feature, for every field that was standardised
    stats: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}: {self.task!r}")

    def with_(self, **changes: Any) -> DataInfo:
        return replace(self, **changes)


def _dtype_name(t: Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


class TensorData:
    """A dict of equal-length tensors by field name (``x`` inputs, ``y`` targets...)."""

    def __init__(self, fields: Mapping[str, Tensor]):
        if not fields:
            raise ValueError("a dataset needs at least one field")
        lengths = {name: int(t.shape[0]) for name, t in fields.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"all fields must hold the same number of samples: {lengths}")
        devices = {t.device for t in fields.values()}
        if len(devices) != 1:
            raise ValueError(f"all fields must live on one device: {sorted(map(str, devices))}")
        self.fields: dict[str, Tensor] = dict(fields)
        self._n = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> Tensor:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def keys(self):
        return self.fields.keys()

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={list(v.shape[1:])}:{_dtype_name(v)}" for k, v in self.items())
        return f"TensorData(n={self._n}, {parts}, device={self.device})"

    def items(self):
        return self.fields.items()

    @property
    def device(self) -> torch.device:
        return next(iter(self.fields.values())).device

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TensorData:
        """The whole dataset on ``device`` (a new object; this one is unchanged)."""
        device = torch.device(device)
        if device.type == "cuda" and self.device.type == "cpu" and non_blocking:
            # A non-blocking copy is only asynchronous from pinned memory.
            return TensorData(
                {k: v.pin_memory().to(device, non_blocking=True) for k, v in self.items()}
            )
        return TensorData({k: v.to(device) for k, v in self.items()})

    def subset(self, index: Tensor) -> TensorData:
        index = index.to(self.device)
        return TensorData({k: v[index] for k, v in self.items()})

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        if drop_last:
            return self._n // batch_size
        return math.ceil(self._n / batch_size)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[dict[str, Tensor]]:
        """Mini-batches as dicts of tensors, one epoch; every sample appears exactly once
        (the last short batch is skipped when ``drop_last``).  Shuffling draws one
        permutation on the data's device from ``generator``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; received {batch_size}")
        n = self._n
        if not shuffle:
            stop = n - n % batch_size if drop_last else n
            for start in range(0, stop, batch_size):
                yield {k: v[start : start + batch_size] for k, v in self.items()}
            return
        order = randperm(n, generator, self.device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            # index_select is a dedicated gather: on CPU it is ~3x faster than v[idx],
            # whose generic advanced-indexing path costs more than a small model's step.
            yield {k: v.index_select(0, idx) for k, v in self.items()}


def randperm(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """A permutation on ``device`` drawn from ``generator``, wherever the generator lives.

    torch wants a generator on the tensor's device; a CPU generator with GPU data costs one
    small copy per epoch instead of an error.
    """
    gen_device = generator.device if generator is not None else device
    perm = torch.randperm(n, generator=generator, device=gen_device)
    return perm.to(device, non_blocking=True)
