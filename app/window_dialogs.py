"""The main window's dialogs and network management (add, rename, remove a network)."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMessageBox

from builder.commands import AddNetwork, RemoveNetwork, RenameNetwork
from builder.document import Network, unique_name, valid_name

__all__ = ["WindowDialogs"]


class WindowDialogs:
    """Mixed into ``MainWindow`` (which provides ``model``, ``views``, ``current_view``…)."""

    def show_summary(self) -> None:
        from app.summary import SummaryDialog

        view = self.current_view()
        if view is not None:
            name = view.scene().net_name
            SummaryDialog(name, self.model.stats(name), self).exec()

    def find_node(self) -> None:
        """Ctrl+F: jump to a block of any network by its name or type."""
        self.finder.open(self.model.project)

    def show_shortcuts(self) -> None:
        from app.shortcuts_dialog import ShortcutsDialog

        ShortcutsDialog(self.acts, self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, "About Layerloom", "Layerloom: design neural networks by "
                          "wiring blocks, watch them train, export them to ONNX.")

    def add_network(self) -> None:
        name, ok = QInputDialog.getText(self, "Add network", "Name of the new network:",
                                        text=unique_name("net", self.model.project.networks))
        if ok and name:
            net = Network(name)
            net.add("Input", pos=(0, 0), shape=[2], kind="vector")
            net.add("Output", pos=(440, 0))
            self.model.do(AddNetwork(net))

    def rename_network(self) -> None:
        view = self.current_view()
        if view is None:
            return
        old = view.scene().net_name
        if "/" in old:  # the inside of a group: its name is the group node's (inspector)
            return
        new, ok = QInputDialog.getText(self, "Rename network", "New name:", text=old)
        if ok and new and new != old:
            if not valid_name(new):
                self.say(f"“{new}” is not a valid name", 6000)
                return
            self.model.do(RenameNetwork(old, new))

    def remove_network(self) -> None:
        view = self.current_view()
        if view is None or "/" in view.scene().net_name:
            return
        if sum("/" not in n for n in self.views) < 2:
            self.say("A project keeps at least one network", 5000)
            return
        self.model.do(RemoveNetwork(view.scene().net_name))
