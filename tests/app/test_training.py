"""Live training from the toolbar of the real main window: plots fill, pause, resume, stop,
the read-only graph, failures that leave the app usable, closing during a run."""

import json
import time

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from training_helpers import (
    choose,
    curve_points,
    loss_points,
    pause,
    set_epochs,
    train,
    type_into,
    wait_for,
    wait_idle,
)

from app.canvas.node_item import NodeItem


def test_train_pause_resume_stop_from_the_toolbar(window, qtbot):
    t = window.training
    set_epochs(window, 2000)  # longer than the test: it is stopped by hand
    assert window.model.document.undo_text == "Change training"
    started = time.perf_counter()
    train(qtbot, window, wait=False)
    assert window.acts["train_train"].isEnabled() is False
    wait_for(lambda: loss_points(window) > 0, 30_000)
    wait_for(lambda: bool(t.dock.bars.norms), 30_000)  # per-layer gradient bars
    assert set(t.dock.bars.norms) == {"hidden1", "hidden2", "logits"}  # canvas names
    wait_for(lambda: t.dock.picture.shown == "plane", 30_000)
    scene = window.current_view().scene()
    wait_for(lambda: scene.nodes["hidden1"].overlay is not None, 30_000)
    assert scene.nodes["hidden1"].overlay_text.startswith("‖∇‖")
    view = window.current_view()
    legend = view.heat_legend
    assert legend.isVisible()
    # In the bottom-left corner, clear of the graph's start (before: over the first blocks).
    assert legend.geometry().bottom() > view.viewport().height() - 20
    first = view.mapFromScene(scene.nodes["x"].sceneBoundingRect()).boundingRect()
    assert not legend.geometry().intersects(first)
    assert scene.nodes["relu1"].overlay is None  # no weights, no gradient norm

    window.acts["train_pause"].trigger()
    wait_for(lambda: t.bridge.state == "paused", 10_000)
    assert window.acts["train_resume"].isEnabled() and not window.acts["train_pause"].isEnabled()
    step = t.series.step
    pause(300)
    assert t.series.step == step, "a paused run does not step"
    window.acts["train_checkpoint"].trigger()  # saving while paused works too
    window.acts["train_resume"].trigger()
    wait_for(lambda: t.series.step > step, 10_000)
    window.acts["train_stop"].trigger()
    wait_idle(qtbot, window)

    # At most ~30 deliveries a second, whatever the step rate.
    assert t.bridge.deliveries <= 32 * (time.perf_counter() - started) + 2
    record = t.runs.records[-1]
    assert record.status == "stopped" and record.steps == t.series.step
    meta = json.loads((record.folder / "checkpoint" / "meta.json").read_text())
    assert meta["step"] == record.steps  # the checkpoint is the run's last step
    assert (record.folder / "main.safetensors").is_file()
    assert (record.folder / "metrics.csv").read_text().count("\n") > 10
    assert (record.folder / "project.loom").is_file()
    assert window.acts["train_train"].isEnabled()
    assert "Stopped" in t.dock.state_label.text()


def test_the_graph_is_read_only_while_it_trains(window, qtbot):
    view = window.current_view()
    set_epochs(window, 2000)
    train(qtbot, window, wait=False)
    assert window.banner.isVisible() and "read-only" in window.banner.text()
    assert window.model.locked
    view.scene().select_nodes(["relu1"])
    assert not view.delete_selection()
    assert "relu1" in window.model.project.networks["main"].nodes
    assert not view.scene().nodes["relu1"].flags() & NodeItem.ItemIsMovable
    assert not window.inspector.form_host.isEnabled()
    assert window.training.settings.note.isVisible()  # settings apply to the next run
    window.training.stop()
    wait_idle(qtbot, window)
    assert not window.banner.isVisible() and not window.model.locked
    assert view.delete_selection()
    assert "relu1" not in window.model.project.networks["main"].nodes


def test_a_run_that_diverges_says_so_and_pauses(window, qtbot):
    t = window.training
    editor = t.settings.optimizers["main"]
    choose(editor.combo, "sgd")
    type_into(editor.fields["lr"], "1e6")
    opt = window.model.project.training.optimizers["main"]
    assert (opt.name, opt.lr) == ("sgd", 1e6)
    train(qtbot, window, wait=False)
    wait_for(lambda: "NaN" in t.dock.message_text or "infinite" in t.dock.message_text, 30_000)
    assert "learning rate" in t.dock.message_text
    wait_for(lambda: t.bridge.state == "paused", 10_000)
    t.stop()
    wait_idle(qtbot, window)
    assert "NaN" in t.dock.message_text or "infinite" in t.dock.message_text
    assert window.acts["train_train"].isEnabled() and not window.model.locked


