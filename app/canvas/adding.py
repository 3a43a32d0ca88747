"""Every way of adding a block to the canvas: quick-add search (Tab, Space, a dropped wire),
palette drops (onto empty canvas, or onto a wire to insert), appending after the selection,
and dropped ``.loom`` files."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QCursor

from app.canvas import edits
from app.canvas.look import DOT, GRID, NODE_W
from app.canvas.node_item import NodeItem
from app.canvas.wiring import WireDrag

__all__ = ["CanvasAdding", "MIME_BLOCK", "MIME_LIBRARY", "APPEND_STEP"]

MIME_BLOCK = "application/x-layerloom-block"
MIME_LIBRARY = "application/x-layerloom-library"  # a My blocks entry: its file path
APPEND_STEP = 220.0  # the column distance of the auto-layout


class CanvasAdding:
    """Mixed into ``CanvasView``."""

    # --- quick add ----------------------------------------------------------------------------
    def _cursor_view_pos(self):
        pos = self.viewport().mapFromGlobal(QCursor.pos())
        return pos if self.viewport().rect().contains(pos) else self.viewport().rect().center()

    def open_quick_add(self, view_pos=None, allowed=None, anchor=None, title="Add block"):
        view_pos = self._cursor_view_pos() if view_pos is None else view_pos
        self._quick_pos = self.mapToScene(view_pos)
        self._quick_anchor = anchor
        self.quick_add.open_at(self.viewport().mapToGlobal(view_pos), allowed, title)

    def _open_quick_for_wire(self, wire: WireDrag, view_pos) -> None:
        node, port, is_input = wire.anchor
        net, report = self.scene().net, self.scene().model.report(self.scene().net_name)
        if is_input:
            allowed = edits.fitting_blocks(None, edits.input_kind(net, node, port), False)
            title = f"Blocks that can feed {node}.{port}"
        else:
            shape = report.shapes.outputs.get(node, {}).get(port) if report else None
            allowed = edits.fitting_blocks(shape, edits.output_kind(net, report, node, port))
            title = f"Blocks that take {node}.{port}"
        self.open_quick_add(view_pos, allowed, wire.anchor, title)

    def _on_quick_chosen(self, block: str) -> None:
        self.add_block(block, self._quick_pos, self._quick_anchor)

    def add_block(self, block: str, scene_pos: QPointF, anchor=None) -> str | None:
        """Add a block centred on a scene point (wired to ``anchor`` if given); select it."""
        scene = self.scene()
        pos = (scene_pos.x() - NODE_W / 2, scene_pos.y() - 11)
        if self.snap:
            pos = (round(pos[0] / GRID) * GRID, round(pos[1] / GRID) * GRID)
        if anchor is not None:
            if anchor[2]:  # the new block feeds an input: put it to the left of the cursor
                pos = (pos[0] - NODE_W, pos[1])
            command, node_id = edits.add_and_wire(scene.net_name, scene.net, block, pos, anchor)
        else:
            command = edits.add_block(scene.net_name, scene.net, block, pos)
            node_id = command.node.id
        if not scene.model.do(command):
            return None
        scene.select_nodes([node_id])
        return node_id

    def insert_block(self, block: str, scene_pos: QPointF, edge) -> str | None:
        """Add a block on a wire: src → block → dst, one step."""
        scene = self.scene()
        node = edits.new_node(scene.net, block, (scene_pos.x() - NODE_W / 2, scene_pos.y() - 11))
        command = self.splicer.add_into(scene.net_name, node, edge)
        if command is None or not scene.model.do(command):
            return self.add_block(block, scene_pos)
        scene.select_nodes([node.id])
        return node.id

    def add_reroute(self, edge, scene_pos: QPointF) -> str | None:
        """A reroute point where a wire was double-clicked: drag it to route the wire."""
        scene = self.scene()
        node = edits.new_node(scene.net, "Reroute", (scene_pos.x() - DOT / 2,
                                                     scene_pos.y() - DOT / 2))
        command = self.splicer.add_into(scene.net_name, node, edge)
        if command is None or not scene.model.do(command):
            return None
        scene.select_nodes([node.id])
        return node.id

    def append_block(self, block: str) -> str | None:
        """Add a block after the one selected block, wired to it (double-clicking blocks in the
        palette builds a chain); with no single selection, in the middle of the view."""
        scene = self.scene()
        ids = scene.selected_node_ids()
        item = scene.nodes.get(ids[0]) if len(ids) == 1 else None
        if item is None or not item.look.outputs:
            return self.add_block(block, self.mapToScene(self.viewport().rect().center()))
        anchor = (item.node_id, item.look.outputs[0][0], False)
        spot = QRectF(item.x() + APPEND_STEP, item.y(), NODE_W, 60)
        while any(isinstance(i, NodeItem) for i in scene.items(spot.adjusted(-10, -10, 10, 10))):
            spot.translate(0, 110)  # the next free row, never on top of another block
        at = spot.topLeft() + QPointF(NODE_W / 2, 11)
        node_id = self.add_block(block, at, anchor)
        if node_id is not None:
            self.ensureVisible(scene.nodes[node_id].sceneBoundingRect(), 40, 40)
        return node_id

    # --- drops ----------------------------------------------------------------------------------
    def _drop_kind(self, mime) -> str | None:
        if mime.hasFormat(MIME_BLOCK):
            return "block"
        if mime.hasFormat(MIME_LIBRARY):
            return "library"
        if mime.hasUrls() and any(u.toLocalFile().endswith(".loom") for u in mime.urls()):
            return "file"
        return None

    def dragEnterEvent(self, event):
        if self._drop_kind(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        kind = self._drop_kind(event.mimeData())
        if kind:
            if kind == "block":
                self.splicer.hover(event.position().toPoint(), self._dragged_block(event))
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event):
        self.splicer.hover(None, None)

    def _dragged_block(self, event):
        block = bytes(event.mimeData().data(MIME_BLOCK)).decode("utf-8")
        scene = self.scene()
        try:
            return edits.new_node(scene.net, block, (0, 0))
        except KeyError:
            return None

    def dropEvent(self, event):
        mime = event.mimeData()
        kind = self._drop_kind(mime)
        if kind == "block":
            block = bytes(mime.data(MIME_BLOCK)).decode("utf-8")
            at = self.mapToScene(event.position().toPoint())
            self.splicer.hover(event.position().toPoint(), self._dragged_block(event))
            edge = self.splicer.take()
            if edge is not None:
                self.insert_block(block, at, edge)
            else:
                self.add_block(block, at)
            self.setFocus()
            event.acceptProposedAction()
        elif kind == "library":  # the window reads the file and adds the group
            path = bytes(mime.data(MIME_LIBRARY)).decode("utf-8")
            event.acceptProposedAction()
            self.library_dropped.emit(path, self.mapToScene(event.position().toPoint()))
            self.setFocus()
        elif kind == "file":
            path = next(u.toLocalFile() for u in mime.urls() if u.toLocalFile().endswith(".loom"))
            event.acceptProposedAction()
            self.open_file_requested.emit(path)
        else:
            event.ignore()
