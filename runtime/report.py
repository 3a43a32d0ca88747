"""From device-side buffers to events, once per reporting interval.

The step loop hands every step's metrics to ``Reporter.add`` (no host work) and asks
``measuring`` whether this step should gather layer statistics.  ``flush`` then copies what
was buffered to the host in one go and emits the events: every step's metrics, gradient and
activation statistics with the weights' sparsity beside them, and the learning rate when it
changed.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from runtime.events import ActivationStats, GradientStats, LearningRate, WeightStats
from runtime.sparsity import WeightSparsity
from runtime.stats import LayerStats
from runtime.steplog import NonFinite, StepLog

__all__ = ["Watch", "Reporter"]

_NOTHING = contextlib.nullcontext()
MAX_GAP = 1000  # steps: even an expensive measurement is taken now and then


@dataclass
class Watch:
    """How closely the run is watched, and what watching may cost.

    Metrics and statistics are delivered every ``every_s`` seconds, or every ``every_steps``
    steps when that is set (always under DDP, where all ranks must flush together).  Layer
    statistics are measured on a sample of steps (stride 0: never): at least ``stride`` steps
    and ``stats_every_s`` seconds apart, and further apart still when a measured step takes
    so much longer than a plain one that measuring would cost more than ``budget`` of the
    training time (big activations on a slow device).  ``exact`` (the ``stats_every``
    training setting, through ``every``): exactly every ``stride`` steps whatever the cost,
    each measurement delivered at once as a snapshot of its own.
    """

    every_s: float = 0.5
    every_steps: int = 0
    stride: int = 10
    stats_every_s: float = 0.05
    budget: float = 0.01
    gradients: bool = True
    activations: bool = True
    samples: bool = True
    exact: bool = False

    def every(self, steps: int) -> Watch:
        """This watch measuring layer statistics exactly every ``steps`` steps; 0: as it is."""
        if steps <= 0:
            return self
        return replace(self, stride=steps, stats_every_s=0.0, exact=True)


class Reporter:
    def __init__(self, watch: Watch, stats: dict[str, LayerStats], emit: Callable,
                 every_steps: int, step: int):
        self.watch = watch
        self.stats = stats
        self.emit = emit
        self.log = StepLog()
        self.every_steps = every_steps
        self.stride = watch.stride if stats else 0
        self._last_flush = time.perf_counter()
        self._last_measure, self._next_measure = -math.inf, step + self.stride
        self._plain: float | None = None  # typical seconds of a step, and the extra a
        self._extra: float | None = None  # measured one takes (moving averages)
        self._lr_sent: dict[str, float] = {}
        self._measured = False  # exact sampling: a measurement waits to be delivered
        self.sums: dict[str, float] = {}
        self.count = 0
        self._sparsity: dict[LayerStats, WeightSparsity] = {}  # per stage's statistics

    def start_epoch(self) -> None:
        self.sums, self.count = {}, 0

    def epoch_means(self) -> dict[str, float]:
        return {k: v / self.count for k, v in self.sums.items()} if self.count else {}

    def measuring(self, step: int) -> bool:
        """Whether ``step`` gathers layer statistics (see ``Watch``)."""
        if self.stride and self.watch.exact:
            hit = step % self.stride == 0
            self._measured = self._measured or hit
            return hit
        if not self.stride or step < self._next_measure:
            return False
        now = time.perf_counter()
        if now - self._last_measure < self.watch.stats_every_s:
            return False
        self._last_measure, self._next_measure = now, step + self._gap()
        return True

    def timed(self, measuring: bool, seconds: float) -> None:
        """How long a step took on the host (no sync: on a GPU this is its launch time,
        which a full queue ties to the device's pace)."""
        if measuring:
            if self._plain is not None:
                extra = max(0.0, seconds - self._plain)
                self._extra = extra if self._extra is None else 0.5 * (self._extra + extra)
        else:
            self._plain = seconds if self._plain is None else 0.9 * self._plain + 0.1 * seconds

    def _gap(self) -> int:
        if not self._extra or not self._plain:
            return self.stride
        wanted = self._extra / (self.watch.budget * self._plain)
        return max(self.stride, min(MAX_GAP, math.ceil(wanted)))

    def watching(self, measuring: bool):
        """Activation hooks on every network for a measured step."""
        if not measuring:
            return _NOTHING
        stack = contextlib.ExitStack()
        for stats in self.stats.values():
            stack.enter_context(stats.watching_activations())
        return stack

    def due(self, step: int) -> bool:
        if self._measured:  # same steps on every rank: DDP flushes together
            self._measured = False
            self._last_flush = time.perf_counter()
            return True
        if self.every_steps:
            return step % self.every_steps == 0
        now = time.perf_counter()
        if now - self._last_flush < self.watch.every_s:
            return False
        self._last_flush = now
        return True

    def flush(self, step: int, rates: dict[str, float]) -> NonFinite | None:
        """Emit everything buffered; returns the first non-finite loss, if any."""
        events, bad = self.log.drain()
        for event in events:
            for k, v in event.values.items():
                self.sums[k] = self.sums.get(k, 0.0) + v
            self.count += 1
            self.emit(event)
        for stats in self.stats.values():
            report = stats.report()
            if report:
                norms, acts = report
                if norms:
                    self.emit(GradientStats(step, stats.network, norms))
                if acts["mean"]:
                    self.emit(ActivationStats(step, stats.network, acts["mean"], acts["std"],
                                              acts["dead"]))
                self._weights(step, stats)
        if rates != self._lr_sent:
            self._lr_sent = rates
            self.emit(LearningRate(step, rates))
        return bad

    def _weights(self, step: int, stats: LayerStats) -> None:
        """The weights' sparsity, measured as often as the layer statistics are reported."""
        if stats not in self._sparsity:  # a new stage rebuilt the statistics
            self._sparsity = {s: self._sparsity.get(s) or WeightSparsity(s.network, s.module)
                              for s in self.stats.values()}
        sparsity = self._sparsity[stats]
        measured = sparsity.measure()
        if measured is not None:
            self.emit(WeightStats(step, stats.network, *measured, sparsity.below))
