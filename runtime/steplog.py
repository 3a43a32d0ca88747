"""Per-step metrics kept on the device and read back in one copy per reporting interval.

Each step's metrics (0-d tensors) are kept as detached views, which costs no kernel at all;
``drain`` stacks everything buffered into one tensor and copies it to the host at once.
Every step still gets its own ``StepMetrics`` event, so loss curves keep full resolution
while the GPU never waits for the host.  ``drain`` also finds the first step whose loss is
NaN or infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from runtime.events import StepMetrics

__all__ = ["StepLog", "NonFinite"]


@dataclass(frozen=True)
class NonFinite:
    """The first step whose loss was NaN or ±inf, and the last finite loss before it."""

    step: int
    epoch: int
    name: str
    value: float
    last_finite: float | None
    last_finite_step: int | None

    def message(self) -> str:
        what = "NaN" if math.isnan(self.value) else "infinite"
        last = (f"the last finite {self.name} was {self.last_finite:.6g} at step "
                f"{self.last_finite_step}" if self.last_finite is not None
                else f"no finite {self.name} was seen before")
        return (f"{self.name} became {what} at step {self.step} (epoch {self.epoch + 1}); "
                f"{last}. Try a smaller learning rate, gradient clipping, or normalised inputs.")


class StepLog:
    def __init__(self) -> None:
        self.keys: tuple[str, ...] = ()
        self._rows: list[Tensor] = []  # every step's values, flattened
        self._where: list[tuple[int, int]] = []  # (step, epoch) of each row
        self._last: dict[str, tuple[float, int]] = {}  # loss name → (last finite, step)
        self._pending: list[StepMetrics] = []  # read early because the keys changed
        self._pending_bad: NonFinite | None = None

    def __len__(self) -> int:
        return len(self._where)

    def add(self, step: int, epoch: int, values: dict[str, Tensor]) -> None:
        keys = tuple(values)
        if keys != self.keys:
            if self._where:
                events, bad = self._read()
                self._pending += events
                self._pending_bad = self._pending_bad or bad
            self.keys = keys
        self._rows += [v.detach() for v in values.values()]
        self._where.append((step, epoch))

    def drain(self) -> tuple[list[StepMetrics], NonFinite | None]:
        """Every buffered step as an event (one host copy), and the first non-finite loss."""
        events, bad = self._read()
        events, self._pending = self._pending + events, []
        bad, self._pending_bad = self._pending_bad or bad, None
        return events, bad

    def _read(self) -> tuple[list[StepMetrics], NonFinite | None]:
        if not self._where:
            return [], None
        rows = self._rows
        if all(v.dtype == torch.float32 and v.dim() == 0 for v in rows):
            flat = torch.stack(rows).tolist()  # the common case: one kernel for the lot
        else:  # an int, half or [1]-shaped metric
            flat = torch.stack([v.float().reshape(()) for v in rows]).tolist()
        k = len(self.keys)
        table = [flat[i:i + k] for i in range(0, len(flat), k)]
        where, self._rows, self._where = self._where, [], []
        losses = [i for i, k in enumerate(self.keys) if k.startswith("loss")]
        events, bad = [], None
        for (step, epoch), row in zip(where, table):
            events.append(StepMetrics(step, epoch, dict(zip(self.keys, row))))
            if bad is not None:
                continue
            for i in losses:
                v, name = row[i], self.keys[i]
                if math.isfinite(v):
                    self._last[name] = (v, step)
                elif bad is None:
                    last = self._last.get(name)
                    bad = NonFinite(step, epoch, name, v, last[0] if last else None,
                                    last[1] if last else None)
        return events, bad
