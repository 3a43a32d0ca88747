"""Sub-networks in the window: group, ungroup, open a composite block as a group, a canvas tab
for a group's inside, and the user's block library.

Every edit is one builder command (``builder.grouping``) on the one document; a tab for an
inside is just a canvas whose network name is a path ("main/block1").
"""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMessageBox

from builder import library
from builder.commands import AddNode, CommandError
from builder.grouping import group_nodes, open_composite, ungroup
from builder.ports import GROUP, spec_of
from builder.serialize import LoomError

__all__ = ["GroupActions", "tab_title", "is_group_tab"]


def tab_title(path: str) -> str:
    return path.replace("/", " ▸ ")


def is_group_tab(name: str) -> bool:
    return "/" in name


class GroupActions:
    """Mixed into ``MainWindow`` (which provides ``model``, ``views``, ``tabs``, ``acts``…)."""

    # --- what is selected -------------------------------------------------------------------
    def _selected(self):
        """(view, network name, network, selected node ids) of the current canvas."""
        view = self.current_view()
        if view is None:
            return None, None, None, []
        scene = view.scene()
        return view, scene.net_name, scene.net, scene.selected_node_ids()

    def _one_selected(self, want_group: bool | None = None):
        _, name, net, ids = self._selected()
        if net is None or len(ids) != 1 or ids[0] not in net.nodes:
            return None, None
        node = net.nodes[ids[0]]
        if want_group is True and node.block != GROUP:
            return None, None
        if want_group is False:
            spec = spec_of(node)
            if spec is None or spec.expand is None:
                return None, None
        return name, node

    def update_group_actions(self) -> None:
        _, _, net, ids = self._selected()
        group = self._one_selected(True)[1] is not None
        editable = not self.model.locked
        self.acts["group"].setEnabled(editable and net is not None and bool(ids))
        for key in ("ungroup", "save_to_library"):
            self.acts[key].setEnabled(group and (editable or key == "save_to_library"))
        self.acts["edit_group"].setEnabled(group)
        self.acts["open_composite"].setEnabled(editable and self._one_selected(False)[1]
                                               is not None)

    def _run(self, make) -> bool:
        """Build a grouping command (which may refuse with a reason) and apply it."""
        try:
            command = make()
        except CommandError as e:
            self.say(str(e), 6000)
            return False
        return self.model.do(command)

    # --- commands ---------------------------------------------------------------------------
    def group_selection(self) -> str | None:
        view, name, net, ids = self._selected()
        if net is None or not ids:
            return None
        before = set(net.nodes)
        if not self._run(lambda: group_nodes(net, ids, path=name)):
            return None
        new = [i for i in self.model.network(name).nodes if i not in before]
        view.scene().select_nodes(new)
        return new[0] if new else None

    def ungroup_selection(self) -> bool:
        name, node = self._one_selected(True)
        return node is not None and self._run(
            lambda: ungroup(self.model.network(name), node.id, path=name))

    def open_composite_selection(self) -> bool:
        name, node = self._one_selected(False)
        if node is None or not self._run(
                lambda: open_composite(self.model.network(name), node.id, path=name)):
            return False
        self.views[name].scene().select_nodes([node.id])
        return True

    # --- tabs for insides -------------------------------------------------------------------
    def edit_selected_group(self) -> None:
        name, node = self._one_selected(True)
        if node is not None:
            self.open_group(f"{name}/{node.id}")

    def open_group(self, path: str):
        """Show the canvas of a group's inside, opening its tab next to its parent's."""
        if self.model.network(path) is None:
            return None
        view = self.views.get(path)
        if view is None:
            view = self.views[path] = self._make_view(path)
            parent = self.views.get(path.rpartition("/")[0])
            at = self.tabs.indexOf(parent) + 1 if parent is not None else self.tabs.count()
            while at < self.tabs.count() and self.tabs.tabText(at).startswith(
                    tab_title(path.rpartition("/")[0]) + " ▸"):
                at += 1  # after the parent's other open groups
            self.tabs.insertTab(at, view, tab_title(path))
            self.tabs.setTabToolTip(at, f"Inside group {path} — edits here are undoable as usual")
            self._mark_closable()
            view.fit()
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentWidget(view)
        return view

    def close_group_tab(self, index: int) -> None:
        view = self.tabs.widget(index)
        name = next((n for n, v in self.views.items() if v is view), "")
        if is_group_tab(name):
            self.views.pop(name)
            self.tabs.removeTab(index)
            view.deleteLater()

    def close_vanished_groups(self) -> None:
        """A tab whose group is gone (ungrouped, deleted, undone) closes."""
        for name in [n for n in self.views if is_group_tab(n)]:
            if self.model.network(name) is None:
                self.close_group_tab(self.tabs.indexOf(self.views[name]))

    def _mark_closable(self) -> None:
        """Only the tabs of insides can be closed; a network's tab stays."""
        bar = self.tabs.tabBar()
        for name, view in self.views.items():
            if not is_group_tab(name):
                for side in (bar.ButtonPosition.RightSide, bar.ButtonPosition.LeftSide):
                    bar.setTabButton(self.tabs.indexOf(view), side, None)

    # --- the user's library -----------------------------------------------------------------
    def ask_library_clash(self, name: str) -> str:
        """"replace", "rename" or "cancel" when the library already has ``name``."""
        box = QMessageBox(QMessageBox.Question, "Save group to library",
                          f"Your library already has a block named “{name}”.", parent=self)
        replace = box.addButton("Replace", QMessageBox.DestructiveRole)
        rename = box.addButton("Keep both", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(rename)
        box.exec()
        return {replace: "replace", rename: "rename"}.get(box.clickedButton(), "cancel")

    def ask_library_name(self, default: str) -> str | None:
        name, ok = QInputDialog.getText(self, "Save group to library",
                                        "Name in “My blocks”:", text=default)
        return name.strip() if ok and name.strip() else None

    def save_group_to_library(self):
        _, node = self._one_selected(True)
        if node is None:
            return None
        name = self.ask_library_name(node.id)
        if name is None:
            return None
        overwrite = False
        other = library.taken(name)  # ignoring case, as rename does
        if other is not None:
            answer = self.ask_library_clash(other)
            if answer == "cancel":
                return None
            overwrite = answer == "replace"
            name = name if overwrite else library.free_name(name)
        try:
            path = library.save_entry(node.subnet, name, overwrite)
        except (ValueError, OSError) as e:
            self.say(f"Not saved: {e}", 8000)
            return None
        self.palette.refresh_library()
        self.say(f"Saved to My blocks: {path}", 6000)
        return path

    def insert_library_block(self, path: str, view=None, scene_pos=None) -> str | None:
        """Add a Group holding a copy of a library entry (in the middle of the view)."""
        view = view or self.current_view()
        if view is None:
            return None
        scene = view.scene()
        at = scene_pos or view.mapToScene(view.viewport().rect().center())
        try:
            node = library.group_node(scene.net, path, (at.x() - 70, at.y() - 11))
        except (LoomError, OSError) as e:
            self.say(f"Cannot use that block: {e}", 8000)
            return None
        if not self.model.do(AddNode(scene.net_name, node)):
            return None
        self.stack.setCurrentWidget(self.tabs)
        scene.select_nodes([node.id])
        return node.id
