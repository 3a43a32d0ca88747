"""How long a run is and when it looks at itself: batches, epochs, steps and the sampling
cadence, computed once at setup from the settings and the data's size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from builder.document import TrainingSettings
from runtime.recipes.base import RecipeError, Stage
from runtime.stages import stage_epochs

__all__ = ["Plan", "Batching", "make_plan", "PlanError"]


class PlanError(ValueError):
    """The run cannot be planned (an empty dataset, a stage with no epochs)."""


@dataclass(frozen=True)
class Batching:
    """How one stage cuts an epoch into batches."""

    size: int
    drop_last: bool  # a last batch of one sample breaks BatchNorm
    steps: int  # per epoch

    @classmethod
    def of(cls, n: int, asked: int) -> Batching:
        """Batches of ``asked`` (0 or more than there are: the whole set) over ``n`` samples."""
        size = asked if 0 < asked < n else n
        drop_last = n > size and n % size == 1
        return cls(size, drop_last, n // size if drop_last else math.ceil(n / size))


@dataclass(frozen=True)
class Plan:
    default: Batching  # the training settings' batches
    batching: tuple[Batching, ...]  # per stage: a stage may ask for its own batch size
    stage_epochs: tuple[int, ...]
    max_steps: int  # 0: no cap
    samples_every: int
    samples_unit: str  # epochs, steps or end

    @property
    def batch_size(self) -> int:
        """The training settings' (a stage may have its own)."""
        return self.default.size

    @property
    def steps_per_epoch(self) -> int:
        """In the training settings' batches."""
        return self.default.steps

    @property
    def epochs(self) -> int:
        return sum(self.stage_epochs)

    @property
    def total_steps(self) -> int:
        total = sum(e * b.steps for e, b in zip(self.stage_epochs, self.batching))
        return min(total, self.max_steps) if self.max_steps else total

    def stage_steps(self, index: int, begun_at: int) -> int:
        """Planned steps of stage ``index`` begun at step ``begun_at``."""
        planned = self.stage_epochs[index] * self.batching[index].steps
        return min(planned, self.max_steps - begun_at) if self.max_steps else planned

    def samples_after_step(self, step: int) -> bool:
        return self.samples_unit == "steps" and step % self.samples_every == 0

    def samples_after_epoch(self, epoch: int) -> bool:
        """``epoch``: the 0-based epoch just completed."""
        return self.samples_unit == "epochs" and (epoch + 1) % self.samples_every == 0


def make_plan(n: int, settings: TrainingSettings, stages: Sequence[Stage], epochs: int | None,
              max_steps: int | None) -> Plan:
    if n == 0:
        raise PlanError("the training part of the dataset is empty")
    try:
        counts = stage_epochs(stages, settings.epochs if epochs is None else epochs)
    except RecipeError as e:
        raise PlanError(str(e)) from e
    default = Batching.of(n, settings.batch_size)
    batching = tuple(Batching.of(n, s.batch_size) if s.batch_size else default for s in stages)
    return Plan(default, batching, tuple(counts), max_steps or 0, settings.samples_every,
                settings.samples_unit)
