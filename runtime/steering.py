"""What happens between steps: the step log is flushed (and a NaN in it acted on), the user's
pause, stop, "save a checkpoint" and live setting changes are taken, all of DDP's ranks
agreeing on a stop.  The trainer calls ``flush`` and ``poll``; this never touches a batch."""

from __future__ import annotations

import math
from collections.abc import Callable

from builder.document import TrainingSettings
from runtime import distributed
from runtime.adjust import apply_changes, base_rate, check_changes, set_rate
from runtime.control import PAUSED, RUNNING, STOPPING, Control
from runtime.events import SettingsChanged, Status, Warning
from runtime.failures import Stop
from runtime.optim import group_rate
from runtime.report import Reporter
from runtime.runstate import Position
from runtime.setup import Current
from runtime.steplog import NonFinite

__all__ = ["Steering"]


class Steering:
    """``checkpoint(reason)`` snapshots the run; ``roll_back()`` restores the last snapshot
    and returns its step.  ``pause_on_nan``: roll back and pause (the GUI) rather than fail."""

    def __init__(self, control: Control, reporter: Reporter, emit: Callable,
                 settings: TrainingSettings, dist: distributed.Dist | None, device,
                 pause_on_nan: bool, checkpoint: Callable[[str], None],
                 roll_back: Callable[[], int]):
        self.control, self.reporter, self.emit = control, reporter, emit
        self.settings, self.dist, self.device = settings, dist, device
        self.pause_on_nan = pause_on_nan
        self.checkpoint, self.roll_back = checkpoint, roll_back

    def flush(self, cur: Current, pos: Position) -> None:
        rates = {cur.active.names[r]: group_rate(o.param_groups[0])
                 for r, o in cur.optimizers.items() if o is not None}
        bad = self.reporter.flush(pos.step, rates)
        if self.dist:
            stop = self.control.state == STOPPING
            nan, stop = distributed.any_rank([bad is not None, stop], self.device)
            if nan and bad is None:
                bad = NonFinite(pos.step, pos.epoch, "loss", math.nan, None, None)
            if stop:
                self.control.stop()
        if bad is not None:
            self._nonfinite(bad, cur, pos)

    def _nonfinite(self, bad: NonFinite, cur: Current, pos: Position) -> None:
        if not self.pause_on_nan or self.dist:
            raise Stop("nonfinite", bad.message())
        rates = {r: base_rate(o, cur.schedules.get(r))
                 for r, o in cur.optimizers.items() if o is not None}
        restored = self.roll_back()
        for role, rate in rates.items():  # a rate the user lowered since stays lowered
            set_rate(cur.optimizers[role], cur.schedules.get(role), rate)
        self.emit(Warning(pos.step, "nonfinite", f"{bad.message()} The weights were set back "
                          f"to the last good checkpoint (step {restored}) and training is "
                          "paused: a new learning rate or gradient clipping applies to this "
                          "run at once, so change one and resume, or stop."))
        self.control.pause()

    def poll(self, cur: Current, pos: Position) -> bool:
        """Act on what the control asked; True when the run must stop."""
        state = self._take(cur, pos)
        if state == PAUSED:
            self.flush(cur, pos)
            self.emit(Status(pos.step, PAUSED))
            while state == PAUSED:
                self.control.wait_while_paused()
                state = self._take(cur, pos)
            if state == RUNNING:
                self.emit(Status(pos.step, RUNNING))
        if state == STOPPING:
            self.emit(Status(pos.step, STOPPING))
            return True
        return False

    def _take(self, cur: Current, pos: Position) -> str:
        """The requested state, after saving a checkpoint and applying setting changes if
        they were asked for."""
        state, save = self.control.take()
        changes = self.control.take_changes()
        if changes:
            self._adjust(changes, cur, pos)
        if save:
            self.checkpoint("requested")
        return state

    def _adjust(self, changes: dict, cur: Current, pos: Position) -> None:
        problems = check_changes(changes, cur.active)
        if self.dist:  # one rank's GUI cannot speak for the others
            problems.append("settings cannot change during a distributed run")
        if problems:
            self.emit(Warning(pos.step, "settings", "; ".join(problems)))
            return
        said = apply_changes(changes, self.settings, cur.optimizers, cur.schedules,
                             cur.active.names, cur.ctx, cur.active)
        if said:
            self.emit(SettingsChanged(pos.step, changes, "; ".join(said)))
