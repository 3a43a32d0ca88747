"""The one Qt bridge to the runtime: the trainer runs in a worker thread, its events reach the
GUI thread as queued signals, coalesced to at most ~30 deliveries a second.

Orange3's shape: ``runtime.trainer.Trainer.fit`` is a plain function with a small state
object (``Control``); this adapter only moves its results across threads.  The worker never
waits for the GUI: its callback appends to a deque (thread-safe, no lock, no signal) and,
for the few events that change the run's state, nudges the GUI thread with one queued
signal.  A ``QTimer`` in the GUI thread drains the deque every ``interval_ms`` and emits
everything that arrived as one ``events`` batch, so plots redraw at a fixed pace whatever
the step rate.  The GUI thread never waits on training, except in ``shutdown`` (closing the
window), which asks for a stop and gives the run a moment to save its checkpoint.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QTimer, Signal

from builder.document import Project
from runtime.control import Control
from runtime.events import Failure, Finished, Started, Status, Warning, WeightsLoaded
from runtime.report import Watch

__all__ = ["TrainingBridge", "GUI_WATCH", "IDLE", "LOADING", "RUNNING", "PAUSED", "STOPPING",
           "share_cores"]

IDLE, LOADING, RUNNING, PAUSED, STOPPING = "idle", "loading", "running", "paused", "stopping"
URGENT = (Started, Status, Warning, WeightsLoaded, Failure, Finished)

# Metrics reach the screen ten times a second (the CLI's default is twice); layer statistics
# keep the runtime's own budget of 1 % of the training time.
GUI_WATCH = Watch(every_s=0.1)


SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


def share_cores() -> int:
    """Make the GUI thread and the training thread good neighbours; returns torch's thread
    count.

    - Leave one CPU core to the interface: torch's intra-op threads spin while they wait,
      and on a small machine a spinning pool starves the GUI thread and itself.
    - Hand the GIL over sooner.  A training step releases the GIL in every torch call and
      takes it back right after; while the GUI thread runs Python (a plot update), each of
      those takes waits up to the interpreter's switch interval (5 ms by default: the
      "convoy effect").  At 0.5 ms both threads keep moving; measured on the benchmark,
      training inside the app goes from ~0.7 to ~0.85-0.9 of its headless speed and the
      GUI's worst latencies shrink.
    """
    import torch

    wanted = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > wanted:
        torch.set_num_threads(wanted)
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)
    return torch.get_num_threads()


class _Relay(QObject):
    """Lives in the GUI thread with no parent, so a late emit from the worker after the
    window is gone finds a live object and no receiver, never a deleted one."""

    wake = Signal()


class TrainingBridge(QObject):
    events = Signal(list)  # every event since the last delivery, in order
    started = Signal(object)  # runtime.events.Started
    state_changed = Signal(str)  # IDLE, LOADING, RUNNING, PAUSED, STOPPING
    warned = Signal(object)  # runtime.events.Warning or WeightsLoaded: a line with .message
    failed = Signal(object)  # runtime.events.Failure
    finished = Signal(object)  # runtime.events.Finished (also after a failure)

    def __init__(self, parent: QObject | None = None, interval_ms: int = 33):
        super().__init__(parent)
        self._inbox: collections.deque = collections.deque()
        self._relay = _Relay()
        self._relay.wake.connect(self.flush, Qt.QueuedConnection)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._extra: list[Callable] = []
        self.control: Control | None = None
        self.trainer = None
        self.state = IDLE
        self.last_finished: Finished | None = None
        self.last_failure: Failure | None = None
        self.deliveries = 0  # how many batches were delivered (tests, the benchmark)

    # --- starting and steering -------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._thread is not None

    def start(self, project: Project, *, run_dir=None, callbacks: Iterable[Callable] = (),
              epochs: int | None = None, max_steps: int | None = None,
              watch: Watch | None = None, device: str | None = None, data=None,
              resume=None) -> bool:
        """Train ``project`` (the caller hands over a copy it will not touch again).
        ``callbacks`` also receive every event, in the worker thread (a metrics writer)."""
        if self.active:
            return False
        from runtime.trainer import Trainer  # torch loads with the first run, not at start-up

        share_cores()
        self.control = Control()
        self._extra = list(callbacks)
        self._done.clear()
        self._inbox.clear()
        self.last_finished = self.last_failure = None
        self.trainer = Trainer(project, data=data, callback=self._receive, control=self.control,
                               device=device, run_dir=run_dir, watch=watch or GUI_WATCH,
                               resume=resume, on_nonfinite="pause")
        self._thread = threading.Thread(target=self._work, args=(self.trainer, epochs, max_steps),
                                        name="layerloom-training", daemon=True)
        self._set_state(LOADING)
        self._timer.start()
        self._thread.start()
        return True

    def pause(self) -> None:
        if self.control is not None:
            self.control.pause()

    def resume(self) -> None:
        if self.control is not None:
            self.control.resume()

    def stop(self) -> None:
        if self.control is not None and self.active:
            self.control.stop()
            if self.state != IDLE:
                self._set_state(STOPPING)

    def adjust(self, changes: dict) -> None:
        """Live setting changes (``runtime.adjust``) for the running or paused run."""
        if self.control is not None and self.active and changes:
            self.control.adjust(changes)

    def request_checkpoint(self) -> None:
        if self.control is not None:
            self.control.request_checkpoint()

    def shutdown(self, timeout: float = 15.0) -> bool:
        """Stop the run and wait for it to save and end (closing the window).  True when the
        worker ended in time; the events that were still queued are delivered."""
        thread = self._thread
        if thread is None:
            return True
        self.stop()
        thread.join(timeout)
        ended = not thread.is_alive()
        self.flush()
        return ended

    def wait(self, timeout: float) -> bool:
        """Block until the worker ends (tests and the screenshot command only)."""
        return self._done.wait(timeout)

    # --- the worker thread -----------------------------------------------------------------
    def _work(self, trainer, epochs, max_steps) -> None:
        try:
            trainer.fit(epochs=epochs, max_steps=max_steps)
        except BaseException as e:  # fit reports its own failures; this is a last resort
            self._inbox.append(Failure(trainer.step, "error", f"{type(e).__name__}: {e}",
                                       traceback.format_exc()))
            self._inbox.append(Finished(trainer.step, trainer.epoch, "failed", 0.0))
        finally:
            for callback in self._extra:
                close = getattr(callback, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:  # noqa: BLE001 - a writer's trouble must not hang the run
                        pass
            self._done.set()
            self._nudge()

    def _receive(self, event) -> None:
        for callback in self._extra:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - e.g. a full disk: the run and plots go on
                pass
        self._inbox.append(event)
        if isinstance(event, URGENT):
            self._nudge()

    def _nudge(self) -> None:
        try:
            self._relay.wake.emit()
        except RuntimeError:  # the interface is gone (interpreter shutting down)
            pass

    # --- the GUI thread --------------------------------------------------------------------
    def flush(self) -> None:
        """Deliver what arrived since the last flush (the timer and the nudges call this)."""
        inbox = self._inbox
        events = []
        while inbox:
            events.append(inbox.popleft())
        if events:
            self.deliveries += 1
            self.events.emit(events)
            for event in events:
                self._lifecycle(event)
        if self._done.is_set() and not inbox and self._thread is not None:
            self._thread.join(1.0)
            self._thread = None
            self._timer.stop()
            self._set_state(IDLE)

    def _lifecycle(self, event) -> None:
        if isinstance(event, Started):
            self._set_state(RUNNING)
            self.started.emit(event)
        elif isinstance(event, Status):
            if event.state in (RUNNING, PAUSED, STOPPING):
                if not (self.state == STOPPING and event.state != STOPPING):
                    self._set_state(event.state)
        elif isinstance(event, (Warning, WeightsLoaded)):  # what to tell the user, as it is
            self.warned.emit(event)
        elif isinstance(event, Failure):
            self.last_failure = event
            self.failed.emit(event)
        elif isinstance(event, Finished):
            self.last_finished = event
            self.finished.emit(event)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)


def wait_until_idle(bridge: TrainingBridge, timeout: float) -> bool:
    """Process events until the bridge has delivered its run's end (the screenshot command,
    the benchmark); True when it did within ``timeout`` seconds.

    Waits in ``processEvents(WaitForMoreEvents)`` rather than a nested ``QEventLoop.exec``:
    once an application's ``exec`` has been quit, Qt makes every later nested loop return
    at once, and this must work after that too.  The bridge's own timer wakes it."""
    end = time.perf_counter() + timeout
    flags = QEventLoop.AllEvents | QEventLoop.WaitForMoreEvents
    while bridge.active and time.perf_counter() < end:
        QCoreApplication.processEvents(flags)
    return not bridge.active
