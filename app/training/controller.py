"""Training in the main window: the actions, the bridge, the run folder, the dock, the
settings panel, the canvas colours and the read-only editor while a run uses the graph.

The run trains a deep copy of the project, saved first as the run folder's ``project.loom``;
the document itself is only locked against graph edits (and says so), never read by the
worker thread."""

from __future__ import annotations

import copy
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMenu, QMessageBox, QToolBar

from app.links import node_names
from app.training.bridge import IDLE, LOADING, PAUSED, RUNNING, STOPPING, TrainingBridge
from app.training.canvas_heat import CanvasHeat
from app.training.dock import TrainingDock
from app.training.export_dialog import weights_folder
from app.training.filters import first_conv, read_filters
from app.training.graph_diff import diff_networks
from app.training.plots.prompt_box import PromptSampler
from app.training.runs import RunRecord, RunStore
from app.training.runs_panel import RunsPanel
from app.training.series import RunSeries
from app.training.settings_panel import TrainingSettingsPanel
from app.training.sweep_dialog import open_sweep
from app.training.toolbar import make_actions
from builder.names import attr_names
from builder.serialize import dumps
from builder.training import batch_mode
from runtime.adjust import changes_between, live_values
from runtime.events import (
    ActivationStats,
    CheckpointSaved,
    GradientStats,
    SettingsChanged,
    Started,
    Status,
)
from runtime.events import Warning as RunWarning

__all__ = ["TrainingController", "LOCK_MESSAGE"]

LOCK_MESSAGE = "The graph is read-only while it trains: stop the run to edit it."
HEAT_INTERVAL = 0.5  # seconds between two colourings of the canvas


