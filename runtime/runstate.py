"""Where a run is, and what a checkpoint holds besides the weights.

``Position`` is the run's cursor (step, epoch, batch within the epoch, stage); ``collect`` and
``restore`` turn the trainer's optimizers, schedules, loss scaler, random generators and every
recipe's own state (EMA weights, image pools…) into the plain dict a checkpoint stores, and
back, so ``--resume`` continues exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from runtime.checkpoint import CheckpointError, load_checkpoint, read_meta
from runtime.events import CheckpointSaved
from runtime.recipes.base import Recipe, RecipeError, Stage
from runtime.snapshots import Snapshots

__all__ = ["Position", "Parts", "collect", "restore", "Checkpoints", "resume_meta"]


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


class Checkpoints:
    """The run's last good state: taken at the start, each epoch and stage, on request and
    at the end; rolled back to on a NaN; resumed from."""

    def __init__(self, snapshots: Snapshots, emit: Callable):
        self.snapshots = snapshots
        self.emit = emit

    def take(self, networks: dict[str, nn.Module], parts: Parts, pos: Position,
             meta: dict[str, Any], again: bool = True) -> None:
        """Snapshot (with ``again`` false: unless one was just taken at this very step)."""
        if not again and self.snapshots.step == pos.step:
            return
        folder = self.snapshots.take(networks, collect(parts, pos), {**pos.meta(), **meta})
        if folder is not None:
            self.emit(CheckpointSaved(pos.step, pos.epoch, str(folder)))

    def roll_back(self, networks: dict[str, nn.Module], parts: Parts) -> int:
        """The weights, optimizer and recipe state of the last snapshot; its step."""
        state, meta = self.snapshots.restore(networks)
        restore(parts, state, everything=False)
        return int(meta["step"])

    @staticmethod
    def resume(folder: Path, networks: dict[str, nn.Module], parts: Parts,
               pos: Position) -> dict[str, Any]:
        """Everything of the checkpoint in ``folder`` loaded; its meta (for early stopping).
        Raises CheckpointError with the reason."""
        try:
            state, meta = load_checkpoint(folder, networks)
            restore(parts, state, everything=True)
        except (CheckpointError, RecipeError, KeyError, ValueError, RuntimeError) as e:
            raise CheckpointError(str(e)) from e
        pos.step, pos.epoch = int(meta["step"]), int(meta["epoch"])
        pos.skip = int(meta.get("batch", 0))
        return meta


def resume_meta(folder: Path, stages: list[Stage], recipe: str) -> dict[str, Any]:
    """The checkpoint's meta, checked against this run's stages (it says which stage to
    continue in, so the right trainable set and optimizers exist before loading)."""
    meta = read_meta(folder)
    index = int(meta.get("stage", 0))
    name = meta.get("stage_name", stages[0].name if index == 0 else None)
    if not (0 <= index < len(stages) and stages[index].name == name):
        raise CheckpointError(f"it was saved in stage {index + 1} ({name!r}), which recipe "
                              f"{recipe!r} does not have with these settings")
    return meta
