"""Jump to a block (Ctrl+F): a search line over every block of every network, by name, type or
title; Enter or a click shows the block, selected and centred, in its network's tab."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from app.icons import block_icon
from builder import blocks
from builder.document import Project

__all__ = ["FindNode", "matches"]


def matches(project: Project, query: str) -> list[tuple[str, str, str]]:
    """(network, node id, what to show) of every block the query finds, best first: a name
    that starts with it, then one that contains it, then the block's type or title."""
    q = query.strip().lower()
    found = []
    for net_name, net in project.networks.items():
        for node_id, node in net.nodes.items():
            spec = blocks.REGISTRY.get(node.block)
            title = spec.label if spec is not None else node.block
            name = node_id.lower()
            if name.startswith(q):
                rank = 0
            elif q in name:
                rank = 1
            elif q in node.block.lower() or q in title.lower():
                rank = 2
            else:
                continue
            where = f"  ·  {net_name}" if len(project.networks) > 1 else ""
            found.append((rank, net_name, node_id, f"{node_id}  —  {title}{where}"))
    found.sort(key=lambda f: (f[0], f[1], f[2]))
    return [(net, node, text) for _, net, node, text in found]


class FindNode(QFrame):
    chosen = Signal(str, str)  # network, node id

    def __init__(self, parent):
        super().__init__(parent, Qt.Popup)
        self.setFrameShape(QFrame.StyledPanel)
        self.project: Project | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find a block by name or type, e.g. conv2 or BatchNorm")
        self.search.textChanged.connect(self._fill)
        self.search.installEventFilter(self)
        self.list = QListWidget()
        self.list.itemActivated.connect(self._choose)
        self.list.itemClicked.connect(self._choose)
        self.empty = QLabel("No block matches.")
        self.empty.setProperty("role", "dim")
        for w in (self.search, self.list, self.empty):
            lay.addWidget(w)
        self.resize(420, 320)

    def open(self, project: Project) -> None:
        self.project = project
        self.search.clear()
        self._fill("")
        parent = self.parentWidget()
        top_left = parent.mapToGlobal(parent.rect().center())
        self.move(top_left.x() - self.width() // 2, top_left.y() - self.height() // 2)
        self.show()
        self.search.setFocus()

    def _fill(self, text: str) -> None:
        self.list.clear()
        for net, node, label in matches(self.project, text) if self.project else []:
            item = QListWidgetItem(label)
            block = self.project.networks[net].nodes[node].block
            spec = blocks.REGISTRY.get(block)
            if spec is not None:
                item.setIcon(block_icon(spec))
            item.setData(Qt.UserRole, (net, node))
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.empty.setVisible(self.list.count() == 0)

    def _choose(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        self.hide()
        self.chosen.emit(*item.data(Qt.UserRole))

    def eventFilter(self, obj, event):
        if obj is self.search and event.type() == QEvent.KeyPress:
            key = event.key()
            if key in (Qt.Key_Return, Qt.Key_Enter):
                self._choose(self.list.currentItem())
                return True
            if key in (Qt.Key_Down, Qt.Key_Up):
                row = self.list.currentRow() + (1 if key == Qt.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
                return True
            if key == Qt.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(obj, event)
