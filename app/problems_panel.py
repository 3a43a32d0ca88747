"""The problems list: every validation problem of every network, those inside groups too
(listed where they are, "main ▸ block1", not as the group's summary).  A click selects and
centres the node, opening a group's tab first; a double-click (or the Fix button) also applies
the problem's fix when it has one, inside a group to the group's inside."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.document_model import DocumentModel
from app.groups import tab_title
from app.icons import severity_icon
from app.quick_fix import fix_label
from builder.problems import ERROR, Code

__all__ = ["ProblemsPanel"]


class ProblemsPanel(QWidget):
    node_requested = Signal(str, str)  # network, node
    fix_requested = Signal(object)  # Problem

    def __init__(self, model: DocumentModel, parent=None):
        super().__init__(parent)
        self.model = model
        self._shown = None
        self.problems: list = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(2)
        bar = QHBoxLayout()
        self.summary = QLabel()
        self.fix_button = QPushButton("Apply fix")
        self.fix_button.setEnabled(False)
        self.fix_button.clicked.connect(self._fix_current)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.fix_button)
        layout.addLayout(bar)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["", "Network", "Block", "Problem"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setColumnWidth(0, 28)
        self.tree.setColumnWidth(1, 90)
        self.tree.setColumnWidth(2, 120)
        layout.addWidget(self.tree)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.tree.currentItemChanged.connect(self._current_changed)
        self.refresh()

    def refresh(self, *_):
        project = self.model.project
        reports = tuple(self.model.report(n) for n in project.networks)
        if self._shown == reports:
            return  # nothing but moves since the last time
        self._shown = reports
        # a group's summary is left out: what it sums up is listed, each where it is
        self.problems = sorted((p for r in reports for p in r.all_problems()
                                if p.code != Code.IN_GROUP),
                               key=lambda p: p.severity != ERROR)  # errors first, stable
        self.tree.clear()
        items = []
        for p in self.problems:
            error = p.severity == ERROR
            fix = fix_label(p)
            where = tab_title(p.network)
            item = QTreeWidgetItem(["", where, p.node or "",
                                    p.message + (f"   [fix: {fix}]" if fix else "")])
            item.setIcon(0, severity_icon(error))
            for column in (1, 2):
                item.setToolTip(column, where + (f" ▸ {p.node}" if p.node else ""))
            item.setToolTip(3, p.message)
            item.setData(0, Qt.UserRole, p)
            items.append(item)
        self.tree.addTopLevelItems(items)
        # paths into groups ("main ▸ block1") are longer than a network's name: widen to fit
        metrics = self.tree.fontMetrics()
        need = max((metrics.horizontalAdvance(tab_title(n)) for n in
                    {p.network for p in self.problems}), default=0) + 24
        if need > self.tree.columnWidth(1):
            self.tree.setColumnWidth(1, min(need, 280))
        errors = sum(p.severity == ERROR for p in self.problems)
        warnings = len(self.problems) - errors
        self.summary.setText("No problems: every network is valid." if not self.problems else
                             f"{errors} error{'s' * (errors != 1)}, "
                             f"{warnings} warning{'s' * (warnings != 1)}")
        self.fix_button.setEnabled(False)

    def _clicked(self, item: QTreeWidgetItem) -> None:
        p = item.data(0, Qt.UserRole)
        if p is not None and p.node:
            self.node_requested.emit(p.network, p.node)  # a group's tab opens if need be

    def _double_clicked(self, item: QTreeWidgetItem) -> None:
        self._clicked(item)  # a real double-click went there on its first click: no harm
        self._fix(item)

    def _current_changed(self, item, _previous=None) -> None:
        p = item.data(0, Qt.UserRole) if item is not None else None
        label = fix_label(p) if p is not None else None
        self.fix_button.setEnabled(label is not None)
        self.fix_button.setText(f"Fix: {label}" if label else "Apply fix")

    def _fix(self, item) -> None:
        p = item.data(0, Qt.UserRole) if item is not None else None
        if p is not None and fix_label(p):
            self.fix_requested.emit(p)

    def _fix_current(self) -> None:
        self._fix(self.tree.currentItem())


if __name__ == "__main__":
    from app.preview import preview_model, run_preview
    from builder.commands import SetParams

    model = preview_model()
    model.do(SetParams("main", "x", {"kind": "tokens"}))  # a problem with a fix
    run_preview(lambda: ProblemsPanel(model), (720, 200))
