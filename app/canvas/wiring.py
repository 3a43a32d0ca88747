"""Dragging a wire from a port: it follows the mouse, snaps to compatible ports only, and
ends as one command (connect, reconnect, or disconnect when a picked-up wire is dropped)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsEllipseItem

from app import theme
from app.canvas.edge_item import TempWire
from app.canvas.edits import can_connect, loop_message, loop_through
from app.canvas.node_item import NodeItem
from builder.commands import Connect, Disconnect, Macro
from builder.document import Edge

__all__ = ["WireDrag"]


class WireDrag:
    def __init__(self, scene, item: NodeItem, port: str, is_input: bool):
        self.scene = scene
        self.picked: Edge | None = None
        net = scene.net
        held = next((e for e in net.edges if e.dst == item.node_id and e.dst_port == port),
                    None) if is_input else None
        if held is not None and held.src in scene.nodes:
            # Grabbing a wired input picks its wire up by the loose end (as in Blender).
            self.picked = held
            self.anchor = (held.src, held.src_port, False)
            if held in scene.edges:
                scene.edges[held].setVisible(False)
        else:
            self.anchor = (item.node_id, port, is_input)
        self.target: tuple[str, str] | None = None
        self.loop: list[str] = []  # the loop a wire to the nearest refused port would close
        a_node, a_port, a_in = self.anchor
        self.start = scene.nodes[a_node].port_scene_pos(a_port, a_in)
        self.wire = TempWire()
        self.marker = QGraphicsEllipseItem(-9, -9, 18, 18)
        self.marker.setPen(QPen(theme.color("accent"), 2.0))
        self.marker.setZValue(4)
        self.marker.hide()
        scene.addItem(self.wire)
        scene.addItem(self.marker)
        self.move(self.start, 0.0)

    def _edge_to(self, node_id: str, port: str) -> Edge:
        a_node, a_port, a_in = self.anchor
        return Edge(node_id, port, a_node, a_port) if a_in else Edge(a_node, a_port, node_id, port)

    def _fits(self, node_id: str, port: str) -> bool:
        edge = self._edge_to(node_id, port)
        if edge == self.picked:
            return True
        return can_connect(self.scene.net, self.scene.model.report(self.scene.net_name), edge)

    def _snap(self, pos: QPointF, radius: float) -> tuple[str, str] | None:
        want_input = not self.anchor[2]
        best, best_d = None, radius * radius
        self.loop, loop_d = [], radius * radius
        area = QRectF(pos.x() - radius, pos.y() - radius, 2 * radius, 2 * radius)
        for it in self.scene.items(area):
            if not isinstance(it, NodeItem):
                continue
            for port in (it.look.inputs if want_input else it.look.outputs):
                p = it.port_scene_pos(port[0], want_input)
                d = (p.x() - pos.x()) ** 2 + (p.y() - pos.y()) ** 2
                if d < best_d and self._fits(it.node_id, port[0]):
                    best, best_d = (it.node_id, port[0]), d
                elif d < loop_d:
                    loop = loop_through(self.scene.net, self._edge_to(it.node_id, port[0]))
                    self.loop, loop_d = loop or self.loop, d if loop else loop_d
        return best

    def move(self, pos: QPointF, radius: float) -> None:
        self.target = self._snap(pos, radius) if radius > 0 else None
        end = pos
        if self.target is not None:
            end = self.scene.nodes[self.target[0]].port_scene_pos(self.target[1],
                                                                   not self.anchor[2])
            self.marker.setPos(end)
            self.marker.show()
        else:
            self.marker.hide()
        if self.anchor[2]:
            self.wire.set_ends(end, self.start)
        else:
            self.wire.set_ends(self.start, end)

    def _cleanup(self) -> None:
        for item in (self.wire, self.marker):
            self.scene.removeItem(item)
        if self.picked is not None and self.picked in self.scene.edges:
            self.scene.edges[self.picked].setVisible(True)

    def cancel(self) -> None:
        self._cleanup()

    def finish(self) -> str:
        """'connected', 'removed' (a picked-up wire dropped on nothing), 'refused' (dropped on
        a port it would close a loop through: the model says why) or 'empty'."""
        self._cleanup()
        model, net_name = self.scene.model, self.scene.net_name
        if self.target is None and self.loop:
            model.refused.emit(loop_message(self.scene.net, self.loop))
            return "refused"
        if self.target is not None:
            edge = self._edge_to(*self.target)
            if edge == self.picked:
                return "connected"
            if self.picked is not None:
                ok = model.do(Macro("Reconnect", [Disconnect(net_name, self.picked),
                                                  Connect(net_name, edge)]))
            else:
                ok = model.do(Connect(net_name, edge))
            return "connected" if ok else "empty"
        if self.picked is not None:
            model.do(Disconnect(net_name, self.picked))
            return "removed"
        return "empty"
