"""Mouse gestures on the canvas, sent as real Qt events to the viewport."""

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def send_mouse(view, kind, pos, button=Qt.LeftButton, buttons=None):
    """A mouse event on a canvas viewport (or any plain widget) at a position in it."""
    if buttons is None:
        buttons = Qt.NoButton if kind == QMouseEvent.Type.MouseButtonRelease else button
    target = view.viewport() if hasattr(view, "viewport") else view
    pos = QPointF(pos)
    glob = QPointF(target.mapToGlobal(pos.toPoint()))
    event = QMouseEvent(kind, pos, glob, button, buttons, Qt.NoModifier)
    QApplication.sendEvent(target, event)


def drag(view, start: QPoint, end: QPoint, steps: int = 6, button=Qt.LeftButton):
    send_mouse(view, QMouseEvent.Type.MouseButtonPress, start, button)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        send_mouse(view, QMouseEvent.Type.MouseMove, p, Qt.NoButton, button)
    send_mouse(view, QMouseEvent.Type.MouseButtonRelease, end, button)


def port_view_pos(view, node_id: str, port: str, is_input: bool) -> QPoint:
    item = view.scene().nodes[node_id]
    return view.mapFromScene(item.port_scene_pos(port, is_input))


def node_view_pos(view, node_id: str) -> QPoint:
    """A point on the node's body (its name line), away from the ports."""
    item = view.scene().nodes[node_id]
    return view.mapFromScene(item.pos() + QPointF(item.look.width / 2, 34))
