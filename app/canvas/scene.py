"""The scene of one network: a view of the document, redrawn from its change notifications.

It holds one item per node and per edge, keyed by the document's ids, and nothing else the
document does not know.  A move made by dragging becomes a ``MoveNodes`` command on release.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsScene

from app.canvas.edge_item import LABEL_LOD, EdgeItem
from app.canvas.look import format_shape, look_of
from app.canvas.node_item import NodeItem
from app.document_model import DocumentModel
from builder.blocks.spec import TENSOR
from builder.commands import Change, MoveNodes
from builder.document import Edge, Network, Node
from builder.problems import ERROR

__all__ = ["NetworkScene"]

MARGIN = 1500.0  # empty canvas around the graph, so there is room to add and pan


class NetworkScene(QGraphicsScene):
    def __init__(self, model: DocumentModel, net_name: str, parent=None):
        super().__init__(parent)
        self.model = model
        self.net_name = net_name
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.snap_moves = False  # the view sets it while the user drags with snapping on
        self._report = None
        self.rebuild()

    @property
    def net(self) -> Network | None:
        return self.model.network(self.net_name)

    # --- building -------------------------------------------------------------------------
    def rebuild(self) -> None:
        for item in self.edges.values():
            item.detach()
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        self._report = None
        net = self.net
        if net is None:
            return
        for node in net.nodes.values():
            self._add_node(node)
        for edge in net.edges:
            self._add_edge(edge)
        self.apply_report()
        self._grow_rect(reset=True)

    def set_read_only(self, on: bool) -> None:
        """While a run trains this graph, nodes cannot be dragged (the document refuses every
        graph edit anyway; this only keeps the items from moving in vain)."""
        for item in self.nodes.values():
            item.setFlag(NodeItem.ItemIsMovable, not on)

    def _add_node(self, node: Node) -> NodeItem:
        item = NodeItem(node.id, look_of(node), node.pos)
        if self.model.locked:
            item.setFlag(NodeItem.ItemIsMovable, False)
        self.nodes[node.id] = item
        self.addItem(item)
        return item

    def _add_edge(self, edge: Edge) -> None:
        src, dst = self.nodes.get(edge.src), self.nodes.get(edge.dst)
        if src is None or dst is None or edge in self.edges:
            return  # a wire to a missing node: validation reports it
        item = EdgeItem(edge, src, dst)
        self.edges[edge] = item
        self.addItem(item)

    def _remove_edge(self, edge: Edge) -> None:
        item = self.edges.pop(edge)
        item.detach()
        self.removeItem(item)

    def _remove_node(self, node_id: str) -> None:
        item = self.nodes.pop(node_id)
        for e in list(item.edges):
            self._remove_edge(e.edge)
        self.removeItem(item)

    def _grow_rect(self, reset: bool = False) -> None:
        rect = self.itemsBoundingRect().adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)
        self.setSceneRect(rect if reset else rect.united(self.sceneRect()))

    # --- following the document ------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        name, mine = change.network, self.net_name
        net = self.net
        if net is None:
            return
        if name is not None and name.startswith(mine + "/"):
            # an edit inside one of our groups: its ports and badge may change
            child = name[len(mine) + 1:].split("/")[0]
            if child in self.nodes and child in net.nodes:
                self._refresh(self.nodes[child], net.nodes[child])
        elif name is not None and name != mine and not mine.startswith(name + "/"):
            return
        elif change.structure or name is None or name != mine:
            # (an enclosing network was edited: it may have replaced this inside wholesale)
            # A whole-network swap (group, ungroup) names no nodes: refresh every one.
            self._sync_structure(net, change.nodes if name == mine and change.nodes else None)
            self._grow_rect()
        else:
            for node_id in change.nodes:
                if node_id in self.nodes and node_id in net.nodes:
                    self._refresh(self.nodes[node_id], net.nodes[node_id])
        self.apply_report()

    def _refresh(self, item: NodeItem, node: Node) -> None:
        item.set_look(look_of(node))
        if (item.x(), item.y()) != node.pos:
            item.setPos(node.pos[0], node.pos[1])

    def _sync_structure(self, net: Network, touched) -> None:
        for node_id in [i for i in self.nodes if i not in net.nodes]:
            self._remove_node(node_id)
        for node_id, node in net.nodes.items():
            item = self.nodes.get(node_id)
            if item is None:
                self._add_node(node)
            elif touched is None or node_id in touched:
                self._refresh(item, node)
        current = set(net.edges)
        for edge in [e for e in self.edges if e not in current]:
            self._remove_edge(edge)
        for edge in net.edges:
            if edge not in self.edges:
                self._add_edge(edge)

    def apply_report(self) -> None:
        """Badges and wire labels from the network's report; skipped when it is unchanged."""
        report = self.model.report(self.net_name)
        if report is None or report is self._report:
            return
        self._report = report
        by_node: dict[str, list] = {}
        bad_ports = set()
        for p in report.problems:
            if p.node:
                by_node.setdefault(p.node, []).append(p)
                if p.port and p.severity == ERROR:
                    bad_ports.add((p.node, p.port))
        for node_id, item in self.nodes.items():
            problems = by_node.get(node_id, ())
            item.set_problems(tuple(p.message for p in problems),
                              any(p.severity == ERROR for p in problems))
        outputs, kinds = report.shapes.outputs, report.shapes.kinds
        visible = any(v.transform().m11() >= LABEL_LOD for v in self.views()) or not self.views()
        for edge, item in self.edges.items():
            shape = outputs.get(edge.src, {}).get(edge.src_port)
            kind = kinds.get(edge.src, {}).get(edge.src_port, TENSOR)
            bad = (edge.dst, edge.dst_port) in bad_ports
            item.set_label(format_shape(shape, brackets=False), kind, bad, visible)

    # --- selection and moves ---------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, node_ids) -> None:
        wanted = set(node_ids)
        self.blockSignals(True)  # one selectionChanged at the end, not one per item
        try:
            self.clearSelection()
            for node_id in wanted:
                item = self.nodes.get(node_id)
                if item is not None:
                    item.setSelected(True)
        finally:
            self.blockSignals(False)
        self.selectionChanged.emit()

    def commit_moves(self) -> bool:
        """Turn the positions the user dragged nodes to into one undoable command."""
        net = self.net
        if net is None:
            return False
        moved = {}
        for item in self.selectedItems():
            if isinstance(item, NodeItem) and item.node_id in net.nodes:
                pos = (item.x(), item.y())
                if pos != net.nodes[item.node_id].pos:
                    moved[item.node_id] = pos
        if not moved:
            return False
        return self.model.do(MoveNodes(self.net_name, moved))

    def nodes_rect(self) -> QRectF:
        rect = QRectF()
        for item in self.nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect
