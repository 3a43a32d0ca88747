"""GUI tests run offscreen against the real main window, with settings in a temp folder."""

import os
import tempfile

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import
os.environ["LAYERLOOM_CONFIG_DIR"] = tempfile.mkdtemp(prefix="layerloom-test-config-")
os.environ["LAYERLOOM_LIBRARY"] = tempfile.mkdtemp(prefix="layerloom-test-library-")

import pytest  # noqa: E402
from PySide6.QtCore import QEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


@pytest.fixture
def window(qtbot):
    """The main window with the MLP example open, as a user starts."""
    from app.main_window import MainWindow, make_app

    make_app()
    w = MainWindow(autosave=False)
    w.files.ask_save = lambda: "discard"  # never block on a modal question
    w.files.show_error = lambda title, message: w.errors.append(message)
    w.errors = []
    w.files.new_from_template(confirm=False)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.fit_all()
    yield w
    w.model.document.mark_clean()
    w.close()
    w.deleteLater()  # windows must not pile up over the session (each would be re-polished)
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    leaked = [t for t in QApplication.topLevelWidgets() if isinstance(t, MainWindow)]
    assert not leaked, f"main windows leaked: {leaked}"


@pytest.fixture
def view(window):
    return window.current_view()
