"""What a run has reported so far, as arrays ready to plot (no Qt here).

Events come in by the hundred per second; ``RunSeries.add`` appends their numbers to growing
numpy buffers (amortised doubling, so a plot's ``setData`` gets a view, never a copied list).
The same object is rebuilt from a finished run's ``metrics.csv`` for the run history.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from runtime.events import (
    ActivationStats,
    EpochSummary,
    GradientStats,
    LearningRate,
    Samples,
    SettingsChanged,
    StageStarted,
    StepMetrics,
    WeightStats,
)

__all__ = ["Growing", "Curve", "RunSeries", "ema", "KINDS"]

KINDS = ("steps", "epochs", "confusion", "lr", "grad", "act", "weights", "samples", "marks")


class Growing:
    """A float64 array that grows at the end."""

    def __init__(self, capacity: int = 256):
        self._a = np.empty(capacity)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self._a):
            self._a = np.resize(self._a, 2 * len(self._a))
        self._a[self.n] = value
        self.n += 1

    @property
    def data(self) -> np.ndarray:
        return self._a[: self.n]

    def __len__(self) -> int:
        return self.n


class Curve:
    """(x, y) points in arrival order."""

    def __init__(self) -> None:
        self.xs, self.ys = Growing(), Growing()

    def add(self, x: float, y: float) -> None:
        self.xs.append(x)
        self.ys.append(y if y is not None else math.nan)

    @property
    def x(self) -> np.ndarray:
        return self.xs.data

    @property
    def y(self) -> np.ndarray:
        return self.ys.data

    def __len__(self) -> int:
        return self.xs.n

    @property
    def last(self) -> float | None:
        return float(self.ys.data[-1]) if self.xs.n else None


def ema(values: np.ndarray, weight: float, start: int = 0, out: np.ndarray | None = None,
        state: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, tuple[float, float]]:
    """TensorBoard's debiased exponential moving average of ``values[start:]`` written into
    ``out`` (grown as needed); NaN and infinities are passed through, not averaged in.
    Returns (out, state) so the next call continues where this one stopped."""
    n = len(values)
    if out is None or len(out) < n:
        grown = np.empty(max(n, 2 * len(out) if out is not None else 256))
        if out is not None:
            grown[: len(out)] = out
        out = grown
    acc, norm = state
    for i in range(start, n):
        v = values[i]
        if math.isfinite(v):
            acc = acc * weight + (1 - weight) * v
            norm = norm * weight + (1 - weight)
            out[i] = acc / norm
        else:
            out[i] = v
    return out, (acc, norm)


_KIND = {StepMetrics: "steps", EpochSummary: "epochs", LearningRate: "lr", GradientStats: "grad",
         ActivationStats: "act", WeightStats: "weights", Samples: "samples",
         SettingsChanged: "marks",
         StageStarted: "marks"}
_SHORT = {"grad_clip": "clip", "l1": "L1", "l2": "L2"}


def _mark_label(changes: dict) -> str:
    """A few words for a plot mark: "lr 0.05 · clip 1"."""
    rates = changes.get("lr", {})
    parts = [f"lr {r:g}" if len(rates) == 1 else f"lr {net} {r:g}" for net, r in rates.items()]
    parts += [f"{_SHORT[k]} {changes[k]:g}" for k in _SHORT if k in changes]
    return " · ".join(parts)


def _trainable(trainable: dict[str, list[str]]) -> str:
    parts = [f"{net}: {', '.join(ids)}" for net, ids in trainable.items() if ids]
    return "; ".join(parts) or "nothing"


class RunSeries:
    """Everything plotted for one run.  Step curves are keyed by metric name; epoch curves
    by ``(split, name)`` with split ``train`` or ``val``; layer curves by network, then by
    canvas node id.  X is the optimisation step everywhere, so all plots line up."""

    def __init__(self) -> None:
        self.step = 0
        self.epoch = 0
        self.steps: dict[str, Curve] = {}
        self.epochs: dict[tuple[str, str], Curve] = {}
        self.lr: dict[str, Curve] = {}
        self.rates: dict[str, float] = {}
        self.grad: dict[str, dict[str, Curve]] = {}
        self.grad_now: dict[str, dict[str, float]] = {}
        self.dead: dict[str, dict[str, Curve]] = {}
        self.act_now: dict[str, tuple[dict, dict, dict]] = {}  # network → (mean, std, dead)
        # The share of near-zero weights: per network and layer, and per network overall.
        self.sparse: dict[str, dict[str, Curve]] = {}
        self.sparse_all: dict[str, Curve] = {}
        self.sparse_below = 0.0  # the magnitude counted as zero
        self.samples: dict[str, Samples] = {}
        self.stage_step = 0  # where the current stage began: older pictures are its past
        # (step, label, tooltip): where the run changed course (live settings, a new stage)
        self.marks: list[tuple[int, str, str]] = []
        self.confusion: np.ndarray | None = None
        self.class_names: tuple[str, ...] = ()
        self.version = 0  # bumped by every add
        # One counter per kind of data, so a panel redraws only when its own data changed.
        self.changes = dict.fromkeys(KINDS, 0)

    def stamp(self, *kinds: str) -> tuple[int, ...]:
        return tuple(self.changes[k] for k in kinds)

    # --- events ------------------------------------------------------------------------
    def add(self, event) -> None:
        self.version += 1
        kind = _KIND.get(type(event))
        if kind is not None:
            self.changes[kind] += 1
        if isinstance(event, StepMetrics):
            self.step, self.epoch = event.step, event.epoch
            for name, value in event.values.items():
                curve = self.steps.get(name)
                if curve is None:
                    curve = self.steps[name] = Curve()
                curve.add(event.step, value)
        elif isinstance(event, EpochSummary):
            for split, values in (("train", event.train), ("val", event.val)):
                for name, value in values.items():
                    self.epochs.setdefault((split, name), Curve()).add(event.step, value)
            if "confusion" in event.extras:
                self.confusion = np.asarray(event.extras["confusion"])
                self.changes["confusion"] += 1
        elif isinstance(event, LearningRate):
            for net, rate in event.rates.items():
                old = self.rates.get(net)
                curve = self.lr.setdefault(net, Curve())
                if old is not None:
                    curve.add(event.step, old)  # a step, not a ramp, between two reports
                curve.add(event.step, rate)
            self.rates = dict(event.rates)
        elif isinstance(event, GradientStats):
            curves = self.grad.setdefault(event.network, {})
            for layer, norm in event.norms.items():
                curves.setdefault(layer, Curve()).add(event.step, norm)
            self.grad_now[event.network] = dict(event.norms)
        elif isinstance(event, ActivationStats):
            curves = self.dead.setdefault(event.network, {})
            for layer, frac in event.dead.items():
                curves.setdefault(layer, Curve()).add(event.step, frac)
            self.act_now[event.network] = (dict(event.mean), dict(event.std), dict(event.dead))
        elif isinstance(event, WeightStats):
            self._sparsity(event.step, event.network, event.sparsity, event.overall)
            self.sparse_below = event.threshold
        elif isinstance(event, Samples):
            self.samples[event.name] = event
        elif isinstance(event, SettingsChanged):
            self._mark(event.step, _mark_label(event.changes), event.message)
        elif isinstance(event, StageStarted):
            self.stage_step = event.step
            self._mark(event.step, f"stage {event.index + 1}: {event.name}",
                       f"stage {event.index + 1} of {event.stages} ({event.recipe}) trains "
                       f"{_trainable(event.trainable)}"
                       + (f" in batches of {event.batch_size}" if event.batch_size else ""))

    def _sparsity(self, step: int, network: str, layers: dict[str, float],
                  overall: float | None) -> None:
        curves = self.sparse.setdefault(network, {})
        for layer, share in layers.items():
            curves.setdefault(layer, Curve()).add(step, share)
        if overall is not None:
            self.sparse_all.setdefault(network, Curve()).add(step, overall)

    def _mark(self, step: int, label: str, tip: str) -> None:
        """Marks at one step share one line (two fields changed while paused)."""
        if self.marks and self.marks[-1][0] == step:
            _, first, first_tip = self.marks[-1]
            self.marks[-1] = (step, f"{first} · {label}", f"{first_tip}; {tip}")
        else:
            self.marks.append((step, label, tip))

    def extend_lr(self) -> None:
        """Carry each learning rate on to the current step (it is reported only when it
        changes)."""
        for net, rate in self.rates.items():
            curve = self.lr.get(net)
            if curve is not None and len(curve) and curve.x[-1] < self.step:
                curve.add(self.step, rate)
                self.changes["lr"] += 1

    # --- what there is to plot ---------------------------------------------------------
    def loss_names(self) -> list[str]:
        names = [n for n in self.steps if n.startswith("loss")]
        names += [n for (_, n) in self.epochs if n.startswith("loss") and n not in names]
        return names

    def metric_names(self) -> list[str]:
        """Non-loss metrics (accuracy, d_real…), auxiliary losses and penalties excluded."""
        seen: list[str] = []
        for name in [*self.steps, *(n for _, n in self.epochs)]:
            if not name.startswith(("loss", "aux/", "lr/", "l1", "l2")) and name not in seen:
                seen.append(name)
        return seen

    # --- from disk ---------------------------------------------------------------------
    @classmethod
    def from_csv(cls, path: str | Path) -> RunSeries:
        """A finished run's curves from its ``metrics.csv`` (runtime.runlog's layout)."""
        series = cls()
        path = Path(path)
        if not path.is_file():
            return series
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                try:
                    step, epoch = int(row["step"]), int(row["epoch"])
                    value = float(row["value"])
                except (KeyError, TypeError, ValueError):
                    continue
                split, name = row.get("split"), row.get("name", "")
                if split == "train" and name.startswith("lr/"):
                    series.lr.setdefault(name[3:], Curve()).add(step, value)
                elif split == "train":
                    series.steps.setdefault(name, Curve()).add(step, value)
                    series.step, series.epoch = max(series.step, step), epoch
                elif split == "train_epoch":
                    series.epochs.setdefault(("train", name), Curve()).add(step, value)
                elif split == "val":
                    series.epochs.setdefault(("val", name), Curve()).add(step, value)
                elif split == "sparsity":  # network/layer, or the network alone: overall
                    net, _, layer = name.partition("/")
                    series._sparsity(step, net, {layer: value} if layer else {},
                                     None if layer else value)
        series.version += 1
        for kind in ("steps", "epochs", "lr", "weights"):
            series.changes[kind] += 1
        return series
