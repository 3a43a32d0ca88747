"""Canvas edit operations that the main window's actions and the context menu call:
delete, select all, copy, cut, paste, duplicate, auto-layout.  Each is one command."""

from __future__ import annotations

from PySide6.QtGui import QAction, QCursor, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu

from app.canvas import clipboard, edits
from app.canvas.node_item import NodeItem
from builder import reuse
from builder.commands import SetNodeOptions
from builder.ports import spec_of

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

    def freeze_up_to(self, node_id: str) -> bool:
        """Freeze ``node_id`` and every block before it: the pre-trained features."""
        scene = self.scene()
        command = reuse.freeze_up_to(scene.net_name, scene.net, node_id)
        if command is None:
            scene.model.refused.emit(f"Nothing up to {node_id} has trainable weights")
            return False
        return scene.model.do(command)

    def ask_lr_scale(self) -> bool:
        """Ask for one learning-rate factor for the selected blocks with weights (a group of
        pre-trained layers learning slower than the new head)."""
        scene = self.scene()
        ids = reuse.weighted(scene.net, scene.selected_node_ids())
        if not ids:
            scene.model.refused.emit("Select blocks with weights to give a learning-rate "
                                     "factor")
            return False
        current = scene.net.nodes[ids[0]].lr_scale
        value, ok = QInputDialog.getDouble(
            self, "Learning-rate factor", f"Multiply the learning rate of {', '.join(ids)} "
            "by:", current, 0.001, 1000.0, 3)
        if not ok:
            return False
        command = SetNodeOptions(scene.net_name, tuple(ids), lr_scale=round(value, 6))
        command.text = f"Learning rate ×{value:g} for {', '.join(ids)}"
        return scene.model.do(command)

    def ask_new_head(self, node_id: str) -> bool:
        """Ask how many classes, then replace output layer ``node_id`` by a new one."""
        scene = self.scene()
        param = reuse.head_param(scene.net, node_id)
        if param is None:
            return False
        current = int(scene.net.nodes[node_id].params.get(param) or 10)
        classes, ok = QInputDialog.getInt(
            self, "New output layer", f"Classes of the new task (replaces {node_id}, whose "
            "pre-trained weights are left unused):", current, 1, 1_000_000)
        return ok and scene.model.do(reuse.new_head(scene.net_name, scene.net, node_id, classes))

    def toggle_bypass_selection(self) -> bool:
        scene = self.scene()
        command, why = edits.toggle_bypass(scene.net_name, scene.net, scene.selected_node_ids())
        if command is None:
            scene.model.refused.emit(why)
            return False
        return scene.model.do(command)

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

    def node_at(self, view_pos) -> NodeItem | None:
        """The node under a viewport point (its badge counts as the node)."""
        return next((i for i in self.items(view_pos) if isinstance(i, NodeItem)), None)

    def canvas_menu(self, view_pos) -> QMenu:
        """The right-click menu at a viewport point.  A node under it is selected first (unless
        it already is, with others), as in any editor, so the entries act on what was clicked;
        a group's or composite block's own entries lead."""
        scene = self.scene()
        item = self.node_at(view_pos)
        if item is not None and not item.isSelected():
            scene.select_nodes([item.node_id])
        menu = QMenu(self)
        if item is not None and self._add_group_entries(menu, item):
            menu.addSeparator()
        menu.addAction("Add block…", lambda: self.open_quick_add(view_pos))
        has_sel = bool(self.scene().selectedItems())
        for text, fn, enabled in (("Cut", self.cut, has_sel), ("Copy", self.copy, has_sel),
                                  ("Paste", self.paste, True),
                                  ("Duplicate", self.duplicate, has_sel),
                                  ("Delete", self.delete_selection, has_sel),
                                  ("Delete and reconnect", self.dissolve_selection, has_sel),
                                  ("Freeze (not trainable)",
                                   lambda: self.set_selection_trainable(False), has_sel),
                                  ("Unfreeze", lambda: self.set_selection_trainable(True),
                                   has_sel),
                                  ("Learning-rate factor…", self.ask_lr_scale, has_sel),
                                  ("Bypass on / off", self.toggle_bypass_selection, has_sel)):
            menu.addAction(text, fn).setEnabled(enabled)
        if item is not None:
            node_id = item.node_id
            menu.addAction("Freeze everything up to here",
                           lambda: self.freeze_up_to(node_id))
            if reuse.head_param(self.scene().net, node_id):
                menu.addAction("New output layer for N classes…",
                               lambda: self.ask_new_head(node_id))
        menu.addSeparator()
        menu.addAction("Auto-layout", self.auto_layout)
        menu.addAction("Fit view", self.fit)
        return menu

    def contextMenuEvent(self, event):
        menu = self.canvas_menu(event.pos())
        menu.exec(event.globalPos())
        menu.deleteLater()

    def _add_group_entries(self, menu: QMenu, item: NodeItem) -> bool:
        """Open inside / Ungroup / Save to library… on a group (Open as editable group on a
        composite block): the window's own actions, which follow the selection just made."""
        scene = self.scene()
        node = scene.net.nodes.get(item.node_id) if scene.net is not None else None
        acts = getattr(self.window(), "acts", {})  # the main window's, when in one
        if node is not None and item.look.group:
            path = f"{scene.net_name}/{node.id}"  # as a double-click opens it
            _entry(menu, "Open inside", acts.get("edit_group"),
                   lambda: self.open_group_requested.emit(path)).setEnabled(True)
            _entry(menu, "Ungroup", acts.get("ungroup"))
            _entry(menu, "Save to library…", acts.get("save_to_library"))
            return True
        spec = spec_of(node) if node is not None else None
        if spec is not None and spec.expand is not None and "open_composite" in acts:
            _entry(menu, "Open as editable group", acts["open_composite"])
            return True
        return False


def _entry(menu: QMenu, text: str, act: QAction | None, slot=None) -> QAction:
    """A menu entry for a window action: worded for this menu, with the action's shortcut
    shown, its enabled state and its slot (or ``slot``)."""
    keys = act.shortcut().toString(QKeySequence.NativeText) if act is not None else ""
    entry = menu.addAction(f"{text}\t{keys}" if keys else text)
    if slot is not None:
        entry.triggered.connect(slot)
    elif act is not None:
        entry.triggered.connect(act.trigger)
    entry.setEnabled(act is not None and act.isEnabled())
    if act is not None:
        entry.setStatusTip(act.statusTip())
    return entry