class TrainingController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.model = window.model
        self.bridge = TrainingBridge(self)
        self.store = RunStore(self.model.path)
        self.series = RunSeries()
        self.record: RunRecord | None = None
        window.inspector.run_here.weights_source = self.latest_weights
        self.started: Started | None = None
        self._t_start = 0.0
        self._step_start = 0
        self._detail_at = 0.0
        self._heat_at, self._heat_due = 0.0, False
        self._checkpoint_asked = False
        self._detached = False  # the running run belongs to a project no longer open
        self._rolled_back = False  # this run had a NaN and was set back (a warning says so)
        self._filters: list[tuple[str, str]] = []
        self._pending_move = False
        self.heat = CanvasHeat(window)

        self.runs = RunsPanel(self.store, self._live_series)
        self.dock = TrainingDock(self.runs)
        self.dock.project_text = self.runs.project_text = lambda: dumps(self.model.project)
        self.dock.node_names = lambda: node_names(self.model.project)
        self.settings = TrainingSettingsPanel(self.model)
        self.acts = make_actions(window, self)
        self.toolbar = QToolBar("Training", window)
        self.toolbar.setObjectName("Training toolbar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        for key in ("train", "pause", "resume", "stop", "checkpoint", None, "export"):
            if key is None:
                self.toolbar.addSeparator()
            else:
                self.toolbar.addAction(self.acts[key])
        window.addToolBar(Qt.TopToolBarArea, self.toolbar)

        b = self.bridge
        b.events.connect(self._on_events)
        b.state_changed.connect(self._on_state)
        b.warned.connect(self._on_warning)
        b.failed.connect(self._on_failed)
        b.finished.connect(self._on_finished)
        self.dock.canvas_mode_changed.connect(lambda mode: self.heat.set_mode(mode, self.series))
        self.dock.details_requested.connect(self._show_details)
        self.dock.node_requested.connect(window.go_to)
        self.dock.recipe_setting_changed.connect(
            lambda name, value: self.bridge.adjust({"recipe": {name: value}}))
        # The Samples tab's prompt box, answered off the GUI thread as `layerloom sample` does.
        self.prompts = PromptSampler(lambda: self.store, lambda: self.model.project, self)
        self.dock.prompt_requested.connect(self.prompts.request)
        self.prompts.answered.connect(self.dock.samples.show_answer)
        self.prompts.failed.connect(self.dock.samples.prompt_failed)
        self.runs.diff_requested.connect(self.heat.show_diff)
        self.runs.marks_cleared.connect(lambda: self.heat.set_mode(self.heat.mode, self.series))
        self.model.replaced.connect(self._on_replaced)
        self.model.state_changed.connect(self._on_model_state)
        self.model.changed.connect(self._send_live_settings)
        self._live: dict | None = None  # the live settings the running trainer has
        self._on_state(IDLE)

    # --- docks (the window places them) ----------------------------------------------------
    def place_docks(self) -> None:
        w = self.window
        self.train_dock = w.add_dock("Training", self.dock, Qt.BottomDockWidgetArea)
        self.settings_dock = w.add_dock("Training setup", self.settings, Qt.RightDockWidgetArea)
        problems = next(d for d in w.docks if d.objectName() == "Problems")
        inspector = next(d for d in w.docks if d.objectName() == "Inspector")
        w.tabifyDockWidget(problems, self.train_dock)
        w.tabifyDockWidget(inspector, self.settings_dock)
        inspector.raise_()
        self.train_dock.raise_()
        w.resizeDocks([self.train_dock], [400], Qt.Vertical)
        w.docks += [self.train_dock, self.settings_dock]
        menu = QMenu("&Training", w)
        w.menuBar().insertMenu(w.help_menu.menuAction(), menu)  # before Help, as is usual
        for key in ("train", "pause", "resume", "stop", "checkpoint", None, "export"):
            menu.addSeparator() if key is None else menu.addAction(self.acts[key])
        menu.addAction("S&weep…", lambda: open_sweep(w)).setStatusTip(
            "Train the project once per combination of settings and compare the runs")
        from app.training.variant_view import install as install_variants

        self.variants_action = install_variants(w, menu)
        menu.addSeparator()
        menu.addAction(self.train_dock.toggleViewAction())
        menu.addAction(self.settings_dock.toggleViewAction())
        self.menu = menu

    # --- actions ---------------------------------------------------------------------------
    def train(self, max_steps: int | None = None, epochs: int | None = None) -> bool:
        if self.bridge.active:
            return False
        errors = [p for p in self.model.all_problems() if p.severity == "error"]
        if errors:
            where = f"{errors[0].node}: " if errors[0].node else ""
            self.dock.show_message(
                f"The graph has {len(errors)} problem{'s' * (len(errors) != 1)} to fix before "
                f"it can train — {where}{errors[0].message}", "error")
            self.train_dock.raise_()
            return False
        project = copy.deepcopy(self.model.project)
        try:
            self.record = self.store.create(project)
        except OSError as e:
            self.dock.show_message(f"Cannot create the run folder: {e}", "error")
            return False
        from runtime.runlog import MetricsWriter

        writer = MetricsWriter(self.record.folder)
        self.series = RunSeries()
        self.started = None
        self._detached = self._rolled_back = False
        self._fit_dock(project)
        self.dock.set_series(self.series)
        self.dock.clear_message()
        self.dock.set_progress(0, 1)
        self.heat.set_mode(self.heat.mode, None)
        self._filters = [(name, node) for name, net in project.networks.items()
                         if (node := first_conv(net)) is not None][:1]
        self.model.set_locked(LOCK_MESSAGE)
        self._live = live_values(project)
        self.bridge.start(project, run_dir=self.record.folder, callbacks=[writer],
                          max_steps=max_steps, epochs=epochs)
        self.runs.reload()
        self.runs.set_checked([self.record.name])
        self.dock.note(f"run {self.record.label} started in {self.record.folder}")
        self.train_dock.raise_()
        return True

    def pause(self) -> None:
        self.bridge.pause()

    def resume(self) -> None:
        self.dock.clear_message()  # why it paused is answered; the Log tab keeps it
        self.bridge.resume()

    def stop(self) -> None:
        self.bridge.stop()

    def _send_live_settings(self, _change=None) -> None:
        """A training setting was edited (or undone): the learning rates, clipping and
        L1/L2 go to the running run at once (``runtime.adjust``)."""
        if not self.bridge.active or self._live is None:
            return
        now = live_values(self.model.project)
        changes = changes_between(self._live, now)
        if changes:
            self._live = now
            self.bridge.adjust(changes)

    def save_checkpoint(self) -> None:
        self._checkpoint_asked = True
        self.bridge.request_checkpoint()

    def latest_weights(self, network: str) -> Path | None:
        """The weights of the latest run that trained ``network`` as it is on the canvas
        now (a run of another graph would not fit it; moved blocks do not count); None:
        there is none."""
        now = self.model.project.networks[network]
        for r in reversed(self.store.records()):
            trained = r.project()
            if trained is not None and network in trained.networks and \
                    diff_networks(trained.networks[network], now).empty:
                return weights_folder(r.folder, [network])
        return None

    def show_export(self):
        from app.training.export_dialog import ExportDialog

        dialog = ExportDialog(self.model.project, self.store, self.window,
                              current=self.record.name if self.record else None)
        dialog.show()
        self.export_dialog = dialog
        return dialog

    def shutdown(self, timeout: float = 15.0) -> bool:
        """Closing the window: stop the run and let it save its checkpoint and weights."""
        if not self.bridge.active:
            return True
        ended = self.bridge.shutdown(timeout)
        if not ended and self.record is not None:
            self.record.status = "stopped"
            self.record.save()
        return ended

    def use_temporary_runs(self) -> None:
        """Keep runs in a temporary folder (the screenshot command, benchmarks)."""
        self.store = RunStore(None)
        self.store.pinned = True
        self.runs.set_store(self.store)

    # --- from the bridge -------------------------------------------------------------------
    def _live_series(self, name: str) -> RunSeries | None:
        return self.series if self.record is not None and name == self.record.name else None

    def _on_warning(self, warning) -> None:
        if self._detached:
            return
        if isinstance(warning, RunWarning) and warning.code == "nonfinite":
            self._rolled_back = True
        self.dock.show_message(warning.message, "warning")

    def _on_events(self, events: list) -> None:
        if self._detached:  # a run of the project that was closed, still winding down
            return
        series = self.series
        layers = False
        checkpoint = None
        for event in events:
            series.add(event)
            if isinstance(event, (GradientStats, ActivationStats)):
                layers = True
            elif isinstance(event, Started):
                self.started = event
                self._t_start, self._step_start = time.perf_counter(), event.start_step
            elif isinstance(event, CheckpointSaved):
                checkpoint = event
                if self._checkpoint_asked:
                    self._checkpoint_asked = False
                    text = f"checkpoint saved at step {event.step} in {event.path}"
                    self.dock.note(text)
                    self.window.say(text.capitalize(), 6000)
            elif isinstance(event, SettingsChanged):
                self.dock.note(f"step {event.step}: {event.message}")
                self.window.say(f"Applied to the run: {event.message}",
                                                    6000)
            elif isinstance(event, Status) and event.state == "loading":
                self.dock.set_state(LOADING, event.message)
        if checkpoint is not None and self._filters:  # the latest epoch's weights only
            net, node = self._filters[0]
            network = self.model.project.networks.get(net)
            attr = attr_names(network.nodes).get(node, node) if network else node
            weight = read_filters(checkpoint.path, net, attr)
            if weight is not None:
                self.dock.filters.show_weights(node, weight, checkpoint.epoch)
        self.dock.refresh()
        now = time.perf_counter()
        if layers:
            self._heat_due = True
        if self._heat_due and now - self._heat_at >= HEAT_INTERVAL * self.dock.pace:
            self._heat_due, self._heat_at = False, now  # the canvas is recoloured twice a
            self.heat.apply(series)  # second at most: repainting a big graph is not free
        self._update_detail()

    def _update_detail(self, force: bool = False) -> None:
        """The progress bar and the line beside it, four times a second at most."""
        s = self.started
        now = time.perf_counter()
        if s is None or (not force and now - self._detail_at < 0.25):
            return
        self._detail_at = now
        done = self.series.step
        rate = (done - self._step_start) / max(1e-6, time.perf_counter() - self._t_start)

        self.dock.set_progress(done, s.total_steps)
        self.dock.detail.setText(
            f"epoch {min(self.series.epoch + 1, s.epochs)}/{s.epochs} · step {done}/"
            f"{s.total_steps} · {rate:.0f} steps/s · {s.device} · "
            f"{batch_mode(s.batch_size, s.train_samples)} gradient descent (batch {s.batch_size})")

    def _on_state(self, state: str) -> None:
        busy = state != IDLE
        if state == PAUSED:
            self.dock.refresh(force=True)  # what was throttled is drawn while nothing moves
            self._update_detail(force=True)
        self.acts["train"].setEnabled(not busy)
        self.acts["pause"].setEnabled(state == RUNNING)
        self.acts["resume"].setEnabled(state == PAUSED)
        self.acts["stop"].setEnabled(state in (LOADING, RUNNING, PAUSED))
        self.acts["checkpoint"].setEnabled(state in (RUNNING, PAUSED))
        last = self.bridge.last_finished
        if state == IDLE and last is not None:
            words = {"completed": "Finished", "max_steps": "Finished", "stopped": "Stopped",
                     "early_stopping": "Stopped early", "failed": "Failed"}
            self.dock.set_state("failed" if last.reason == "failed" else state,
                                text=words.get(last.reason, "Finished"))
        else:
            self.dock.set_state(state)
        self.settings.set_running(busy)
        banner = getattr(self.window, "banner", None)
        if busy:
            what = {LOADING: "Preparing the run", RUNNING: "Training", PAUSED: "Paused",
                    STOPPING: "Stopping"}.get(state, "Training")
            text = f"{what} — {LOCK_MESSAGE}"
            if banner is not None:
                banner.setText(text)
                banner.show()
        else:
            self.model.set_locked("")
            if banner is not None:
                banner.hide()
            if self._pending_move:
                self._pending_move = False
                self._on_model_state()
        for view in self.window.views.values():
            view.scene().set_read_only(busy)
        self.window.inspector.set_read_only(busy)

    def _on_failed(self, failure) -> None:
        self.dock.show_message(f"Training failed ({failure.kind}): {failure.message}", "error",
                               details=bool(failure.detail))
        if self.record is not None:
            self.record.message = failure.message

    def _show_details(self) -> None:
        failure = self.bridge.last_failure
        box = QMessageBox(QMessageBox.Warning, "Training failed",
                          failure.message if failure else self.dock.message_text,
                          QMessageBox.Close, self.window)
        if failure is not None and failure.detail:
            box.setDetailedText(failure.detail)
        box.open()

    def _on_finished(self, finished) -> None:
        r = self.record
        if r is not None:
            r.status, r.steps, r.epochs = finished.reason, finished.step, finished.epoch
            r.seconds, r.final = finished.seconds, dict(finished.final)
            r.save()
        if self._detached:  # its record is saved; the dock shows the new project
            self.record = None
            return
        self.series.extend_lr()
        self.dock.settle()
        self.heat.apply(self.series)
        self._update_detail(force=True)
        self.runs.reload()
        if finished.reason != "failed":
            final = " · ".join(f"{k} {v:.4g}" for k, v in list(finished.final.items())[:4])
            text = (f"Finished ({finished.reason.replace('_', ' ')}) after {finished.step} steps "
                    f"in {finished.seconds:.1f} s" + (f": validation {final}" if final else "")
                    + (f". Weights and checkpoint are in {r.folder}" if r else ""))
            if self._rolled_back:  # the NaN warning stays on screen; this goes to the log
                self.dock.note(text)
            else:
                self.dock.show_message(text, "info")

    # --- the document ------------------------------------------------------------------------
    def _on_replaced(self) -> None:
        """Another project was opened: a run of the old one stops; its history is left."""
        if self.bridge.active:
            self.bridge.stop()
        self._pending_move = False
        self.prompts.forget()
        self.store = RunStore(self.model.path)
        self.runs.set_store(self.store)
        self.heat.clear()
        # Nothing of the old project's run stays on screen (its titles, bars, pictures).
        self._detached = self.bridge.active
        self.record = None if not self._detached else self.record
        self.series, self.started = RunSeries(), None
        self.dock.set_series(self.series)
        self.dock.clear_message()
        self.dock.set_progress(0, 1)
        self.dock.detail.setText("")
        self.dock.set_state(IDLE)
        self._fit_dock(self.model.project)
        busy = self.bridge.active
        for view in self.window.views.values():
            view.scene().set_read_only(busy)

    def _fit_dock(self, project) -> None:
        self.dock.fit_to(confusion=project.recipe.name == "classification",
                         filters=any(first_conv(net) is not None
                                     for net in project.networks.values()))

    def _on_model_state(self) -> None:
        """The project was saved under a (new) name: the run history follows it."""
        path = self.model.path
        if path is None or self.store.follows(path):
            return
        if self.bridge.active:
            self._pending_move = True
            return
        self.store.move_to(path)
        self.runs.set_store(self.store)
