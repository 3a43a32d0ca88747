"""How long a run is and when it looks at itself: batches, epochs, steps and the sampling
cadence, computed once at setup from the settings and the data's size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from builder.document import TrainingSettings
from runtime.recipes.base import RecipeError, Stage
from runtime.stages import stage_epochs

__all__ = ["Plan", "make_plan", "PlanError"]


class PlanError(ValueError):
    """The run cannot be planned (an empty dataset, a stage with no epochs)."""


@dataclass(frozen=True)
class Plan:
    batch_size: int
    drop_last: bool  # a last batch of one sample breaks BatchNorm
    steps_per_epoch: int
    stage_epochs: tuple[int, ...]
    max_steps: int  # 0: no cap
    samples_every: int
    samples_unit: str  # epochs, steps or end

    @property
    def epochs(self) -> int:
        return sum(self.stage_epochs)

    @property
    def total_steps(self) -> int:
        total = self.epochs * self.steps_per_epoch
        return min(total, self.max_steps) if self.max_steps else total

    def stage_steps(self, index: int, begun_at: int) -> int:
        """Planned steps of stage ``index`` begun at step ``begun_at``."""
        planned = self.stage_epochs[index] * self.steps_per_epoch
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
    batch = settings.batch_size if 0 < settings.batch_size < n else n
    drop_last = n > batch and n % batch == 1
    try:
        counts = stage_epochs(stages, settings.epochs if epochs is None else epochs)
    except RecipeError as e:
        raise PlanError(str(e)) from e
    return Plan(batch, drop_last, n // batch if drop_last else math.ceil(n / batch),
                tuple(counts), max_steps or 0, settings.samples_every, settings.samples_unit)
