"""The block palette: the user's saved groups ("My blocks") and the catalogue by category,
searchable; drag a block onto the canvas or double-click it to add it in the middle of the
view."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.canvas.quick_add import rank
from app.canvas.view import MIME_BLOCK, MIME_LIBRARY
from app.icons import block_icon
from builder import blocks, library

__all__ = ["Palette", "BlockTree", "LIBRARY_ROLE", "MY_BLOCKS"]

LIBRARY_ROLE = Qt.UserRole + 1  # a My blocks item's file path
MY_BLOCKS = "My blocks"


class BlockTree(QTreeWidget):
    """A tree whose block items drag as ``MIME_BLOCK`` carrying the block type."""

    def mimeTypes(self):
        return [MIME_BLOCK, MIME_LIBRARY]

    def mimeData(self, items):
        files = [i.data(0, LIBRARY_ROLE) for i in items if i.data(0, LIBRARY_ROLE)]
        if files:
            mime = QMimeData()
            mime.setData(MIME_LIBRARY, files[0].encode("utf-8"))
            return mime
        types = [i.data(0, Qt.UserRole) for i in items if i.data(0, Qt.UserRole)]
        if not types:
            return None
        mime = QMimeData()
        mime.setData(MIME_BLOCK, types[0].encode("utf-8"))
        return mime


class Palette(QWidget):
    add_requested = Signal(str)  # a block type, from a double-click or Enter
    library_requested = Signal(str)  # a My blocks entry's file, from a double-click

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.tree = BlockTree()
        self.tree.setHeaderHidden(True)
        self.tree.setIndentation(12)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.library_items: dict[str, QTreeWidgetItem] = {}
        self._library_head: QTreeWidgetItem | None = None
        self._populate()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first)
        self.tree.itemActivated.connect(self._activated)

    @staticmethod
    def _head(category: str) -> QTreeWidgetItem:
        head = QTreeWidgetItem([category])
        head.setFlags(Qt.ItemIsEnabled)
        font = head.font(0)
        font.setBold(True)
        head.setFont(0, font)
        return head

    def refresh_library(self) -> None:
        """(Re)list the user's saved groups at the top; hidden when there are none."""
        if self._library_head is None:
            self._library_head = self._head(MY_BLOCKS)
            self.tree.insertTopLevelItem(0, self._library_head)
        head = self._library_head
        head.takeChildren()
        self.library_items.clear()
        for name, path in library.entries().items():
            item = QTreeWidgetItem([name])
            item.setData(0, LIBRARY_ROLE, str(path))
            item.setToolTip(0, f"<b>{name}</b> — your group, saved in {path}"
                               "<br><i>Drag onto the canvas or double-click to add a copy.</i>")
            item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
            head.addChild(item)
            self.library_items[name] = item
        self.filter(self.search.text())

    def _populate(self) -> None:
        self.tree.clear()
        self.items.clear()
        self._library_head = None
        for category, specs in blocks.by_category().items():
            head = self._head(category)
            self.tree.addTopLevelItem(head)
            for spec in specs:
                item = QTreeWidgetItem([spec.label])
                item.setIcon(0, block_icon(spec))
                item.setData(0, Qt.UserRole, spec.type)
                item.setToolTip(0, f"<b>{spec.label}</b><br>{spec.concept}"
                                   "<br><i>Drag onto the canvas or double-click to add.</i>")
                item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
                head.addChild(item)
                self.items[spec.type] = item
        self.refresh_library()

    def filter(self, text: str) -> None:
        # Names and categories first; looser matches (letters in order, then the concept
        # texts) only when nothing matches better.
        scores = [r for r in (rank(text, s) for s in blocks.catalogue().values()) if r is not None]
        best = min(scores, default=5)
        limit = 3 if best <= 3 else best
        for i in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(i)
            shown = 0
            for j in range(head.childCount()):
                item = head.child(j)
                if head is self._library_head:  # the user's names: a plain substring match
                    hide = text.strip().lower() not in item.text(0).lower()
                    item.setHidden(hide)
                    shown += not hide
                    continue
                spec = blocks.get(item.data(0, Qt.UserRole))
                score = rank(text, spec)
                hide = score is None or score > limit
                item.setHidden(hide)
                shown += not hide
            head.setHidden(shown == 0)
        self.tree.expandAll()

    def visible_types(self) -> list[str]:
        return [t for t, item in self.items.items()
                if not item.isHidden() and not item.parent().isHidden()]

    def _add_first(self) -> None:
        shown = self.visible_types()
        if shown:
            self.add_requested.emit(shown[0])

    def _activated(self, item: QTreeWidgetItem) -> None:
        if item.data(0, LIBRARY_ROLE):
            self.library_requested.emit(item.data(0, LIBRARY_ROLE))
            return
        block = item.data(0, Qt.UserRole)
        if block:
            self.add_requested.emit(block)


if __name__ == "__main__":
    from app.preview import run_preview

    run_preview(Palette, (260, 600))