def test_after_a_divergence_a_lower_rate_applies_to_the_paused_run(window, qtbot):
    t = window.training
    editor = t.settings.optimizers["main"]
    choose(editor.combo, "sgd")
    type_into(editor.fields["lr"], "1e6")
    set_epochs(window, 1000)
    train(qtbot, window, wait=False)
    wait_for(lambda: t.bridge.state == "paused", 30_000)
    assert "apply to it at once" in t.settings.note.text() and t.settings.note.isVisible()
    type_into(editor.fields["lr"], "0.05")  # what the message says to do, in the same form
    type_into(t.settings.fields["grad_clip"], "1")
    wait_for(lambda: "gradient clipping off → 1" in t.dock.log.toPlainText(), 10_000)
    assert "learning rate of main 1e+06 → 0.05" in t.dock.log.toPlainText()
    assert t.bridge.trainer.optimizers["model"].param_groups[0]["lr"] == 0.05
    paused_at = t.bridge.trainer.step
    window.acts["train_resume"].trigger()
    assert not t.dock.message_text  # the question the message asked is answered
    wait_for(lambda: t.bridge.trainer.step > paused_at + 20, 30_000)
    t.dock.refresh(force=True)
    marks = t.dock.loss._marks  # a dashed line on the loss plot where the change came in
    assert [m.label.toPlainText() for m in marks] == ["lr 0.05 · clip 1"]
    assert marks[0].value() <= paused_at
    t.stop()
    wait_idle(qtbot, window)
    assert window.model.project.training.optimizers["main"].lr == 0.05  # the form kept it


def test_a_dataset_error_is_shown_and_the_app_stays_usable(window, qtbot):
    t = window.training
    choose(t.settings.dataset.combo, "csv")  # a CSV file, but none chosen yet
    assert window.model.project.dataset.name == "csv"
    train(qtbot, window)
    assert "Training failed (dataset)" in t.dock.message_text
    assert "choose" in t.dock.message_text
    assert t.dock.details_button.isVisible()
    assert t.runs.records[-1].status == "failed"
    assert "Failed" in t.dock.state_label.text()
    window.model.undo()  # back to the spirals: training works again
    assert window.model.project.dataset.name == "spirals"
    train(qtbot, window, steps=40)
    assert t.bridge.last_finished.reason == "max_steps"
    assert loss_points(window) > 0


def test_a_graph_with_errors_is_not_sent_to_train(window, qtbot):
    view = window.current_view()
    view.scene().select_nodes(["relu1"])
    assert view.delete_selection()  # hidden1 and hidden2 are no longer connected
    assert not window.training.train()
    assert "problem" in window.training.dock.message_text
    assert not window.training.bridge.active


def test_closing_the_window_during_a_run_stops_it_and_keeps_the_checkpoint(qtbot):
    from app.main_window import MainWindow, make_app

    make_app()
    w = MainWindow(autosave=False)
    w.files.ask_save = lambda: "discard"
    w.files.new_from_template(confirm=False)
    w.show()
    set_epochs(w, 2000)
    train(qtbot, w, wait=False)
    wait_for(lambda: loss_points(w) > 0, 30_000)
    record = w.training.record
    w.close()
    assert not w.training.bridge.active
    meta = json.loads((record.folder / "checkpoint" / "meta.json").read_text())
    info = json.loads((record.folder / "run.json").read_text())
    assert info["status"] == "stopped" and meta["step"] == info["steps"] > 0
    assert (record.folder / "main.safetensors").is_file()
    w.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def test_layers_and_samples_tabs_fill_from_the_same_run(window, qtbot):
    t = window.training
    train(qtbot, window, steps=120)
    t.dock.tabs.setCurrentIndex(1)
    wait_for(lambda: bool(t.dock.grad_history._curves), 5_000)
    assert all(curve_points(c) for c in t.dock.grad_history._curves.values())
    assert set(layer for _, layer in t.dock.dead._curves) == {"relu1", "relu2"}
    assert curve_points(next(iter(t.dock.lr._curves.values()))) >= 2
    t.dock.tabs.setCurrentIndex(2)
    assert t.dock.confusion.matrix is not None and t.dock.confusion.matrix.shape == (3, 3)
    # The canvas can show dead units instead of gradients, and nothing.
    choose(t.dock.canvas_mode, "dead")
    scene = window.current_view().scene()
    assert scene.nodes["relu1"].overlay_text.endswith("dead")
    assert scene.nodes["hidden1"].overlay is None
    choose(t.dock.canvas_mode, "off")
    assert all(item.overlay is None for item in scene.nodes.values())
