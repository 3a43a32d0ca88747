"""End-of-epoch work: validation over the whole validation part, early stopping, samples."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from runtime.devices import autocast
from runtime.events import Warning
from runtime.recipes.base import Recipe, eval_mode

__all__ = ["eval_mode", "validate", "take_samples", "EarlyStopping"]


def validate(recipe: Recipe, data, batch_size: int, device: torch.device | None,
             amp: tuple[torch.device, bool]) -> tuple[dict[str, float], dict]:
    """The recipe's metrics over the whole validation part (additive totals, then summary).
    ``device`` is where batches must be copied (None: the data already lives there)."""
    if len(data.val) == 0:
        return {}, {}
    totals: dict[str, torch.Tensor] = {}
    count = 0
    with eval_mode(recipe.nets.values()), torch.no_grad(), autocast(*amp):
        for batch in data.batches("val", batch_size, device=device):
            for k, v in recipe.eval_batch(batch).items():
                totals[k] = totals[k] + v if k in totals else v
            count += next(iter(batch.values())).shape[0]
        return recipe.eval_summary(totals, count)


def take_samples(recipe: Recipe, data, step: int, epoch: int) -> list:
    """The recipe's sample events; a failing picture becomes a warning, never a failed run."""
    try:
        with eval_mode(recipe.nets.values()), torch.no_grad():
            return list(recipe.samples(data, step, epoch))
    except Exception as e:
        return [Warning(step, "samples", f"samples failed: {type(e).__name__}: {e}")]


class EarlyStopping:
    """Tracks the recipe's monitored validation metric; keeps the best weights (on the CPU)
    when ``patience`` is set, so stopping can hand back the best model, not the last."""

    def __init__(self, monitor: tuple[str, str] | None, patience: int):
        self.monitor = monitor
        self.patience = patience
        self.best: float | None = None
        self.since = 0
        self._weights: dict[str, dict] | None = None

    def update(self, metrics: dict[str, float], nets: dict[str, nn.Module]
               ) -> tuple[bool, bool]:
        """(this epoch is the best so far, stop now)."""
        if self.monitor is None:
            return False, False
        name, mode = self.monitor
        value = metrics.get(name)
        if value is None or not math.isfinite(value):
            return False, False
        if self.best is None or (value < self.best if mode == "min" else value > self.best):
            self.best, self.since = value, 0
            if self.patience:
                self._weights = {r: {k: v.detach().to("cpu", copy=True)
                                     for k, v in m.state_dict().items()}
                                 for r, m in nets.items()}
            return True, False
        self.since += 1
        return False, 0 < self.patience <= self.since

    def restore_best(self, nets: dict[str, nn.Module]) -> bool:
        if self._weights is None:
            return False
        for role, state in self._weights.items():
            nets[role].load_state_dict(copy.deepcopy(state))
        return True

    def state(self) -> dict:
        return {"best": self.best, "since_best": self.since}

    def load(self, meta: dict) -> None:
        self.best, self.since = meta.get("best"), int(meta.get("since_best", 0))
