"""Where a run is, and what a checkpoint holds besides the weights.

``Position`` is the run's cursor (step, epoch, batch within the epoch, stage); ``collect`` and
``restore`` turn the trainer's optimizers, schedules, loss scaler, random generators and every
recipe's own state (EMA weights, image pools…) into the plain dict a checkpoint stores, and
back, so ``--resume`` continues exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from runtime.recipes.base import Recipe

__all__ = ["Position", "Parts", "collect", "restore"]


@dataclass
class Position:
    step: int = 0  # optimisation steps done
    epoch: int = 0  # the current epoch, 0-based
    batch: int = 0  # batches done in the current epoch
    stage: int = 0
    stage_epoch: int = 0  # the epoch the current stage began at
    stage_step: int = 0  # the step the current stage began at
    skip: int = 0  # batches still to skip when resuming mid-epoch
    epoch_rng: torch.Tensor | None = None  # the data order's random state at epoch start

    def meta(self) -> dict[str, int]:
        return {"step": self.step, "epoch": self.epoch, "batch": self.batch,
                "stage": self.stage, "stage_epoch": self.stage_epoch,
                "stage_step": self.stage_step}


@dataclass
class Parts:
    """The trainer's stateful pieces a checkpoint covers, besides the networks."""

    optimizers: dict[str, torch.optim.Optimizer | None]
    schedules: dict[str, Any]
    scaler: torch.amp.GradScaler | None
    data_gen: torch.Generator
    noise_gen: torch.Generator
    recipes: list[Recipe]


def collect(parts: Parts, position: Position) -> dict[str, Any]:
    # Mid-epoch, the data order is replayed from the epoch's first random state.
    rng = position.epoch_rng if position.batch and position.epoch_rng is not None \
        else parts.data_gen.get_state()
    return {
        "optimizers": {r: o.state_dict() for r, o in parts.optimizers.items() if o},
        "schedules": {r: s.state_dict() for r, s in parts.schedules.items()},
        "scaler": parts.scaler.state_dict() if parts.scaler else {},
        "data_rng": rng,
        "noise_rng": parts.noise_gen.get_state(),
        "recipes": {str(i): r.state_dict() for i, r in enumerate(parts.recipes)},
    }


def restore(parts: Parts, state: dict[str, Any], everything: bool) -> None:
    """Load ``state`` into ``parts``: optimizers and recipe state always (a NaN roll-back
    too); schedules, scaler and generators only when ``everything`` (a resume)."""
    for role, opt in parts.optimizers.items():
        if opt is not None and role in state["optimizers"]:
            opt.load_state_dict(state["optimizers"][role])
    saved = state.get("recipes", {})
    for i, recipe in enumerate(parts.recipes):
        recipe.load_state_dict(saved.get(str(i), {}))
    if everything:
        for role, sched in parts.schedules.items():
            if role in state["schedules"]:
                sched.load_state_dict(state["schedules"][role])
        if parts.scaler and state["scaler"]:
            parts.scaler.load_state_dict(state["scaler"])
        parts.data_gen.set_state(state["data_rng"])
        parts.noise_gen.set_state(state["noise_rng"])
