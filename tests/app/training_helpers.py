"""Driving live training in the real main window, as a user does: the settings panel's fields,
the toolbar's actions, and waiting (never sleeping blindly) for the plots to fill."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

from app.inspector.param_field import ParamField
from builder.commands import SetProjectField
from builder.document import DatasetConfig, Network

RUN_TIMEOUT = 60_000  # ms; a run here takes a second or two


def wait_for(condition, timeout: int = 30_000) -> None:
    """Process events until ``condition()`` holds (or fail after ``timeout`` ms).

    Not qtbot.waitUntil: once a test has run the application's ``exec`` and quit it (as
    test_startup does with run_app), Qt returns from every later nested event loop at once,
    and pytest-qt's waits, built on one, stop waiting.  processEvents still works."""
    end = time.perf_counter() + timeout / 1000
    wake = QTimer()
    wake.start(20)  # WaitForMoreEvents returns at least this often
    try:
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError(f"still not true after {timeout} ms: {condition}")
            QCoreApplication.processEvents(QEventLoop.AllEvents | QEventLoop.WaitForMoreEvents)
    finally:
        wake.stop()


def pause(ms: int) -> None:
    """Let the event loop run for ``ms`` milliseconds."""
    end = time.perf_counter() + ms / 1000
    wait_for(lambda: time.perf_counter() >= end, ms + 5_000)


def type_into(field: ParamField, text: str) -> None:
    """Type into a generated field and press Enter (its editingFinished commits)."""
    field.editor.setText(text)
    field.editor.editingFinished.emit()


def choose(combo, key) -> None:
    """Pick the item whose data is ``key`` the way a user does (``activated``)."""
    index = combo.findData(key)
    assert index >= 0, f"{key!r} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def set_epochs(window, epochs: int) -> None:
    type_into(window.training.settings.fields["epochs"], str(epochs))
    assert window.model.project.training.epochs == epochs


def curve_points(item) -> int:
    x, _ = item.getData()
    return 0 if x is None else len(x)


def loss_points(window) -> int:
    smoothed = window.training.dock.loss._steps.get("loss")
    return 0 if smoothed is None else max(curve_points(smoothed.smooth),
                                          curve_points(smoothed.raw))


def wait_idle(qtbot, window, timeout: int = RUN_TIMEOUT) -> None:
    wait_for(lambda: not window.training.bridge.active, timeout)


def train(qtbot, window, steps: int | None = None, wait: bool = True) -> None:
    """Press Train (with ``steps`` a capped run, as the screenshot command makes one)."""
    if steps is None:
        window.acts["train_train"].trigger()
    else:
        assert window.training.train(max_steps=steps), window.training.dock.message_text
    assert window.training.bridge.active
    if wait:
        wait_idle(qtbot, window)


def image_npz(path, n: int = 96, size: int = 8, seed: int = 0):
    """Two classes of tiny images: a bright square top-left or bottom-right."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.1, (n, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, n)
    half = size // 2
    for i, k in enumerate(y):
        if k:
            x[i, 0, half:, half:] += 1
        else:
            x[i, 0, :half, :half] += 1
    np.savez(path, x=x, y=y.astype(np.int64))
    return path


def small_cnn(window, npz) -> None:
    """Open a tiny CNN on an 8×8 image npz (``image_npz``) in the window, as one project."""
    net = Network("main")
    net.add("Input", id="image", shape=[1, 8, 8], kind="image")
    net.add("Conv2d", id="conv1", filters=4, kernel=3, padding=1)
    net.add("ReLU", id="relu1")
    net.add("Flatten", id="flat")
    net.add("Linear", id="logits", units=2)
    net.add("Output", id="y")
    net.chain("image", "conv1", "relu1", "flat", "logits", "y")
    project = window.model.project
    project.networks = {"main": net}
    window.model.replace(project)
    window.model.do(SetProjectField("dataset", DatasetConfig("npz", {"path": str(npz),
                                                                     "x_kind": "image"})))


def open_dock(qtbot, width: int, height: int):
    """A TrainingDock of its own, shown at ``width``×``height`` with an empty run, under the
    application's wheel guard as in the editor: what the picture tests feed events to."""
    from app.application import make_app
    from app.training.dock import TrainingDock
    from app.training.series import RunSeries

    make_app()
    dock = TrainingDock()
    qtbot.addWidget(dock)
    dock.resize(width, height)
    dock.show()
    qtbot.waitExposed(dock)
    dock.set_series(RunSeries())
    return dock
