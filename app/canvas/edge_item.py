"""A wire between two ports, labelled with the shape of the tensor it carries.

The path is recomputed only when an end moves (``update_path``); painting just strokes it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from app import theme
from app.canvas.node_item import NodeItem, fonts
from builder.blocks.spec import INDEX, TENSOR
from builder.document import Edge

__all__ = ["EdgeItem", "TempWire", "wire_path", "LABEL_LOD"]


def wire_path(a: QPointF, b: QPointF) -> QPainterPath:
    """A horizontal-tangent cubic from an output port to an input port.  A wire that skips
    over blocks in its row arcs above them; one to the start of the next band of a wrapped
    layout returns like a line of text (out right, back left between the bands, in from the
    left); any other backward wire bends by a bounded amount, never far past its nodes."""
    path = QPainterPath(a)
    span, drop = b.x() - a.x(), b.y() - a.y()
    if span > SKIP_SPAN and abs(drop) < 20:
        lift = min(70.0 + span * 0.04, 120.0)
        path.cubicTo(a.x() + 60, a.y() - lift, b.x() - 60, b.y() - lift, b.x(), b.y())
    elif span < 0 and drop > 60:
        mid, r = a.y() + drop / 2, 45.0
        path.cubicTo(a.x() + r, a.y(), a.x() + r, mid, a.x(), mid)
        path.lineTo(b.x(), mid)
        path.cubicTo(b.x() - r, mid, b.x() - r, b.y(), b.x(), b.y())
    else:
        if span >= 0:
            dx = max(span * 0.5, 40.0)
        else:
            dx = min(40.0 + abs(drop) * 0.25 - span * 0.1, 140.0)
        path.cubicTo(a.x() + dx, a.y(), b.x() - dx, b.y(), b.x(), b.y())
    return path


SKIP_SPAN = 300.0  # a same-row wire longer than this passes over at least one block
LABEL_MAX_W = 140.0  # longer shapes are elided in the middle
LABEL_LOD = 0.5  # labels are drawn from this zoom on
_SIZES: dict[str, tuple[float, float]] = {}


def _label_size(text: str) -> tuple[float, float]:
    size = _SIZES.get(text)
    if size is None:
        if len(_SIZES) > 10_000:
            _SIZES.clear()
        metrics = QFontMetricsF(fonts()["small"])
        width = min(metrics.horizontalAdvance(text) + 10, LABEL_MAX_W)
        size = _SIZES[text] = (width, min(metrics.height() + 2, 18.0))
    return size


class EdgeItem(QGraphicsItem):
    def __init__(self, edge: Edge, src: NodeItem, dst: NodeItem):
        super().__init__()
        self.edge = edge
        self.src, self.dst = src, dst
        self.label = ""
        self.kind = TENSOR
        self.bad = False
        self.hot = False  # a block is held over this wire and would go into it
        self._path = QPainterPath()
        self._ends = (QPointF(), QPointF())
        self._shape: QPainterPath | None = None
        self._mid = QPointF()
        self._label_size = (0.0, 0.0)
        self._rect = QRectF()
        self.setFlags(QGraphicsItem.ItemIsSelectable)
        self.setZValue(0)
        src.edges.append(self)
        dst.edges.append(self)
        self.update_path()

    def detach(self) -> None:
        for item in (self.src, self.dst):
            if self in item.edges:
                item.edges.remove(self)

    def update_path(self) -> None:
        a = self.src.port_scene_pos(self.edge.src_port, False)
        b = self.dst.port_scene_pos(self.edge.dst_port, True)
        self.prepareGeometryChange()
        self._ends = (a, b)
        self._path = wire_path(a, b)
        self._shape = None
        self._mid = self._path.pointAtPercent(0.5)
        # The label box is reserved at its largest, so relabelling never changes the geometry
        # (no index update, no repaint of an old region) — a param edit relabels many wires.
        box = QRectF(self._mid.x() - LABEL_MAX_W / 2, self._mid.y() - 9, LABEL_MAX_W, 18)
        self._rect = self._path.boundingRect().adjusted(-3, -3, 3, 3).united(box)

    def set_label(self, text: str, kind: str, bad: bool, visible: bool = True) -> None:
        """New label and colour; a label change alone repaints only where labels are drawn
        (``visible``: some view is zoomed in enough)."""
        if (text, kind, bad) == (self.label, self.kind, self.bad):
            return
        repaint = visible or (kind, bad) != (self.kind, self.bad)
        if text != self.label:
            self.label = text
            self._label_size = _label_size(text)
            self._shape = None
        self.kind, self.bad = kind, bad
        if repaint:
            self.update()

    def set_hot(self, on: bool) -> None:
        self.hot = on
        self.update()

    def tooltip(self) -> str:
        """Asked for by the view on hover (a tooltip per wire would cost on every relabel)."""
        return f"{self.edge}\nshape: {self.label}" if self.label else str(self.edge)

    def _label_rect(self) -> QRectF:
        w, h = self._label_size
        return QRectF(self._mid.x() - w / 2, self._mid.y() - h / 2, w, h)

    def boundingRect(self) -> QRectF:
        return self._rect

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(8)
            self._shape = stroker.createStroke(self._path)
            if self.label:
                self._shape.addRect(self._label_rect())
        return self._shape

    def paint(self, painter, option, widget=None):
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if self.hot:
            c, width = theme.color("accent"), 4.0
        elif self.isSelected():
            c, width = theme.color("accent"), 2.4
        elif self.bad:
            c, width = theme.color("error"), 1.6
        else:
            c = theme.color("wire_index" if self.kind == INDEX else "wire")
            width = 1.6
        if lod < 0.22:
            pen = QPen(c, 0)  # cosmetic hairline
            painter.setPen(pen)
            painter.drawLine(*self._ends)
            return
        painter.setRenderHint(painter.RenderHint.Antialiasing)
        pen = QPen(c, width, Qt.DashLine if self.bad else Qt.SolidLine)
        painter.setPen(pen)
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self._path)
        if self.label and lod >= LABEL_LOD:
            rect = self._label_rect()
            painter.setPen(QPen(c, 1.0))
            painter.setBrush(theme.color("label_bg"))
            painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
            painter.setFont(fonts()["small"])
            painter.setPen(theme.color("error") if self.bad else theme.color("node_text"))
            text = self.label
            if rect.width() >= LABEL_MAX_W:
                text = QFontMetricsF(fonts()["small"]).elidedText(text, Qt.ElideMiddle,
                                                                  LABEL_MAX_W - 10)
            painter.drawText(rect, Qt.AlignCenter, text)


class TempWire(QGraphicsPathItem):
    """The wire that follows the mouse while the user drags from a port."""

    def __init__(self):
        super().__init__()
        pen = QPen(theme.color("accent"), 2.0, Qt.DashLine)
        self.setPen(pen)
        self.setZValue(3)

    def set_ends(self, a: QPointF, b: QPointF) -> None:
        self.setPath(wire_path(a, b))
