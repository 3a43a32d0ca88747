"""Canvas edit operations that the main window's actions and the context menu call:
delete, select all, copy, cut, paste, duplicate, auto-layout.  Each is one command."""

from __future__ import annotations

from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QMenu

from app.canvas import clipboard, edits

__all__ = ["CanvasEditing"]


class CanvasEditing:
    """Mixed into ``CanvasView`` (which provides ``scene()``, ``viewport()``, ``fit()``…)."""

    def delete_selection(self) -> bool:
        scene = self.scene()
        command = edits.delete(scene.net_name, scene.selected_node_ids(), scene.selected_edges())
        return command is not None and scene.model.do(command)

    def dissolve_selection(self) -> bool:
        scene = self.scene()
        command = edits.dissolve(scene.net_name, scene.net, scene.selected_node_ids())
        return command is not None and scene.model.do(command)

    def set_selection_trainable(self, on: bool) -> bool:
        scene = self.scene()
        command = edits.set_trainable(scene.net_name, scene.net, scene.selected_node_ids(), on)
        return command is not None and scene.model.do(command)

    def select_all(self) -> None:
        self.scene().select_nodes(self.scene().nodes)

    def copy(self) -> bool:
        scene = self.scene()
        ids = scene.selected_node_ids()
        if ids:
            clipboard.put_fragment(edits.fragment_of(scene.net, ids))
        return bool(ids)

    def cut(self) -> bool:
        return self.copy() and self.delete_selection()

    def paste(self, fragment=None, text: str = "Paste") -> list[str]:
        scene = self.scene()
        fragment = fragment or clipboard.get_fragment()
        if fragment is None or not fragment.nodes:
            return []
        left = min(n.pos[0] for n in fragment.nodes.values())
        top = min(n.pos[1] for n in fragment.nodes.values())
        cursor = self.viewport().mapFromGlobal(QCursor.pos())
        if self.viewport().rect().contains(cursor) and text == "Paste":
            target = self.mapToScene(cursor)
            offset = (target.x() - left, target.y() - top)
        else:
            offset = (40.0, 40.0)
        command, ids = edits.paste_nodes(scene.net_name, scene.net, fragment, offset, text)
        if command is None or not scene.model.do(command):
            return []
        scene.select_nodes(ids)
        return ids

    def duplicate(self) -> list[str]:
        scene = self.scene()
        ids = scene.selected_node_ids()
        if not ids:
            return []
        return self.paste(edits.fragment_of(scene.net, ids), "Duplicate")

    def auto_layout(self) -> None:
        scene = self.scene()
        command = edits.auto_layout(scene.net_name, scene.net)
        if command is not None and scene.model.do(command):
            self.fit()

    def contextMenuEvent(self, event):
        menu = QMenu(self)
        pos = event.pos()
        menu.addAction("Add block…", lambda: self.open_quick_add(pos))
        has_sel = bool(self.scene().selectedItems())
        for text, fn, enabled in (("Cut", self.cut, has_sel), ("Copy", self.copy, has_sel),
                                  ("Paste", self.paste, True),
                                  ("Duplicate", self.duplicate, has_sel),
                                  ("Delete", self.delete_selection, has_sel),
                                  ("Delete and reconnect", self.dissolve_selection, has_sel),
                                  ("Freeze (not trainable)",
                                   lambda: self.set_selection_trainable(False), has_sel),
                                  ("Unfreeze", lambda: self.set_selection_trainable(True),
                                   has_sel)):
            menu.addAction(text, fn).setEnabled(enabled)
        menu.addSeparator()
        menu.addAction("Auto-layout", self.auto_layout)
        menu.addAction("Fit view", self.fit)
        menu.exec(event.globalPos())
