"""The run history: every run of the project with its settings and results; tick runs to
overlay their curves (SGD vs momentum vs Adam…), export their metrics as CSV and the plot as
PNG/SVG, and show what changed in the graph between two runs."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.training.graph_diff import ProjectDiff, diff_projects
from app.training.plots.style import Panel, live_curve, plot_widget, series_color
from app.training.runs import RunRecord, RunStore
from app.training.series import RunSeries, ema

__all__ = ["RunsPanel", "metric_choices", "metric_columns", "curve_of"]

COLUMNS = ("Run", "Status", "Steps", "Dataset", "Started")  # then each recipe's metrics
MAX_METRICS = 6  # validation metric columns at most; the rest are in the plot's picker
STATUS = {"max_steps": "done (step cap)", "completed": "done", "early_stopping": "stopped early",
          "stopped": "stopped", "failed": "failed", "running": "running"}
SMOOTH = 0.6  # per-step curves are compared smoothed (raw ones are unreadable overlaid)


def metric_choices(all_series: list[RunSeries]) -> list[tuple[str, str, str]]:
    """(label, kind, name) of every curve some run has: kind ``step``, ``val`` or ``train``."""
    out: list[tuple[str, str, str]] = []
    for s in all_series:
        for (split, name) in s.epochs:
            if split == "val" and ("val", name) not in [(k, n) for _, k, n in out]:
                out.append((f"{name} · validation", "val", name))
        for name in s.steps:
            if not name.startswith(("aux/", "l1", "l2")) and \
                    ("step", name) not in [(k, n) for _, k, n in out]:
                out.append((f"{name} · train (per step, smoothed)", "step", name))
    out.sort(key=lambda c: (not c[2].startswith("loss"), c[1] != "val", c[2]))
    return out


def curve_of(series: RunSeries, kind: str, name: str):
    """(x, y) of one run's chosen curve, or None."""
    if kind == "step":
        c = series.steps.get(name)
        if c is None or not len(c):
            return None
        smooth, _ = ema(c.y, SMOOTH)
        return c.x, smooth[: len(c)]
    c = series.epochs.get(("val" if kind == "val" else "train", name))
    return (c.x, c.y) if c is not None and len(c) else None


def metric_columns(records) -> list[str]:
    """The validation metrics the listed runs report, loss first, then the ones most runs
    share: a GAN's and a classifier's runs each show their own numbers."""
    counts: dict[str, int] = {}
    for r in records:
        for name, value in r.final.items():
            if isinstance(value, (int, float)):
                counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts, key=lambda n: (n != "loss", -counts[n], n))
    return ranked[:MAX_METRICS]


