"""The real entry point and the crash-recovery offer."""

import gc

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app import application
from app.autosave import Recovery
from app.main_window import MainWindow, run_app
from builder.serialize import load, save


def _windows():
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def test_run_app_opens_the_mlp_example_untitled_and_quits_cleanly(qapp, monkeypatch):
    monkeypatch.setattr(application, "leftovers", lambda: [])
    seen = {}

    def look_and_quit():
        (window,) = [w for w in _windows() if w.isVisible()]
        seen["title"] = window.windowTitle()
        seen["nodes"] = set(window.model.project.networks["main"].nodes)
        seen["path"] = window.model.path
        window.close()
        qapp.quit()

    QTimer.singleShot(300, look_and_quit)
    try:
        assert run_app(None) == 0
    finally:
        gc.unfreeze()
        for w in _windows():
            w.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert seen["path"] is None and seen["title"].startswith("Untitled")
    assert {"x", "hidden1", "logits", "y"} <= seen["nodes"]


def test_offer_recovery_restores_the_autosaved_project(window, tmp_path, monkeypatch):
    project = load("resources/templates/mlp.loom")
    project.networks["main"].nodes["hidden1"].params["units"] = 77
    file = tmp_path / "autosave-999999999.loom"
    save(project, file)
    rec = Recovery(file, str(tmp_path / "mine.loom"), 0.0)
    monkeypatch.setattr(application, "leftovers", lambda: [rec])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    assert application.offer_recovery(window)
    assert window.model.project.networks["main"].nodes["hidden1"].params["units"] == 77
    assert window.model.dirty and window.isWindowModified()
    assert window.windowTitle().startswith("mine.loom")
    assert not file.exists()
