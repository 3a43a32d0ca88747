"""The train/validation pair a dataset loads into, and one way to iterate either part.

In-memory parts (``TensorData``) are batched by indexing on the device.  File-backed parts
(a torch ``Dataset`` of dicts, e.g. an image folder) go through a ``DataLoader`` with worker
processes and pinned memory; their batches are then moved to the device.  Augmentation runs on
the device after either, on training batches only.

A recipe that reads several datasets (source and target, domain A and B) gets one ``Splits``
whose ``others`` hold the further streams: each batch of the primary part comes with a batch
of every other stream under ``<stream>.<field>``, drawn from an iterator of its own that
cycles independently (a smaller stream simply starts over), so the primary stream alone
defines an epoch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from runtime.data.augment import Augment
from runtime.data.core import DataInfo, TensorData

__all__ = ["Splits", "make_loader", "default_workers"]

PARTS = ("train", "val")


def default_workers() -> int:
    """Worker processes for file-backed data: leave one core to the trainer and the GUI."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int | None = None,
    pin_memory: bool | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader for a file-backed dataset, shuffled reproducibly from ``seed``.

    Called from a thread other than the main one (the GUI trains in a worker thread of a Qt
    process), workers are spawned rather than forked: a child forked from a process with
    threads can deadlock on a lock that another thread held.  From the main thread (scripts,
    the CLI) the platform default is kept, so plain scripts need no ``__main__`` guard on
    Linux.  Workers persist across epochs, since starting them costs up to a few seconds.
    """
    workers = default_workers() if num_workers is None else num_workers
    pin = torch.cuda.is_available() if pin_memory is None else pin_memory
    gen = torch.Generator().manual_seed(seed)
    extra: dict = {}
    if workers > 0:
        extra = {"persistent_workers": True, "prefetch_factor": 4}
        if threading.current_thread() is not threading.main_thread():
            extra["multiprocessing_context"] = "spawn"
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=gen,
        num_workers=workers,
        pin_memory=pin,
        drop_last=drop_last,
        **extra,
    )


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


@dataclass
class Splits:
    """A loaded dataset: training and validation parts plus what they hold.

    ``augment`` (images only) is applied by ``batches`` to training batches.
    ``num_workers`` is used for file-backed parts (``None``: ``default_workers()``).
    ``others``: the further data streams a recipe reads, by stream name.
    """

    train: TensorData | Dataset
    val: TensorData | Dataset
    info: DataInfo
    augment: Augment | None = None
    num_workers: int | None = None
    others: dict[str, Splits] = field(default_factory=dict)
    _loaders: dict = field(default_factory=dict, repr=False, compare=False)

    def part(self, name: str) -> TensorData | Dataset:
        if name not in PARTS:
            raise ValueError(f"part must be 'train' or 'val'; received {name!r}")
        return self.train if name == "train" else self.val

    def sizes(self) -> tuple[int, int]:
        return len(self.train), len(self.val)

    def to(self, device: torch.device | str) -> Splits:
        """In-memory parts moved to ``device``; file-backed parts stay where they are."""
        def move(p):
            return p.to(device) if isinstance(p, TensorData) else p

        return Splits(move(self.train), move(self.val), self.info, self.augment, self.num_workers,
                      {name: s.to(device) for name, s in self.others.items()})

    def with_parts(self, train: TensorData | Dataset, val: TensorData | Dataset | None = None,
                   info: DataInfo | None = None) -> Splits:
        """The same splits (augmentation, workers, other streams) over new parts."""
        return replace(self, train=train, val=self.val if val is None else val,
                       info=self.info if info is None else info, _loaders={})

    def batches(
        self,
        part: str,
        batch_size: int,
        *,
        shuffle: bool | None = None,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        augment: bool = True,
    ) -> Iterator[dict[str, Tensor]]:
        """One epoch of ``part`` as dicts of tensors on ``device``.

        Training batches are shuffled and augmented unless told otherwise; validation
        batches come in order and are never augmented.  With other streams, each batch
        also holds one batch of each of them, keyed ``<stream>.<field>``.
        """
        own = self._own_batches(part, batch_size, shuffle, generator, drop_last, device,
                                augment)
        if not self.others:
            yield from own
            return
        streams = {name: s._cycle(part, batch_size, shuffle, generator, device, augment)
                   for name, s in self.others.items()}
        for batch in own:
            merged = dict(batch)
            for name, stream in streams.items():
                merged.update({f"{name}.{k}": v for k, v in next(stream).items()})
            yield merged

    def _cycle(self, part, batch_size, shuffle, generator, device, augment):
        """Batches of ``part`` forever, a new epoch (new order) each time round; full
        batches where the part is big enough, so the streams' batches line up."""
        n = len(self.part(part))
        if n == 0:
            raise ValueError(f"the {part} part of stream {self.info.name!r} is empty")
        size = min(batch_size, n)
        while True:
            yield from self._own_batches(part, size, shuffle, generator, True, device, augment)

    def _own_batches(self, part, batch_size, shuffle, generator, drop_last, device, augment):
        data = self.part(part)
        shuffle = part == "train" if shuffle is None else shuffle
        aug = self.augment if (augment and part == "train") else None
        if isinstance(data, TensorData):
            if device is not None and not _same_device(torch.device(device), data.device):
                raise ValueError(
                    f"the {part} data lives on {data.device}; call splits.to({str(device)!r}) "
                    "once instead of copying every batch"
                )
            source = data.batches(batch_size, shuffle, generator, drop_last)
        else:
            source = self._loader_batches(part, data, batch_size, shuffle, generator, drop_last)
        for batch in source:
            if device is not None:
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            yield aug(batch, generator) if aug is not None else batch

    def _loader_batches(self, part, data, batch_size, shuffle, generator, drop_last):
        key = (part, batch_size, shuffle, drop_last)
        loader = self._loaders.get(key)
        if loader is None:
            seed = 0
            if generator is not None:
                seed = int(torch.randint(0, 2**62, (1,), generator=generator,
                                         device=generator.device))
            loader = make_loader(data, batch_size, shuffle=shuffle, seed=seed,
                                 num_workers=self.num_workers, drop_last=drop_last)
            self._loaders[key] = loader
        return iter(loader)