def _num(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else ""


class RunsPanel(QWidget):
    diff_requested = Signal(object, str)  # ProjectDiff, title
    marks_cleared = Signal()

    min_interval = 0.5  # seconds between redraws (the dock asks)

    def __init__(self, store: RunStore, live: Callable[[str], RunSeries | None] | None = None,
                 parent=None):
        super().__init__(parent)
        self.store = store
        self.live = live or (lambda name: None)
        self.project_text: Callable[[], str] = lambda: ""  # what a saved PNG carries
        self._cache: dict[str, tuple[float, RunSeries]] = {}
        self._curves: dict[str, object] = {}
        self._seen = None
        self._stale = True
        self.records: list[RunRecord] = []

        self.tree = QTreeWidget()
        self.metrics: list[str] = []  # the validation metric columns, set by reload
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QTreeWidget.ExtendedSelection)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemChanged.connect(lambda *_: self._checked_changed())
        self.compare_button = QPushButton("What changed?")
        self.compare_button.setToolTip("Compare the graphs and settings of the two ticked (or "
                                       "selected) runs; the changes are marked on the canvas")
        self.clear_button = QPushButton("Clear marks")
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("The metrics of the ticked runs (all runs if none is "
                                   "ticked) in one CSV file")
        self.png_button = QPushButton("Save…")
        self.png_button.setToolTip("The comparison plot as PNG or SVG")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected runs' folders")
        self.metric = QComboBox()
        self.metric.setMinimumWidth(140)
        self.metric.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.metric.setMinimumContentsLength(16)
        self.metric.currentIndexChanged.connect(lambda _: self._redraw(force=True))
        self.diff_text = QPlainTextEdit()
        self.diff_text.setReadOnly(True)
        self.diff_text.setPlaceholderText("Tick two runs and press “What changed?”.")
        self.diff_text.setMaximumHeight(110)
        self.folder_label = QLabel()
        self.folder_label.setProperty("role", "dim")
        self.folder_label.setTextInteractionFlags(Qt.TextSelectableByMouse)

        buttons = QHBoxLayout()
        for b in (self.compare_button, self.clear_button, self.csv_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.tree, 1)
        ll.addLayout(buttons)
        ll.addWidget(self.diff_text)
        ll.addWidget(self.folder_label)

        self.plot = plot_widget("Compare runs", "", legend=True)
        self.plot_panel = Panel(self.plot, "Tick runs on the left to overlay their curves.")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Curve"))
        top.addWidget(self.metric, 1)
        top.addWidget(self.png_button)
        rl.addLayout(top)
        rl.addWidget(self.plot_panel, 1)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 4)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.compare_button.clicked.connect(lambda: self.compare())
        self.clear_button.clicked.connect(self.marks_cleared)
        self.csv_button.clicked.connect(lambda: self.export_csv())
        self.png_button.clicked.connect(lambda: self.save_plot())
        self.delete_button.clicked.connect(self.delete_selected)
        self.reload()

    # --- the list --------------------------------------------------------------------------
    def set_store(self, store: RunStore) -> None:
        self.store = store
        self._cache.clear()
        self.reload()

    def reload(self) -> None:
        checked = set(self.checked_names())
        self.records = self.store.records()
        self.metrics = metric_columns(self.records)
        headers = [*COLUMNS[:3], *(f"Val {m}" for m in self.metrics), *COLUMNS[3:]]
        self.tree.blockSignals(True)
        self.tree.clear()
        self.tree.setColumnCount(len(headers))
        self.tree.setHeaderLabels(headers)
        for r in self.records:
            item = QTreeWidgetItem([
                r.label, STATUS.get(r.status, r.status), str(r.steps) if r.steps else "",
                *(_num(r.final.get(m)) for m in self.metrics), r.dataset,
                time.strftime("%H:%M:%S", time.localtime(r.created))])
            item.setData(0, Qt.UserRole, r.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(0, Qt.Checked if r.name in checked else Qt.Unchecked)
            item.setToolTip(0, str(r.folder))
            if r.message:
                item.setToolTip(1, r.message)
            self.tree.addTopLevelItem(item)
        for i in range(len(headers)):
            self.tree.resizeColumnToContents(i)
        self.tree.blockSignals(False)
        where = "a temporary folder (saved with the project)" if self.store.temporary \
            else str(self.store.root)
        self.folder_label.setText(f"Runs are kept in {where}")
        self._checked_changed()

    def set_checked(self, names, on: bool = True) -> None:
        self.tree.blockSignals(True)
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.UserRole) in set(names):
                item.setCheckState(0, Qt.Checked if on else Qt.Unchecked)
        self.tree.blockSignals(False)
        self._checked_changed()

    def checked_names(self) -> list[str]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.checkState(0) == Qt.Checked:
                out.append(item.data(0, Qt.UserRole))
        return out

    def _record(self, name: str) -> RunRecord | None:
        return next((r for r in self.records if r.name == name), None)

    def series_of(self, record: RunRecord) -> RunSeries:
        live = self.live(record.name)
        if live is not None:
            return live
        path = record.folder / "metrics.csv"
        stamp = path.stat().st_mtime if path.is_file() else 0.0
        cached = self._cache.get(record.name)
        if cached is None or cached[0] != stamp:
            cached = self._cache[record.name] = (stamp, RunSeries.from_csv(path))
        return cached[1]

    # --- the overlay plot ------------------------------------------------------------------
    def _checked_changed(self) -> None:
        """Offer the curves the ticked runs have and redraw: only while the tab is on screen
        (reading finished runs' metrics.csv files must not stall a run that starts)."""
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        records = [r for r in (self._record(n) for n in self.checked_names()) if r]
        choices = metric_choices([self.series_of(r) for r in records])
        current = self.metric.currentData()
        self.metric.blockSignals(True)
        self.metric.clear()
        for label, kind, name in choices:
            self.metric.addItem(label, f"{kind}:{name}")
        index = self.metric.findData(current) if current is not None else -1
        self.metric.setCurrentIndex(max(0, index))
        self.metric.blockSignals(False)
        self._redraw(force=True)

    def reset(self) -> None:
        pass  # the history outlives a run

    def refresh(self, series: RunSeries) -> None:
        if self._stale:
            self._checked_changed()
        else:
            self._redraw()

    def showEvent(self, event):
        super().showEvent(event)
        if self._stale:
            self._checked_changed()

    def _redraw(self, force: bool = False) -> None:
        names = self.checked_names()
        choice = self.metric.currentData()
        records = [r for r in (self._record(n) for n in names) if r]
        key = (tuple(names), choice, tuple(self.series_of(r).version for r in records))
        if key == self._seen and not force:
            return
        self._seen = key
        item = self.plot.getPlotItem()
        if force or set(self._curves) != set(names):
            item.clear()
            if item.legend is not None:
                item.legend.clear()
            self._curves = {}
        drawn = 0
        for i, r in enumerate(records):
            xy = curve_of(self.series_of(r), *choice.split(":", 1)) if choice else None
            curve = self._curves.get(r.name)
            if curve is None:
                curve = self._curves[r.name] = live_curve(self.plot, series_color(i), 2.0,
                                                          name=r.label)
            if xy is None:
                curve.setData([], [])
            else:
                curve.setData(*xy)
                drawn += 1
        self.plot_panel.set_empty(not drawn)

    # --- actions ---------------------------------------------------------------------------
    def _two(self) -> list[RunRecord]:
        names = self.checked_names()
        if len(names) != 2:
            names = [i.data(0, Qt.UserRole) for i in self.tree.selectedItems()]
        return [r for r in (self._record(n) for n in names[:2]) if r]

    def compare(self) -> ProjectDiff | None:
        pair = self._two()
        if len(pair) != 2:
            self.diff_text.setPlainText("Tick (or select) exactly two runs to compare them.")
            return None
        a, b = sorted(pair, key=lambda r: r.created)
        pa, pb = a.project(), b.project()
        if pa is None or pb is None:
            self.diff_text.setPlainText("One of these runs has no readable project.loom.")
            return None
        diff = diff_projects(pa, pb)
        ta, tb = a.label.split(" ")[0], b.label.split(" ")[0]
        self.diff_text.setPlainText(f"From {a.label} to {b.label}:\n" + diff.text(ta, tb))
        self.diff_requested.emit(diff, f"Changed from run {ta} to {tb}")
        return diff

    def export_csv(self, path: str | Path | None = None) -> Path | None:
        names = self.checked_names() or [r.name for r in self.records]
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "runs.csv",
                                                  "CSV files (*.csv)")
            if not path:
                return None
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("run", "label", "step", "epoch", "split", "name", "value"))
            for name in names:
                r = self._record(name)
                source = r.folder / "metrics.csv" if r else None
                if source is None or not source.is_file():
                    continue
                with open(source, newline="", encoding="utf-8") as f:
                    for row in csv.DictReader(f):
                        writer.writerow((r.name, r.label, row["step"], row["epoch"],
                                         row["split"], row["name"], row["value"]))
        return path

    def save_plot(self, path: str | Path | None = None) -> Path | None:
        from app.training.dock import save_plot

        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save the comparison plot",
                                                  "compare.png", "PNG (*.png);;SVG (*.svg)")
            if not path:
                return None
        return save_plot(self.plot, path, self.project_text())

    def delete_selected(self) -> None:
        for item in self.tree.selectedItems():
            r = self._record(item.data(0, Qt.UserRole))
            if r is not None and r.status != "running":
                self.store.delete(r)
        self.reload()
