"""Dropping a block on a wire puts it into the wire (as in Blender): a block dragged from the
palette, or a loose block moved onto a wire, ends up as src → block → dst in one step."""

from __future__ import annotations

from app.canvas import edits
from app.canvas.edge_item import EdgeItem
from builder.commands import AddNode, Command, Connect, Macro, MoveNodes
from builder.document import Edge, Node
from builder.ports import node_ports

__all__ = ["Splicer", "splice_commands"]


def splice_commands(net_name: str, node: Node, edge: Edge) -> list[Command] | None:
    """The two wires that put ``node`` on ``edge``; the second replaces the old wire."""
    ins, outs = node_ports(node)
    if not ins or not outs:
        return None
    return [Connect(net_name, Edge(edge.src, edge.src_port, node.id, ins[0].name)),
            Connect(net_name, Edge(node.id, outs[0].name, edge.dst, edge.dst_port))]


class Splicer:
    def __init__(self, view):
        self.view = view
        self.hot: EdgeItem | None = None

    def _fits(self, item: EdgeItem, node: Node) -> bool:
        ins, outs = node_ports(node)
        return bool(ins and outs) and node.id not in (item.edge.src, item.edge.dst) and \
            edits.kinds_fit(item.kind, ins[0].kind)

    def hover(self, view_pos, node: Node | None) -> None:
        """Highlight the wire under the cursor that ``node`` could go into (None: no wire)."""
        found = None
        if node is not None:
            for item in self.view.items(view_pos):
                if isinstance(item, EdgeItem) and item.isVisible() and self._fits(item, node):
                    found = item
                    break
        if found is not self.hot:
            if self.hot is not None:
                self.hot.set_hot(False)
            if found is not None:
                found.set_hot(True)
            self.hot = found

    def take(self) -> Edge | None:
        edge = self.hot.edge if self.hot is not None else None
        self.hover(None, None)
        return edge

    def add_into(self, net_name: str, node: Node, edge: Edge) -> Command | None:
        wires = splice_commands(net_name, node, edge)
        return Macro(f"Insert {node.block}", [AddNode(net_name, node), *wires]) if wires else None

    def move_into(self, net_name: str, node: Node, pos, edge: Edge) -> Command | None:
        wires = splice_commands(net_name, node, edge)
        if not wires:
            return None
        return Macro(f"Insert {node.block}", [MoveNodes(net_name, {node.id: pos}), *wires])
