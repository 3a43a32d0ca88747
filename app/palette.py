"""The block palette: the user's saved groups ("My blocks") and the catalogue by category,
searchable; drag a block onto the canvas or double-click it to add it in the middle of the
view.  Right-click a My blocks entry to rename or delete it; deleted entries wait in the
library's trash and come back from "Restore deleted" (built-in blocks have no such menu)."""

from __future__ import annotations

import time
from html import escape

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.canvas.quick_add import rank
from app.canvas.view import MIME_BLOCK, MIME_LIBRARY
from app.icons import block_icon, severity_icon, tile_icon
from builder import blocks, library

__all__ = ["Palette", "BlockTree", "RenameDialog", "LIBRARY_ROLE", "NAME_ROLE", "MY_BLOCKS"]

LIBRARY_ROLE = Qt.UserRole + 1  # a My blocks item's file path
NAME_ROLE = Qt.UserRole + 2  # a My blocks item's entry name
MY_BLOCKS = "My blocks"
RESTORE_SHOWN = 15  # the newest deleted entries offered in the menu; the rest stay on disk
NAME_RULE = "Letters, digits and _, not starting with a digit."


class RenameDialog(QDialog):
    """Asks for an entry's new name, saying as the user types why a name will not do (the
    builder's own check), so a refusal never comes as a surprise after OK."""

    def __init__(self, old: str, parent=None):
        super().__init__(parent)
        self.old = old
        self.setWindowTitle("Rename block")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"New name for “{old}” in {MY_BLOCKS}:"))
        self.edit = QLineEdit(old)
        self.edit.selectAll()
        self.hint = QLabel(NAME_RULE)
        self.hint.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.Ok)
        self.ok.setText("Rename")
        layout.addWidget(self.edit)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.edit.textChanged.connect(self._check)
        self.setMinimumWidth(360)
        self._check()

    def name(self) -> str:
        return self.edit.text().strip()

    def _check(self) -> None:
        new = self.name()
        problem = library.rename_problem(self.old, new) if new != self.old else None
        self.ok.setEnabled(problem is None and new != self.old)
        self.hint.setText(problem or NAME_RULE)
        color = theme.color("error" if problem else "dim").name()
        self.hint.setStyleSheet(f"color: {color}")


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
    message = Signal(str)  # what a library change did, for the status bar

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
        self._trash_nonempty = False
        self._populate()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first)
        self.tree.itemActivated.connect(self._activated)
        self.tree.setContextMenuPolicy(Qt.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._show_context_menu)

    @staticmethod
    def _head(category: str) -> QTreeWidgetItem:
        head = QTreeWidgetItem([category])
        head.setFlags(Qt.ItemIsEnabled)
        font = head.font(0)
        font.setBold(True)
        head.setFont(0, font)
        return head

    def refresh_library(self) -> None:
        """(Re)list the user's saved groups at the top; hidden when there are none and the
        trash is empty (else it stays, for its right-click "Restore deleted")."""
        if self._library_head is None:
            self._library_head = self._head(MY_BLOCKS)
            self._library_head.setToolTip(
                0, "Your groups, saved with “Save group to library…”.<br><i>Right-click an "
                   "entry to rename or delete it, or here to restore a deleted one.</i>")
            self.tree.insertTopLevelItem(0, self._library_head)
        head = self._library_head
        head.takeChildren()
        self.library_items.clear()
        icon = tile_icon("Composite", "My")  # lines up with the block tiles
        for name, path in library.entries().items():
            item = QTreeWidgetItem([name])
            item.setData(0, LIBRARY_ROLE, str(path))
            item.setData(0, NAME_ROLE, name)
            # a bad file is listed (so it can be renamed or deleted) but cannot be dragged
            problem = library.entry_problem(path)
            flags = Qt.ItemIsEnabled | Qt.ItemIsSelectable
            if problem:
                item.setIcon(0, severity_icon(True, 20))  # as tall as the tiles
                item.setForeground(0, theme.color("dim"))
                item.setToolTip(0, f"<b>{escape(name)}</b> cannot be used: {escape(problem)}"
                                   f"<br>File: {escape(str(path))}"
                                   "<br><i>Right-click to rename or delete it.</i>")
            else:
                flags |= Qt.ItemIsDragEnabled
                item.setIcon(0, icon)
                item.setToolTip(0, f"<b>{escape(name)}</b> — your group, saved in "
                                   f"{escape(str(path))}<br><i>Drag onto the canvas or "
                                   "double-click to add a copy; right-click to rename or "
                                   "delete.</i>")
            item.setFlags(flags)
            head.addChild(item)
            self.library_items[name] = item
        self._trash_nonempty = bool(library.trashed())
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
            keep = (head is self._library_head and self._trash_nonempty
                    and not text.strip())
            head.setHidden(shown == 0 and not keep)
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

    # --- renaming and deleting My blocks entries --------------------------------------------
    def context_menu(self, item: QTreeWidgetItem | None) -> QMenu | None:
        """The right-click menu for ``item``: only My blocks and its entries have one."""
        name = item.data(0, NAME_ROLE) if item is not None else None
        if not name and (item is None or item is not self._library_head):
            return None
        menu = QMenu(self.tree)
        if name:
            menu.addAction("Rename…", lambda: self.rename_entry(name))
            menu.addAction("Delete…", lambda: self.delete_entry(name))
            menu.addSeparator()
        gone = library.trashed()
        restore = menu.addMenu("Restore deleted")
        restore.setEnabled(bool(gone))
        for t in gone[:RESTORE_SHOWN]:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.deleted))
            restore.addAction(f"{t.name}    deleted {when}",
                              lambda t=t: self.restore_entry(t))
        if len(gone) > RESTORE_SHOWN:
            more = restore.addAction(f"{len(gone) - RESTORE_SHOWN} older ones are in "
                                     f"{library.trash_dir()}")
            more.setEnabled(False)
        return menu

    def _show_context_menu(self, pos) -> None:
        menu = self.context_menu(self.tree.itemAt(pos))
        if menu is not None:
            menu.exec(self.tree.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def ask_new_name(self, name: str) -> str | None:
        dialog = RenameDialog(name, self)
        accepted = dialog.exec() == QDialog.Accepted
        new = dialog.name()
        dialog.deleteLater()
        return new if accepted else None

    def confirm_delete(self, name: str) -> bool:
        box = QMessageBox(QMessageBox.Question, "Delete block",
                          f"Delete “{name}” from {MY_BLOCKS}?", parent=self)
        box.setInformativeText(
            "Its file moves to the library's trash folder. To get it back, right-click "
            f"“{MY_BLOCKS}” in the palette and choose “Restore deleted”.")
        delete = box.addButton("Delete", QMessageBox.DestructiveRole)
        box.setDefaultButton(box.addButton(QMessageBox.Cancel))
        box.exec()
        box.deleteLater()
        return box.clickedButton() is delete

    def show_problem(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def rename_entry(self, name: str) -> str | None:
        """Ask for a new name and rename; the new name, or None when cancelled or refused."""
        new = self.ask_new_name(name)
        if new is None or new == name:
            return None
        try:
            library.rename_entry(name, new)
        except library.LibraryError as e:  # e.g. the name was taken meanwhile
            self.show_problem("Rename block", str(e))
            return None
        self._refresh_and_select(new)
        self.message.emit(f"Renamed “{name}” to “{new}” in {MY_BLOCKS}")
        return new

    def delete_entry(self, name: str) -> library.Trashed | None:
        if not self.confirm_delete(name):
            return None
        try:
            gone = library.delete_entry(name)
        except library.LibraryError as e:
            self.show_problem("Delete block", str(e))
            return None
        self.refresh_library()
        self.message.emit(f"Deleted “{name}”: right-click {MY_BLOCKS} → Restore deleted "
                          "to get it back")
        return gone

    def restore_entry(self, gone: library.Trashed) -> str | None:
        try:
            name = library.restore_entry(gone)
        except library.LibraryError as e:
            self.show_problem("Restore block", str(e))
            return None
        self._refresh_and_select(name)
        again = "" if name == gone.name else f" as “{name}” (“{gone.name}” is taken)"
        self.message.emit(f"Restored “{gone.name}”{again} to {MY_BLOCKS}")
        return name

    def _refresh_and_select(self, name: str) -> None:
        self.refresh_library()
        item = self.library_items.get(name)
        if item is not None and not item.isHidden():
            self.tree.setCurrentItem(item)
            self.tree.scrollToItem(item)


if __name__ == "__main__":
    from app.preview import run_preview

    run_preview(Palette, (260, 600))
