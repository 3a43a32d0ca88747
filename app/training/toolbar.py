"""The training actions (Train, Pause, Resume, Stop, Save checkpoint, Export) with small painted
icons, for the toolbar and the Training menu."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPixmap, QPolygonF

__all__ = ["make_actions", "icon"]

_ICONS: dict[str, QIcon] = {}


def icon(kind: str, size: int = 18) -> QIcon:
    cached = _ICONS.get(kind)
    if cached is not None:
        return cached
    pix = QPixmap(size * 2, size * 2)
    pix.setDevicePixelRatio(2.0)
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(Qt.NoPen)
    s = float(size)
    if kind == "train":
        p.setBrush(QColor("#3fb950"))
        p.drawPolygon(QPolygonF([QPointF(s * .25, s * .15), QPointF(s * .85, s * .5),
                                 QPointF(s * .25, s * .85)]))
    elif kind == "pause":
        p.setBrush(QColor("#e3a63a"))
        p.drawRoundedRect(QRectF(s * .22, s * .18, s * .2, s * .64), 1.5, 1.5)
        p.drawRoundedRect(QRectF(s * .58, s * .18, s * .2, s * .64), 1.5, 1.5)
    elif kind == "resume":
        p.setBrush(QColor("#3fb950"))
        p.drawRoundedRect(QRectF(s * .18, s * .18, s * .14, s * .64), 1.5, 1.5)
        p.drawPolygon(QPolygonF([QPointF(s * .42, s * .18), QPointF(s * .88, s * .5),
                                 QPointF(s * .42, s * .82)]))
    elif kind == "stop":
        p.setBrush(QColor("#ef5350"))
        p.drawRoundedRect(QRectF(s * .22, s * .22, s * .56, s * .56), 2, 2)
    elif kind == "checkpoint":
        p.setBrush(QColor("#4c8dff"))
        p.drawRoundedRect(QRectF(s * .18, s * .15, s * .64, s * .7), 2, 2)
        p.setBrush(QColor("#ffffff"))
        p.drawRect(QRectF(s * .32, s * .15, s * .36, s * .22))
        p.drawRect(QRectF(s * .3, s * .55, s * .4, s * .22))
    elif kind == "export":
        p.setBrush(QColor("#9aa0a8"))
        p.drawRoundedRect(QRectF(s * .15, s * .5, s * .7, s * .35), 2, 2)
        p.setBrush(QColor("#4c8dff"))
        p.drawPolygon(QPolygonF([QPointF(s * .5, s * .08), QPointF(s * .78, s * .38),
                                 QPointF(s * .6, s * .38), QPointF(s * .6, s * .62),
                                 QPointF(s * .4, s * .62), QPointF(s * .4, s * .38),
                                 QPointF(s * .22, s * .38)]))
    p.end()
    result = _ICONS[kind] = QIcon(pix)
    return result


def make_actions(window, controller) -> dict[str, QAction]:
    """Actions bound to ``controller``; also put in ``window.acts`` under ``train_*``."""
    table = (
        ("train", "&Train", controller.train, "F5", "Train the project's networks "
         "(the graph is read-only while it trains)"),
        ("pause", "&Pause", controller.pause, "F6", "Pause after the current step"),
        ("resume", "&Resume", controller.resume, "F7", "Go on training"),
        ("stop", "&Stop", controller.stop, "Shift+F5", "Stop: the checkpoint and weights are "
         "saved in the run folder"),
        ("checkpoint", "Save &checkpoint", controller.save_checkpoint, "Ctrl+Shift+C",
         "Save a checkpoint of the run now"),
        ("export", "&Export…", controller.show_export, "Ctrl+E",
         "Export the networks to ONNX (checked against onnxruntime), weights and PyTorch code"),
    )
    acts = {}
    for key, text, slot, shortcut, tip in table:
        act = QAction(icon(key), text, window)
        act.setShortcut(QKeySequence(shortcut))
        act.setStatusTip(tip)
        act.setToolTip(f"{text.replace('&', '')} ({shortcut}): {tip}")
        act.triggered.connect(lambda _=False, f=slot: f())
        acts[key] = window.acts[f"train_{key}"] = act
    return acts
