"""The Qt twin of ``builder.commands.Document``: signals for its changes, cached reports.

Every view (canvas, inspector, problems, summary) reads the project through this object and
edits it only with ``do(command)``.  Validation reports and analyses are computed lazily per
network and kept until an edit that is more than a move touches that network, so dragging
nodes never re-validates anything.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from builder.analysis import NetworkStats, analyze
from builder.commands import Change, Command, CommandError, Document, SetProjectField
from builder.document import Network, Project, resolve_network
from builder.ports import freeze
from builder.propagate import Report, check

__all__ = ["DocumentModel"]


def _signature(net: Network) -> dict[str, tuple]:
    """What of each node affects validation (not its position)."""
    return {i: (n.block, freeze(n.params), n.trainable, n.init, id(n.subnet))
            for i, n in net.nodes.items()}


class DocumentModel(QObject):
    changed = Signal(object)  # builder Change, after caches were brought up to date
    replaced = Signal()  # another project was opened: views rebuild
    state_changed = Signal()  # dirty flag, undo/redo availability or path changed
    refused = Signal(str)  # a command was refused; the message says why

    def __init__(self, document: Document | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._doc = document or Document(Project())
        self._reports: dict[str, tuple[Report, dict[str, tuple]]] = {}
        self._stats: dict[str, NetworkStats] = {}
        self._recovered = False  # opened from a recovery file: dirty until saved
        self._replacing = False
        self._lock = ""  # why the graph is read-only now (a run uses it); "" when editable
        self._unsubscribe = self._doc.subscribe(self._on_change)

    # --- the document ---------------------------------------------------------------------
    @property
    def display_name(self) -> str:
        """What the project is called everywhere: its file's name once saved, else the
        example it copies ("… (unsaved copy)"), else Untitled."""
        if self.path:
            return Path(self.path).name
        return f"{self.origin} (unsaved copy)" if self.origin else "Untitled"

    @property
    def document(self) -> Document:
        return self._doc

    @property
    def project(self) -> Project:
        return self._doc.project

    @property
    def path(self):
        return self._doc.path

    origin: str | None = None  # the example an unsaved project is a copy of

    @property
    def dirty(self) -> bool:
        return self._doc.dirty or self._recovered

    def network(self, name: str) -> Network | None:
        """A network by name or a group's inside by path ("main/block1"); None if gone."""
        try:
            return resolve_network(self._doc.project, name)
        except KeyError:
            return None

    def replace(self, project: Project, path=None, recovered: bool = False,
                origin: str | None = None) -> None:
        """Show ``project`` (from ``path``; or, unsaved, a copy of the example ``origin``)."""
        self.origin = None if path else origin
        self._reports.clear()
        self._stats.clear()
        self._recovered = recovered
        self._replacing = True  # views rebuild once on ``replaced``, not also on the Change
        try:
            self._doc.replace_project(project, path)
        finally:
            self._replacing = False
        self.replaced.emit()
        self.state_changed.emit()

    def mark_saved(self, path) -> None:
        self._doc.path = path
        self.origin = None
        self._doc.mark_clean()
        self._recovered = False
        self.state_changed.emit()

    # --- editing --------------------------------------------------------------------------
    @property
    def locked(self) -> str:
        """Why the graph cannot be edited now ("" when it can)."""
        return self._lock

    def set_locked(self, reason: str) -> None:
        """Make the graph read-only (a training run uses it) or editable again (""). Project
        settings stay editable: they apply to the next run."""
        if reason != self._lock:
            self._lock = reason
            self.state_changed.emit()

    def do(self, command: Command) -> bool:
        """Apply an edit; a refused one changes nothing and reports its message."""
        if self._lock and not isinstance(command, SetProjectField):
            self.refused.emit(self._lock)
            return False
        try:
            self._doc.do(command)
        except CommandError as e:
            self.refused.emit(str(e))
            return False
        return True

    def undo(self) -> None:
        if self._lock:
            self.refused.emit(self._lock)
            return
        self._doc.undo()

    def redo(self) -> None:
        if self._lock:
            self.refused.emit(self._lock)
            return
        self._doc.redo()

    def _on_change(self, change: Change) -> None:
        if change.project:
            self._reports.clear()
            self._stats.clear()
        if self._replacing:
            return
        names = [change.network] if change.network is not None else list(self._reports)
        for name in names:
            cached = self._reports.get(name)
            net = self.network(name)
            if (cached is None or net is None or change.structure or change.network is None
                    or any(i not in net.nodes or cached[1].get(i) != (
                        (n := net.nodes[i]).block, freeze(n.params), n.trainable, n.init,
                        id(n.subnet)) for i in change.nodes)):
                # A group's shapes depend on its inside and the inside's inputs on the
                # outside, so a real edit anywhere re-checks the whole family of networks.
                self._drop_family(name)
        self.changed.emit(change)
        self.state_changed.emit()

    def _drop(self, name: str) -> None:
        self._reports.pop(name, None)
        self._stats.pop(name, None)

    def _drop_family(self, name: str) -> None:
        root = name.split("/")[0]
        for key in [k for k in self._reports if k.split("/")[0] == root]:
            self._drop(key)
        self._drop(name)

    # --- derived data ---------------------------------------------------------------------
    def report(self, name: str) -> Report | None:
        """Problems and shapes of a network; the same object until a real edit."""
        cached = self._reports.get(name)
        if cached is None:
            net = self.network(name)
            if net is None:
                return None
            parent, _, group_id = name.rpartition("/")
            outer = self.report(parent) if parent else None
            # a group's inside was checked with its parent, with the shapes that reach it
            report = outer.inner.get(group_id) if outer is not None else None
            cached = self._reports[name] = (report or check(net, path=name), _signature(net))
        return cached[0]

    def stats(self, name: str) -> NetworkStats | None:
        """Params, FLOPs and receptive fields (memoised per block in builder.analysis)."""
        stats = self._stats.get(name)
        if stats is None:
            report = self.report(name)
            if report is None:
                return None
            try:
                stats = analyze(report.graph.net, report=report)
            except Exception:  # noqa: BLE001 - a block's build failing must not kill the view
                stats = NetworkStats(report)
            self._stats[name] = stats
        return stats

    def all_problems(self) -> list:
        return [p for name in self.project.networks for p in self.report(name).problems]
