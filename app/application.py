"""Starting the editor: the themed QApplication, crash recovery, a calm garbage collector."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, qInstallMessageHandler
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QMessageBox,
)

from app import settings, theme
from app.autosave import leftovers

__all__ = ["make_app", "offer_recovery", "freeze_startup_heap", "WheelGuard"]


# Qt chatter that tells a user nothing: the offscreen platform (screenshots, tests) cannot
# propagate size hints and says so for every dock.
_QUIET = ("does not support propagateSizeHints",)


def _qt_messages(mode, context, message: str) -> None:
    if not any(q in message for q in _QUIET):
        print(message, file=sys.stderr)


class WheelGuard(QObject):
    """The wheel turns a combo box or a spin box only once it has focus (a click or Tab):
    scrolling a form over them scrolls the form and never changes a setting on the way.
    Installed on the application, so every such widget, present and future, is covered."""

    BOXES = (QComboBox, QAbstractSpinBox)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind not in (QEvent.Wheel, QEvent.Polish) or not isinstance(obj, self.BOXES):
            return False
        if kind == QEvent.Polish:  # Qt's default WheelFocus would let the wheel take focus
            obj.setFocusPolicy(Qt.StrongFocus)
            return False
        if obj.hasFocus():
            return False
        area = obj.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:  # the form scrolls as if the box were not there
            QApplication.sendEvent(area.viewport(), event)
        return True


_WHEEL_GUARD = WheelGuard()


def make_app() -> QApplication:
    """The QApplication, themed once (re-theming re-polishes every widget that exists)."""
    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(_qt_messages)
        QApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Layerloom")
        app.setOrganizationName("Layerloom")
    if not app.property("layerloom_wheel_guard"):
        app.installEventFilter(_WHEEL_GUARD)
        app.setProperty("layerloom_wheel_guard", True)
    if not app.property("layerloom_themed"):
        theme.apply(app, settings.store().value("theme", "dark", type=str))
        app.setProperty("layerloom_themed", True)
    return app


def offer_recovery(window) -> bool:
    found = leftovers()
    if not found:
        return False
    latest = found[0]
    name = Path(latest.original).name if latest.original else "an untitled project"
    answer = QMessageBox.question(
        window, "Recover unsaved work?",
        f"Layerloom did not close properly last time. Recover the autosaved copy of {name}?",
        QMessageBox.Yes | QMessageBox.Discard)
    for r in found[1:]:
        r.discard()
    if answer == QMessageBox.Yes:
        return window.files.recover(latest)
    latest.discard()
    return False


def freeze_startup_heap() -> None:
    """Exclude everything alive after start-up (torch, networkx, Qt wrappers: hundreds of
    thousands of objects) from the garbage collector's full passes, which otherwise stall an
    edit now and then for ~0.1 s."""
    gc.collect()
    gc.freeze()
