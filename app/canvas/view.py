"""The canvas widget: zoom to the cursor, middle-drag pan, box select, wiring, drops, keys.

Every gesture ends as a command on the document (through ``app.canvas.edits``); the view
never changes items for good on its own.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFontInfo, QPainter, QPen
from PySide6.QtWidgets import QGraphicsView, QToolTip

from app import theme
from app.canvas.adding import MIME_BLOCK, MIME_LIBRARY, CanvasAdding
from app.canvas.edge_item import EdgeItem
from app.canvas.editing import CanvasEditing
from app.canvas.look import GRID
from app.canvas.minimap import Minimap
from app.canvas.node_item import NodeItem, fonts
from app.canvas.quick_add import QuickAdd
from app.canvas.scene import NetworkScene
from app.canvas.splice import Splicer
from app.canvas.wiring import WireDrag

__all__ = ["CanvasView", "MIME_BLOCK", "MIME_LIBRARY"]

MIN_ZOOM, MAX_ZOOM = 0.04, 3.0
TITLE_PX = 11.0  # block titles are never drawn smaller than this by fit()


def readable_zoom() -> float:
    """The zoom at which block titles are TITLE_PX pixels tall on screen."""
    return TITLE_PX / QFontInfo(fonts()["title"]).pixelSize()
HINT = ("Drag blocks here from the palette, or press Tab to search for one.\n"
        "Drag from a port to another to wire them.")
PORTS_FROM_ZOOM = 0.22  # the level of detail below which nodes are drawn without ports


class CanvasView(CanvasAdding, CanvasEditing, QGraphicsView):
    open_file_requested = Signal(str)
    message = Signal(str)
    open_group_requested = Signal(str)  # the path of a group's inside ("main/block1")
    library_dropped = Signal(str, QPointF)  # a My blocks entry file, dropped at a scene point

    def __init__(self, scene: NetworkScene, parent=None):
        super().__init__(scene, parent)
        scene.setParent(self)  # the scene lives exactly as long as its canvas
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setOptimizationFlags(QGraphicsView.DontAdjustForAntialiasing)
        self.setCacheMode(QGraphicsView.CacheBackground)
        self.setFrameShape(QGraphicsView.NoFrame)
        # A node editor pans with the middle button and the minimap; scroll bars only take room.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.snap = False
        self._pan: QPointF | None = None
        self._wire: WireDrag | None = None
        self._on_port = False
        self._loose = None  # a wireless node being dragged, which may go into a wire
        self.splicer = Splicer(self)
        self._quick_pos = QPointF()
        self._quick_anchor: tuple[str, str, bool] | None = None
        self.quick_add = QuickAdd(self)
        self.quick_add.chosen.connect(self._on_quick_chosen)
        self.minimap = Minimap(self)
        self._fit_when_shown = False

    def scene(self) -> NetworkScene:  # typed: always a NetworkScene
        return super().scene()

    # --- zoom and view --------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event):
        self.zoom_by(1.0015 ** event.angleDelta().y())

    def zoom_by(self, factor: float) -> None:
        factor = max(MIN_ZOOM / self.zoom, min(MAX_ZOOM / self.zoom, factor))
        self.scale(factor, factor)
        self.minimap.sync()

    def fit(self) -> None:
        """Show the whole graph, unless that makes block titles smaller than TITLE_PX on
        screen: then its start (where the data comes in) at the smallest readable zoom, and
        the minimap shows the rest.  A view not on screen yet (a tab behind another) has no
        real size: it fits when it is first shown."""
        if not self.isVisible():
            self._fit_when_shown = True
            return
        self._fit_when_shown = False
        rect = self.scene().nodes_rect()
        if rect.isNull():
            self.resetTransform()
            return
        self.fitInView(rect.adjusted(-30, -30, 30, 30), Qt.KeepAspectRatio)
        readable = readable_zoom()
        if self.zoom > 1.25 or self.zoom < readable:
            self.resetTransform()
            zoom = 1.25 if self.zoom > 1.25 else readable
            self.scale(zoom, zoom)
            if zoom == 1.25:  # a small graph: centred, not blown up
                self.centerOn(rect.center())
            else:
                half = self.viewport().width() / zoom / 2, self.viewport().height() / zoom / 2
                self.centerOn(rect.left() - 30 + half[0], rect.top() - 30 + half[1])
        self.minimap.sync()

    def center_on_node(self, node_id: str) -> None:
        item = self.scene().nodes.get(node_id)
        if item is not None:
            if self.zoom < 0.6:
                self.resetTransform()
            self.centerOn(item.sceneBoundingRect().center())

    def drawBackground(self, painter: QPainter, rect: QRectF):
        painter.fillRect(rect, theme.color("canvas"))
        if self.zoom < 0.3:
            return
        minor, major = [], []
        left = int(rect.left() // GRID) * GRID
        top = int(rect.top() // GRID) * GRID
        x = left
        while x < rect.right():
            (major if round(x / GRID) % 5 == 0 else minor).append(
                QLineF(x, rect.top(), x, rect.bottom()))
            x += GRID
        y = top
        while y < rect.bottom():
            (major if round(y / GRID) % 5 == 0 else minor).append(
                QLineF(rect.left(), y, rect.right(), y))
            y += GRID
        painter.setPen(QPen(theme.color("grid_minor"), 0))
        painter.drawLines(minor)
        painter.setPen(QPen(theme.color("grid_major"), 0))
        painter.drawLines(major)

    def drawForeground(self, painter: QPainter, rect: QRectF):
        if len(self.scene().nodes) >= 3:
            return
        painter.save()  # a nearly empty canvas says how to start
        painter.resetTransform()
        painter.setPen(theme.color("dim"))
        box = self.viewport().rect().adjusted(0, 24, 0, 0)
        painter.drawText(box, Qt.AlignHCenter | Qt.AlignTop, HINT)
        painter.restore()

    # --- mouse ------------------------------------------------------------------------------
    def _node_port_at(self, pos) -> tuple[NodeItem, str, bool] | None:
        if self.zoom < PORTS_FROM_ZOOM:  # ports are not drawn that small: a press moves nodes
            return None
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                slack = min(6.0 / self.zoom, 10.0)
                hit = item.port_at(item.mapFromScene(self.mapToScene(pos)), slack)
                return (item, *hit) if hit else None
        return None

    def mousePressEvent(self, event):
        pos = event.position().toPoint()
        if event.button() == Qt.MiddleButton:
            self._pan = event.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.LeftButton:
            hit = self._node_port_at(pos)
            if hit is not None and not self.scene().model.locked:
                self._wire = WireDrag(self.scene(), *hit)
                event.accept()
                return
            self.scene().snap_moves = self.snap
        super().mousePressEvent(event)
        self._loose = self._loose_node() if event.button() == Qt.LeftButton else None

    def mouseMoveEvent(self, event):
        if self._pan is not None:
            delta = event.position() - self._pan
            self._pan = event.position()
            h, v = self.horizontalScrollBar(), self.verticalScrollBar()
            h.setValue(h.value() - int(delta.x()))
            v.setValue(v.value() - int(delta.y()))
            event.accept()
            return
        if self._wire is not None:
            self._wire.move(self.mapToScene(event.position().toPoint()), 22.0 / self.zoom)
            event.accept()
            return
        if event.buttons() & Qt.LeftButton and self._loose is not None:
            super().mouseMoveEvent(event)
            self.splicer.hover(event.position().toPoint(), self._loose)
            return
        if not event.buttons():  # a port under the mouse says it can be dragged from
            on_port = self._node_port_at(event.position().toPoint()) is not None
            if on_port != self._on_port:
                self._on_port = on_port
                if on_port:
                    self.viewport().setCursor(Qt.CrossCursor)
                else:
                    self.viewport().unsetCursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._pan is not None and event.button() == Qt.MiddleButton:
            self._pan = None
            self.viewport().unsetCursor()
            event.accept()
            return
        if self._wire is not None and event.button() == Qt.LeftButton:
            wire, self._wire = self._wire, None
            result = wire.finish()  # "refused" said why; nothing to offer then
            pos = event.position().toPoint()
            if result == "empty" and not any(isinstance(i, NodeItem) for i in self.items(pos)):
                self._open_quick_for_wire(wire, pos)
            event.accept()
            return
        super().mouseReleaseEvent(event)
        scene = self.scene()
        scene.snap_moves = False
        if event.button() == Qt.LeftButton:
            edge, node, self._loose = self.splicer.take(), self._loose, None
            item = scene.nodes.get(node.id) if node is not None else None
            command = None
            if edge is not None and item is not None:
                command = self.splicer.move_into(scene.net_name, node, (item.x(), item.y()), edge)
            if command is None or not scene.model.do(command):
                scene.commit_moves()

    def _loose_node(self):
        """The one selected block if it has no wires: dragging it onto a wire inserts it."""
        scene = self.scene()
        ids = scene.selected_node_ids()
        if len(ids) != 1 or scene.nodes[ids[0]].edges:
            return None
        return scene.net.nodes.get(ids[0])

    def mouseDoubleClickEvent(self, event):
        pos = event.position().toPoint()
        if event.button() == Qt.LeftButton and self.itemAt(pos) is None:
            self.open_quick_add(pos)
            return
        item = self.itemAt(pos)
        item = item.parentItem() if item is not None and item.parentItem() else item
        net = self.scene().net
        if isinstance(item, EdgeItem) and event.button() == Qt.LeftButton:
            self.add_reroute(item.edge, self.mapToScene(pos))  # a knot to route the wire by
            event.accept()
            return
        if isinstance(item, NodeItem) and item.look.group and item.node_id in net.nodes:
            self.open_group_requested.emit(f"{self.scene().net_name}/{item.node_id}")
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def viewportEvent(self, event):
        if event.type() == QEvent.ToolTip:
            item = self.itemAt(event.pos())
            if isinstance(item, EdgeItem):
                QToolTip.showText(event.globalPos(), item.tooltip(), self)
                return True
        return super().viewportEvent(event)

    # --- keys ---------------------------------------------------------------------------------
    def event(self, event):
        if (event.type() == QEvent.KeyPress and event.key() == Qt.Key_Tab
                and not event.modifiers()):
            self.open_quick_add()
            return True
        return super().event(event)

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Space and not event.modifiers():
            self.open_quick_add()
            return
        if event.key() == Qt.Key_Escape and self._wire is not None:
            self._wire.cancel()
            self._wire = None
            return
        super().keyPressEvent(event)

    def showEvent(self, event):
        super().showEvent(event)
        if self._fit_when_shown:
            self.fit()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self.minimap.place()
        self.minimap.sync()
