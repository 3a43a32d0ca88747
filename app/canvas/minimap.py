"""An overview of the graph in the canvas corner, shown whenever the graph does not fit the
view; click or drag in it to move the view.

The graph is rendered into a pixmap once per burst of edits (debounced), not repainted live
with every item change, so the minimap adds nothing to the cost of a frame while dragging or
of a param edit that relabels every wire.  Only the view rectangle is drawn live.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from app import theme

__all__ = ["Minimap"]

W, H = 220, 140


class Minimap(QWidget):
    def __init__(self, canvas):
        super().__init__(canvas)
        self.canvas = canvas
        self.enabled = True
        self.setFixedSize(W, H)
        self.setCursor(Qt.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self._pixmap = QPixmap()
        self._scale, self._offset, self._source = 1.0, QPointF(), QRectF()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refit)
        self._stale = True  # the pixmap predates the last edit
        for bar in (canvas.horizontalScrollBar(), canvas.verticalScrollBar()):
            bar.valueChanged.connect(self.sync)
        self.hide()

    def schedule(self) -> None:
        """Render again soon; several edits in a row cost one render."""
        self._timer.start()

    def refit(self) -> None:
        self._stale = True
        self.sync()

    def sync(self) -> None:
        """Shown exactly while some block lies outside the view (after a zoom, a scroll, a
        resize or an edit); rendered only when shown and stale."""
        scene = self.canvas.scene()
        rect = scene.nodes_rect() if scene is not None else QRectF()
        visible = self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()
        wanted = self.enabled and not rect.isNull() and not visible.contains(rect)
        self.setVisible(wanted)
        if wanted and self._stale:
            self._render(scene)
        self.update()

    def _render(self, scene) -> None:
        self._stale = False
        rect = scene.nodes_rect().adjusted(-60, -60, 60, 60)
        s = min(W / rect.width(), H / rect.height())
        self._scale, self._source = s, rect
        self._offset = QPointF((W - rect.width() * s) / 2, (H - rect.height() * s) / 2)
        ratio = self.devicePixelRatioF()
        pix = QPixmap(int(W * ratio), int(H * ratio))
        pix.setDevicePixelRatio(ratio)
        pix.fill(theme.color("canvas"))
        painter = QPainter(pix)
        target = QRectF(self._offset.x(), self._offset.y(), rect.width() * s, rect.height() * s)
        scene.render(painter, target, rect, Qt.KeepAspectRatio)
        painter.end()
        self._pixmap = pix
        self.place()
        self.update()

    def place(self) -> None:
        vp = self.canvas.viewport().geometry()
        self.move(vp.right() - W - 10, vp.bottom() - H - 10)

    def to_map(self, p: QPointF) -> QPointF:
        return QPointF((p.x() - self._source.left()) * self._scale + self._offset.x(),
                       (p.y() - self._source.top()) * self._scale + self._offset.y())

    def to_scene(self, p: QPointF) -> QPointF:
        return QPointF((p.x() - self._offset.x()) / self._scale + self._source.left(),
                       (p.y() - self._offset.y()) / self._scale + self._source.top())

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        visible = self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()
        box = QRectF(self.to_map(visible.topLeft()), self.to_map(visible.bottomRight()))
        fill = QColor(theme.color("accent"))
        fill.setAlpha(40)
        painter.setPen(QPen(theme.color("accent"), 1))
        painter.setBrush(fill)
        painter.drawRect(box.intersected(QRectF(0, 0, W - 1, H - 1)))
        painter.setPen(QPen(theme.color("node_border"), 1))
        painter.setBrush(Qt.NoBrush)
        painter.drawRect(QRectF(0, 0, W - 1, H - 1))

    def _jump(self, event) -> None:
        self.canvas.centerOn(self.to_scene(event.position()))
        self.update()

    def mousePressEvent(self, event):
        if event.button() == Qt.LeftButton:
            self._jump(event)

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.LeftButton:
            self._jump(event)

    def wheelEvent(self, event):
        self.canvas.wheelEvent(event)
