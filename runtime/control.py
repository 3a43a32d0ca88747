"""Pause, resume, stop, "save a checkpoint now" and live setting changes, asked from another
thread.

The trainer looks at ``Control.pending`` once per step.  That is a plain attribute read (the
GIL makes it atomic), so an idle control costs nothing; only when something was asked does the
trainer take the lock and act.  A paused trainer blocks in ``wait_while_paused`` without
spinning.
"""

from __future__ import annotations

import threading

__all__ = ["Control", "RUNNING", "PAUSED", "STOPPING"]

RUNNING, PAUSED, STOPPING = "running", "paused", "stopping"


class Control:
    """Thread-safe requests to a running trainer (the GUI's buttons, a signal handler)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._state = RUNNING
        self._checkpoint = False
        self._changes: dict = {}  # runtime.adjust changes not yet taken by the trainer
        self.pending = False  # something was asked since the trainer last looked

    @property
    def state(self) -> str:
        return self._state

    def pause(self) -> None:
        self._set(PAUSED, only_from=RUNNING)

    def resume(self) -> None:
        self._set(RUNNING, only_from=PAUSED)

    def stop(self) -> None:
        """Stop after the current step; the trainer saves everything first."""
        self._set(STOPPING)

    def request_checkpoint(self) -> None:
        with self._cond:
            self._checkpoint = True
            self.pending = True
            self._cond.notify_all()

    def adjust(self, changes: dict) -> None:
        """Change live settings (``runtime.adjust``); a paused trainer applies them at once."""
        with self._cond:
            for key, value in changes.items():
                if key in ("lr", "recipe"):  # per network / per param: merged
                    self._changes.setdefault(key, {}).update(value)
                else:
                    self._changes[key] = value
            self.pending = True
            self._cond.notify_all()

    def take_changes(self) -> dict:
        with self._cond:
            changes, self._changes = self._changes, {}
            return changes

    def take(self) -> tuple[str, bool]:
        """(state, checkpoint asked for) — clears ``pending`` and the checkpoint request."""
        with self._cond:
            self.pending = False
            asked, self._checkpoint = self._checkpoint, False
            return self._state, asked

    def wait_while_paused(self, timeout: float | None = None) -> str:
        """Block while paused (or until ``timeout``); returns the state then."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._state != PAUSED or self._checkpoint or self._changes, timeout)
            return self._state

    def _set(self, state: str, only_from: str | None = None) -> None:
        with self._cond:
            if self._state == STOPPING or (only_from and self._state != only_from):
                return  # stopping is final; pausing a paused run does nothing
            self._state = state
            self.pending = True
            self._cond.notify_all()
