"""A node on the canvas: one plain QGraphicsItem painted by hand, cached per device.

Level of detail keeps large graphs fluid: far away a node is one filled rectangle, at middle
distance a box with its ports, close up the texts.  The item holds only what it paints; the
document is the truth and the scene pushes new looks in.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from app import theme
from app.canvas.look import GRID, HEADER_H, LINE_H, PORT_R, NodeLook
from builder.blocks.spec import ANY, INDEX

__all__ = ["NodeItem", "BadgeItem", "fonts", "TAG_H"]

TAG_H = 15.0  # the tag under a node with a training overlay (gradient norm, "changed")
STACK = 6.0  # how far the cards behind a Group node show: it holds more than one block

_FONTS: dict[str, QFont] = {}


def fonts() -> dict[str, QFont]:
    """Canvas fonts, made once a QApplication exists (point sizes scale with the view)."""
    if not _FONTS:
        title = QFont()
        title.setPointSizeF(9.0)
        title.setBold(True)
        body = QFont()
        body.setPointSizeF(8.5)
        small = QFont()
        small.setPointSizeF(7.5)
        _FONTS.update(title=title, body=body, small=small)
    return _FONTS


def port_color(kind: str) -> QColor:
    return theme.color("wire_index") if kind == INDEX else theme.color("wire")


class BadgeItem(QGraphicsItem):
    """The red (or amber) circle on a node with a problem; hover shows the messages."""

    R = 8.0

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.error = True
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:
        return QRectF(-self.R - 1, -self.R - 1, 2 * self.R + 2, 2 * self.R + 2)

    def paint(self, painter, option, widget=None):
        painter.setRenderHint(painter.RenderHint.Antialiasing)
        painter.setPen(QPen(theme.color("node_body"), 1.5))
        painter.setBrush(theme.color("error" if self.error else "warning"))
        painter.drawEllipse(QPointF(0, 0), self.R, self.R)
        painter.setPen(QColor("#ffffff"))
        painter.setFont(fonts()["title"])
        painter.drawText(self.boundingRect(), Qt.AlignCenter, "!")


class NodeItem(QGraphicsItem):
    def __init__(self, node_id: str, look: NodeLook, pos: tuple[float, float]):
        super().__init__()
        self.node_id = node_id
        self.look = look
        self.edges: list = []  # EdgeItems touching this node; they follow it when it moves
        self.problems: tuple[str, ...] = ()
        self.error = False
        self._badge: BadgeItem | None = None
        self.overlay: QColor | None = None  # live training colour (gradient norm, run diff)
        self.overlay_text = ""  # the number or word written under the node with it
        self._header = QPainterPath()
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.setZValue(1)
        self._make_header()
        self.setPos(pos[0], pos[1])

    # --- state pushed in by the scene -----------------------------------------------------
    def set_look(self, look: NodeLook) -> None:
        if look == self.look:
            return
        if (look.width, look.height) != (self.look.width, self.look.height):
            self.prepareGeometryChange()
        self.look = look
        self._make_header()
        if self._badge is not None:
            self._badge.setPos(look.width - 2, 2)
        self.update()
        for e in self.edges:
            e.update_path()

    def set_problems(self, messages: tuple[str, ...], error: bool) -> None:
        if messages == self.problems and error == self.error:
            return
        self.problems, self.error = messages, error
        if messages:
            if self._badge is None:
                self._badge = BadgeItem(self)
                self._badge.setPos(self.look.width - 2, 2)
            self._badge.error = error
            self._badge.update()
            text = "\n".join(f"• {m}" for m in messages) if len(messages) > 1 else messages[0]
            self._badge.setToolTip(text)
            self.setToolTip(text)
        elif self._badge is not None:
            self._badge.setParentItem(None)
            if self._badge.scene() is not None:
                self._badge.scene().removeItem(self._badge)
            self._badge = None
            self.setToolTip("")
        self.update()

    def set_overlay(self, color: QColor | None, text: str = "") -> None:
        """Colour the node's frame and write ``text`` in a tag under it (None: plain)."""
        if color == self.overlay and text == self.overlay_text:
            return
        if bool(text) != bool(self.overlay_text):
            self.prepareGeometryChange()
        self.overlay, self.overlay_text = color, text
        self.update()

    def _make_header(self) -> None:
        full = QPainterPath()
        full.addRoundedRect(QRectF(0, 0, self.look.width, self.look.height), 6, 6)
        top = QPainterPath()
        top.addRect(QRectF(0, 0, self.look.width, HEADER_H))
        self._header = full.intersected(top)

    # --- geometry ---------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        tag = TAG_H + 4 if self.overlay_text else 0
        stack = STACK if self.look.group else 0
        return QRectF(-PORT_R - 1, -1, self.look.width + 2 * PORT_R + 2,
                      self.look.height + 2 + max(tag, stack))

    def port_scene_pos(self, port: str, is_input: bool) -> QPointF:
        local = self.look.port_pos(port, is_input)
        if local is None:  # a wire to a port that no longer exists: attach to the side
            local = (0.0 if is_input else self.look.width, self.look.height / 2)
        return self.pos() + QPointF(*local)

    def port_at(self, local: QPointF, slack: float = 6.0) -> tuple[str, bool] | None:
        """(port name, is_input) of the port under a point in item coordinates.  A reroute
        dot is all ports but for its middle, which moves it."""
        if self.look.dot:
            slack = 0.0
        best, best_d = None, (PORT_R + slack) ** 2
        for is_input, ports in ((True, self.look.inputs), (False, self.look.outputs)):
            for port in ports:
                x, y = self.look.port_pos(port[0], is_input)
                d = (x - local.x()) ** 2 + (y - local.y()) ** 2
                if d <= best_d:
                    best, best_d = (port[0], is_input), d
        return best

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionChange:
            scene = self.scene()
            if scene is not None and getattr(scene, "snap_moves", False):
                return QPointF(round(value.x() / GRID) * GRID, round(value.y() / GRID) * GRID)
        elif change == QGraphicsItem.ItemPositionHasChanged:
            for e in self.edges:
                e.update_path()
        return super().itemChange(change, value)

    # --- painting ---------------------------------------------------------------------------
    def paint(self, painter, option: QStyleOptionGraphicsItem, widget=None):
        look = self.look
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        rect = QRectF(0, 0, look.width, look.height)
        selected = self.isSelected()
        cat = theme.category_color(look.category)
        if lod < 0.22:  # far away: one rectangle per node
            painter.fillRect(rect, theme.color("accent") if selected else self.overlay or cat)
            return
        painter.setRenderHint(painter.RenderHint.Antialiasing)
        if look.dot:  # a reroute point: a knot in the wire
            painter.setPen(QPen(theme.color("accent") if selected else theme.color("wire"),
                                2.0 if selected else 1.4))
            painter.setBrush(theme.color("node_body"))
            painter.drawEllipse(rect.adjusted(2, 2, -2, -2))
            return
        if look.bypassed:
            painter.setOpacity(0.35)
        if look.group:  # two cards behind the node: a group is a stack of blocks
            painter.setPen(QPen(cat, 1.2))
            painter.setBrush(theme.color("node_body"))
            for k in (2, 1):
                painter.drawRoundedRect(rect.translated(k * STACK * 0.5, k * STACK * 0.5)
                                        .adjusted(0, 0, -STACK, 0), 6, 6)
        painter.setPen(Qt.NoPen)
        painter.setBrush(theme.color("node_body"))
        painter.drawRoundedRect(rect, 6, 6)
        painter.fillPath(self._header, cat if look.known else theme.color("error"))
        if look.frozen:
            hatch = QBrush(theme.color("frozen"), Qt.BDiagPattern)
            painter.setBrush(hatch)
            painter.setOpacity(0.35)
            painter.drawRect(QRectF(0, HEADER_H, look.width, look.height - HEADER_H - 4))
            painter.setOpacity(1.0)
        if lod >= 0.45:
            self._paint_texts(painter, look)
        self._paint_ports(painter, look, lod >= 0.45)
        if selected:
            border = QPen(theme.color("accent"), 2.0)
        elif self.problems:
            border = QPen(theme.color("error" if self.error else "warning"), 1.4)
        elif look.frozen:
            border = QPen(theme.color("frozen"), 1.4, Qt.DashLine)
        else:
            border = QPen(theme.color("node_border"), 1.0)
        painter.setPen(border)
        painter.setBrush(Qt.NoBrush)
        painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        if self.overlay is not None:
            self._paint_overlay(painter, look, lod >= 0.45)
        if look.bypassed and look.inputs and look.outputs:
            painter.setOpacity(1.0)  # the way the data really goes: straight through
            a = look.port_pos(look.inputs[0][0], True)
            b = look.port_pos(look.outputs[0][0], False)
            painter.setPen(QPen(theme.color("wire"), 2.0))
            painter.drawLine(QPointF(*a), QPointF(*b))

    def _paint_overlay(self, painter, look: NodeLook, texts: bool) -> None:
        painter.setPen(QPen(self.overlay, 3.0))
        painter.setBrush(Qt.NoBrush)
        painter.drawRoundedRect(QRectF(1.5, 1.5, look.width - 3, look.height - 3), 6, 6)
        if not self.overlay_text:
            return
        tag = QRectF(6, look.height + 3, look.width - 12, TAG_H)
        painter.setPen(Qt.NoPen)
        painter.setBrush(self.overlay)
        painter.drawRoundedRect(tag, 4, 4)
        if texts:
            dark = self.overlay.lightnessF() > 0.55
            painter.setPen(QColor("#111111" if dark else "#ffffff"))
            painter.setFont(fonts()["small"])
            painter.drawText(tag, Qt.AlignCenter, self.overlay_text)

    def _paint_texts(self, painter, look: NodeLook) -> None:
        f = fonts()
        painter.setFont(f["title"])
        painter.setPen(QColor("#ffffff"))
        right = 22 if look.frozen or self.problems else 8
        title_rect = QRectF(8, 0, look.width - 8 - right, HEADER_H)
        title = QFontMetricsF(f["title"]).elidedText(look.title, Qt.ElideRight, title_rect.width())
        painter.drawText(title_rect, Qt.AlignVCenter | Qt.AlignLeft, title)
        if look.frozen:
            painter.drawText(QRectF(look.width - 22, 0, 16, HEADER_H), Qt.AlignCenter, "❄")
        painter.setFont(f["body"])
        metrics = QFontMetricsF(f["body"])
        width = look.width - 20
        y = HEADER_H + 4
        painter.setPen(theme.color("dim"))
        painter.drawText(QRectF(10, y, width, LINE_H), Qt.AlignVCenter | Qt.AlignLeft,
                         metrics.elidedText(look.name, Qt.ElideRight, width))
        painter.setPen(theme.color("node_text"))
        for line in look.lines:
            y += LINE_H
            painter.drawText(QRectF(10, y, width, LINE_H), Qt.AlignVCenter | Qt.AlignLeft,
                             metrics.elidedText(line, Qt.ElideMiddle, width))

    def _paint_ports(self, painter, look: NodeLook, labels: bool) -> None:
        body = theme.color("node_body")
        painter.setFont(fonts()["small"])
        metrics = QFontMetricsF(fonts()["small"])
        for is_input, ports in ((True, look.inputs), (False, look.outputs)):
            labelled = labels and (len(ports) > 1 or look.group)
            for i, port in enumerate(ports):
                x, y = look.port_pos(port[0], is_input)
                c = port_color(port[1])
                hollow = port[1] == ANY or (is_input and port[2])
                painter.setPen(QPen(c, 1.6))
                painter.setBrush(body if hollow else c)
                painter.drawEllipse(QPointF(x, y), PORT_R, PORT_R)
                if labelled:
                    painter.setPen(theme.color("dim"))
                    w = 50.0
                    if look.group:  # a group's port names are long: share the row by need
                        other = look.outputs if is_input else look.inputs
                        room = look.width - 24
                        if i < len(other):
                            need = metrics.horizontalAdvance(other[i][0]) + 4
                            room = max(room / 2, room - need)
                        w = room
                    box = QRectF(x + 8 if is_input else x - 8 - w, y - 7, w, 14)
                    align = Qt.AlignLeft if is_input else Qt.AlignRight
                    text = metrics.elidedText(port[0], Qt.ElideMiddle, w)
                    painter.drawText(box, align | Qt.AlignVCenter, text)
