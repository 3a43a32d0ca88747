"""What a training run tells the world: plain dataclass events through one callback.

The trainer never prints and never touches Qt.  The GUI turns these events into signals in
one bridge; the CLI prints them and writes them to ``metrics.csv`` / ``metrics.jsonl``.
Numbers are Python floats and arrays are numpy arrays, so an event is safe to hand to another
thread: it shares no tensor with the training loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np

__all__ = [
    "Event",
    "Callback",
    "Started",
    "StageStarted",
    "StepMetrics",
    "EpochSummary",
    "LearningRate",
    "GradientStats",
    "ActivationStats",
    "WeightStats",
    "Samples",
    "Status",
    "CheckpointSaved",
    "Warning",
    "SettingsChanged",
    "WeightsLoaded",
    "summarise_keys",
    "Failure",
    "Finished",
    "FINISH_REASONS",
    "to_json",
]


@dataclass(frozen=True)
class Started:
    """The run is set up: where it runs and how long it will be."""

    device: str
    networks: dict[str, str]  # role → network name
    epochs: int
    steps_per_epoch: int
    total_steps: int  # the planned number of steps (epochs × steps, capped by max_steps)
    batch_size: int
    train_samples: int
    val_samples: int
    world_size: int = 1
    start_step: int = 0  # > 0 when the run resumed from a checkpoint
    amp: bool = False


@dataclass(frozen=True)
class StageStarted:
    """A stage of a staged recipe begins (or, on resume, continues); only recipes that
    declare stages send it.  ``trainable``: network → the canvas node ids that train in
    this stage (the others are frozen)."""

    step: int  # the step the stage began at (before a resumed run's current one)
    epoch: int  # the epoch the stage began at, 0-based
    index: int  # 0-based, of ``stages``
    name: str
    trainable: dict[str, list[str]]
    epochs: int  # how many epochs the stage lasts
    stages: int = 1
    recipe: str = ""  # the recipe doing the step in this stage
    batch_size: int = 0  # the stage's own batch size; 0: the training settings'


@dataclass(frozen=True)
class StepMetrics:
    """The recipe's metrics of one training step (``loss`` and friends, auxiliary losses
    under ``aux/<node>``, penalties as ``l1``/``l2``)."""

    step: int  # 1-based: the number of optimisation steps done
    epoch: int  # 0-based
    values: dict[str, float]


@dataclass(frozen=True)
class EpochSummary:
    """Means over one epoch of training steps and over the whole validation part."""

    epoch: int
    step: int
    train: dict[str, float]
    val: dict[str, float]
    seconds: float
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. confusion matrix
    best: bool = False  # the monitored validation metric improved


@dataclass(frozen=True)
class LearningRate:
    step: int
    rates: dict[str, float]  # network → learning rate


@dataclass(frozen=True)
class GradientStats:
    """L2 norm of the gradient of each layer (canvas node id), averaged over the sampled steps
    since the previous report: the vanishing/exploding-gradient picture."""

    step: int
    network: str
    norms: dict[str, float]


@dataclass(frozen=True)
class ActivationStats:
    """Mean and std of each layer's output, and for ReLU-like layers the fraction of units that
    stayed at zero for a whole batch ("dead"), averaged over the sampled steps."""

    step: int
    network: str
    mean: dict[str, float]
    std: dict[str, float]
    dead: dict[str, float]


@dataclass(frozen=True)
class WeightStats:
    """The share of each layer's weights (matrices and kernels, what the L1/L2 penalties act
    on) whose magnitude is below ``threshold``, and of all of them (``overall``): the
    sparsity an L1 penalty brings (``runtime.sparsity``), reported with the layer
    statistics."""

    step: int
    network: str
    sparsity: dict[str, float]
    overall: float
    threshold: float


@dataclass(frozen=True)
class Samples:
    """Something to look at, one view of the dock's pictures (``name`` is its title).

    kind and data:
    ``images``: [N, C, H, W] floats in [0, 1]; ``extra["cols"]`` lays them out in rows of
    that many (a traversal grid, noisy | reconstruction | clean triplets), ``labels`` a caption
    per image, ``extra["rows"]`` / ``extra["columns"]`` captions per row / column;
    ``extra["prompt"]`` (a string, maybe "") marks a grid that answers prompts (the Samples
    tab's prompt box asks ``layerloom sample`` for another), ``extra["prompt_hint"]`` an example;
    ``extra["figures"]`` {name: value} are printed by ``layerloom sample`` (prompt accuracy).
    ``points``: [N, 2]; ``labels`` class ids colour them, ``extra["names"]`` names the classes.
    ``curve``: [N, 2] of x, y (``extra["x_label"]``, ``extra["y_label"]``); ``extra["series"]``
    {name: [M, 2]} more lines with a legend, ``extra["name"]`` the first's (NaN rows break one).
    ``bars``: [K] values, ``labels`` K names; ``extra["reference"]`` draws a level line
    (a sparsity target ρ).
    ``histogram``: a list of 1-D arrays, one per group, ``labels`` the group names;
    ``extra["highlight"]`` the index of the group to stand out (a held-out class).
    ``heatmap``: [H, W] with ``extra["extent"]`` (and optionally ``extra["paths"]``, name → [M, 2]
    points drawn as lines over it).  ``text``: a list of strings.
    ``tree``: a list of dicts (``labels`` text per node, ``left``/``right`` child indices or -1,
    ``root``, ``values`` a number per node or None), ``labels`` a caption per tree,
    ``extra["predicted"]`` / ``extra["truth"]`` the answer at each root (``classes``: ids).
    ``matrix``: [R, C] values, ``extra["rows"]`` / ``extra["columns"]`` their names (an
    attention map: output steps × source steps), ``extra["levels"]`` the colour range.
    ``embedding``: [N, D] word vectors, ``labels`` the N words; ``extra["analogies"]``
    (a, b, c, d) questions, ``extra["groups"]`` a family name per word ("" for none)."""

    step: int
    epoch: int
    name: str
    kind: str
    data: Any
    labels: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    """The run's state changed: ``running``, ``paused`` or ``stopping``."""

    step: int
    state: str
    message: str = ""


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    epoch: int
    path: str


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the name the app's bridge and docs use
    """Something the user should know that does not end the run (``code`` is stable)."""

    step: int
    code: str
    message: str


@dataclass(frozen=True)
class SettingsChanged:
    """Live settings changed during the run (``runtime.adjust``): ``changes`` as asked,
    ``message`` what changed in words."""

    step: int
    changes: dict[str, Any]
    message: str


@dataclass(frozen=True)
class WeightsLoaded:
    """A network started from saved weights (an event; the CLI prints ``message``)."""

    network: str
    source: str
    matched: list[str]
    skipped: dict[str, str]  # key → why (shape mismatch)
    new: list[str]  # keys of the network the file does not have
    unused: list[str]  # keys of the file the network does not have

    @property
    def message(self) -> str:
        parts = [f"network {self.network!r} starts from {self.source}: "
                 f"{len(self.matched)} of {len(self.matched) + len(self.skipped) + len(self.new)}"
                 f" tensors loaded ({summarise_keys(self.matched)})"]
        if self.skipped:
            parts.append("skipped: " + "; ".join(f"{k} ({why})" for k, why in
                                                 self.skipped.items()))
        if self.new:
            parts.append(f"new, freshly initialised: {summarise_keys(self.new)}")
        if self.unused:
            parts.append(f"unused in the file: {summarise_keys(self.unused)}")
        return "; ".join(parts)


def summarise_keys(keys: list[str]) -> str:
    """State-dict keys summarised by node: ``conv1, fc1`` for conv1.weight, conv1.bias,
    fc1.weight."""
    seen = dict.fromkeys(k.split(".", 1)[0] for k in keys)
    return ", ".join(seen) if seen else "none"


@dataclass(frozen=True)
class Failure:
    """The run cannot go on.  ``kind``: dataset, recipe, setup, oom, nonfinite, error."""

    step: int
    kind: str
    message: str
    detail: str = ""  # the traceback, for a "details" fold-out; never shown by default


FINISH_REASONS = ("completed", "max_steps", "early_stopping", "stopped", "failed")


@dataclass(frozen=True)
class Finished:
    step: int
    epoch: int
    reason: str  # one of FINISH_REASONS
    seconds: float
    final: dict[str, float] = field(default_factory=dict)  # the last validation metrics
    checkpoint: str = ""  # where the last good checkpoint is ("" when no run folder)


Event = (Started | StageStarted | StepMetrics | EpochSummary | LearningRate | GradientStats
         | ActivationStats | Samples | Status | CheckpointSaved | Warning | SettingsChanged
         | WeightsLoaded | Failure | Finished)
Callback = Callable[[Any], None]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


def to_json(event: Any) -> dict[str, Any]:
    """A JSON-ready dict of ``event`` with its type under ``"event"`` (snake_case)."""
    if not is_dataclass(event):
        raise TypeError(f"not an event: {event!r}")
    name = type(event).__name__
    kind = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    out = {"event": kind}
    out.update({f.name: _plain(getattr(event, f.name)) for f in fields(event)})
    return out

