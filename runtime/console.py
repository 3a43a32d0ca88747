"""Training progress in a terminal: a live bar on a tty, plain lines otherwise (logs, CI).

An event callback; it never slows the run down: the bar is redrawn at most ten times a
second, and plain mode writes one line per epoch (plus one every ``every_s`` seconds in long
epochs).
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from runtime.events import (
    EpochSummary,
    Failure,
    Finished,
    StageStarted,
    Started,
    Status,
    StepMetrics,
    Warning,
    WeightsLoaded,
)
from runtime.verdict import Recorder, verdict_lines

__all__ = ["Console", "fmt_metrics", "fmt_stage"]


def fmt_metrics(values: dict[str, float], limit: int = 4) -> str:
    shown = [(k, v) for k, v in values.items() if not k.startswith(("aux/", "lr/"))][:limit]
    return " ".join(f"{k} {v:.4g}" for k, v in shown)


def fmt_stage(event: StageStarted, limit: int = 6) -> str:
    """One line per stage: its place, length, recipe and what trains in it."""
    parts = []
    for net, nodes in event.trainable.items():
        shown = ", ".join(nodes[:limit]) + (f" (+{len(nodes) - limit} more)"
                                            if len(nodes) > limit else "")
        parts.append(f"{net}: {shown or 'nothing (frozen)'}")
    return (f"stage {event.index + 1}/{event.stages} {event.name!r} ({event.recipe}): "
            f"{event.epochs} epochs from epoch {event.epoch + 1}"
            + (f" in batches of {event.batch_size}" if event.batch_size else "")
            + "; training " + "; ".join(parts))


class Console:
    def __init__(self, stream: TextIO | None = None, tty: bool | None = None,
                 every_s: float = 10.0, project=None):
        self.stream = stream or sys.stdout
        self.project = project  # the run's project: the verdict reads its block types
        self.recorder = Recorder()  # what the end-of-run verdict reads
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self._total = 0
        self._epochs = 0
        self._last_draw = 0.0
        self._t0 = time.perf_counter()
        self._steps0 = 0
        self._bar_shown = False

    def __call__(self, event) -> None:
        self.recorder(event)
        if isinstance(event, Started):
            self._total, self._epochs = event.total_steps, event.epochs
            self._steps0 = event.start_step
            self._t0 = time.perf_counter()
            where = f"{event.device}" + (f" × {event.world_size} processes"
                                         if event.world_size > 1 else "")
            resumed = f", resuming at step {event.start_step}" if event.start_step else ""
            each = " per process" if event.world_size > 1 else ""
            length = (f"{event.epochs} epochs × {event.steps_per_epoch} steps"
                      if event.epochs * event.steps_per_epoch == event.total_steps
                      else f"{event.epochs} epochs, {event.total_steps} steps")
            self._line(f"training on {where}: {length}, batch {event.batch_size}{each}, "
                       f"{event.train_samples} training"
                       f"{each} / {event.val_samples} validation samples{resumed}")
        elif isinstance(event, StageStarted):
            self._line(fmt_stage(event))
        elif isinstance(event, StepMetrics):
            now = time.perf_counter()
            if self.tty and now - self._last_draw >= 0.1:
                self._last_draw = now
                self._bar(event)
            elif not self.tty and now - self._last_draw >= self.every_s:
                self._last_draw = now
                self._line(f"step {event.step}/{self._total}  {fmt_metrics(event.values)}")
        elif isinstance(event, EpochSummary):
            val = f"  |  val {fmt_metrics(event.val)}" if event.val else ""
            self._line(f"epoch {event.epoch + 1}/{self._epochs}  train "
                       f"{fmt_metrics(event.train)}{val}  ({event.seconds:.1f}s)")
        elif isinstance(event, Warning):
            self._line(f"warning: {event.message}")
        elif isinstance(event, WeightsLoaded):  # what matched, what was skipped and why
            self._line(event.message)
        elif isinstance(event, Failure):
            self._line(f"failed ({event.kind}): {event.message}")
        elif isinstance(event, Status) and event.state == "loading":
            if self.tty:
                self._draw(event.message)
            else:
                self._line(event.message)
        elif isinstance(event, Finished):
            self._line(f"finished ({event.reason}) after {event.step} steps in "
                       f"{event.seconds:.1f}s" + (f": {fmt_metrics(event.final, 6)}"
                                                  if event.final else ""))
            if self.project is not None:  # `layerloom train` gives it; a bare Console is quiet
                self._verdict()

    def _verdict(self) -> None:
        """The plain-language diagnosis of the run (runtime.verdict), one line a finding."""
        self._line("verdict:")
        for line in verdict_lines(self.recorder.facts(self.project)):
            self._line(f"  - {line}")

    def _bar(self, event: StepMetrics) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        done = event.step
        frac = min(1.0, done / self._total) if self._total else 0.0
        rate = (done - self._steps0) / max(1e-9, time.perf_counter() - self._t0)
        bar_w = max(10, min(30, width - 70))
        fill = int(frac * bar_w)
        text = (f"epoch {event.epoch + 1}/{self._epochs} [{'#' * fill}{'.' * (bar_w - fill)}] "
                f"{done}/{self._total} {rate:.0f} steps/s  {fmt_metrics(event.values, 3)}")
        self._draw(text[: width - 1])

    def _draw(self, text: str) -> None:
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self._bar_shown = True

    def _line(self, text: str) -> None:
        if self._bar_shown:
            self.stream.write("\r\x1b[2K")
            self._bar_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()
