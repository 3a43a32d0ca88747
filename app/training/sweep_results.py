"""The results of a sweep (Training ▸ Sweep…): a sortable table of ``DIR/results.csv`` with
the best run highlighted, CSV export, and every run's validation curve overlaid.

It only reads files the sweep writes (``results.csv``, each ``run-NNN/metrics.csv``), so it
shows a sweep run from the command line just as well as one started in the app."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.training.plots.style import Panel, live_curve, plot_widget, series_color

__all__ = ["SweepResults", "read_results", "read_curve"]

FIXED = ("run", "status", "steps", "seconds", "error")  # results.csv's columns besides keys


def read_results(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of a sweep's results.csv; ([], []) while there is none."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)
    except OSError:
        return [], []


def read_curve(run_dir: Path, metric: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the validation ``metric`` of one run, from its metrics.csv."""
    xs, ys = [], []
    try:
        with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["split"] == "val" and row["name"] == metric:
                    xs.append(float(row["step"]))
                    ys.append(float(row["value"]))
    except (OSError, KeyError, ValueError):
        pass
    return xs, ys


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class _Cell(QTableWidgetItem):
    """A table cell that sorts numbers as numbers (and blanks last)."""

    def __init__(self, text: str):
        value = _number(text)
        shown = text if value is None or text.lstrip("-").isdigit() else f"{value:.4g}"
        super().__init__(shown)
        self.key = (0, value, "") if value is not None else (1 if text else 2, 0.0, text)
        self.setToolTip(text)
        if value is not None:
            self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other):
        return self.key < getattr(other, "key", (2, 0.0, ""))


class SweepResults(QWidget):
    """``monitor()``: the (metric, "min"|"max") the project's recipe watches."""

    exported = Signal(str)  # the path results.csv was copied to

    def __init__(self, monitor, parent=None):
        super().__init__(parent)
        self.monitor = monitor
        self.out: Path | None = None
        self.rows: list[dict[str, str]] = []
        self.best_run = ""
        self._curves: dict[tuple[str, str], tuple[list, list]] = {}

        self.table = QTableWidget(0, 0)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSortIndicator(0, Qt.AscendingOrder)
        self.best_label = QLabel("")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.metric = QComboBox()
        self.metric.setMinimumContentsLength(12)
        self.metric.currentTextChanged.connect(lambda _: self._plot())
        self.plot = plot_widget("Validation curves", "", legend=True)
        self.plot_panel = Panel(self.plot, "Each run's validation curve appears here as the "
                                           "run ends.")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.best_label, 1)
        bottom.addWidget(self.export_button)
        ll.addLayout(bottom)
        right = QWidget()
        rl = QGridLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(QLabel("Curve"), 0, 0)
        rl.addWidget(self.metric, 0, 1)
        rl.addWidget(self.plot_panel, 1, 0, 1, 3)
        rl.setColumnStretch(2, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([600, 500])  # the table's numbers need the room more than the plot
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.export_button.clicked.connect(lambda: self.export_csv())

    def show_folder(self, out: Path | None) -> None:
        """Follow the sweep writing into ``out`` (forgets the curves read so far)."""
        self.out, self._curves = out, {}
        self.refresh()

    def refresh(self) -> int:
        """Read results.csv again (the table, the best run, the curves); the runs in it."""
        if self.out is None:
            return 0
        columns, rows = read_results(self.out / "results.csv")
        self.export_button.setEnabled(bool(rows))
        header = self.table.horizontalHeader()
        section, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(columns))
        # The values and what they reached side by side; the file keeps its own order.
        fixed = [c for c in FIXED[1:] if c in columns]
        final = [c for c in columns if c.startswith("final_")]
        columns = [c for c in columns if c not in fixed and c not in final] + final + fixed
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(rows))
        best = self._best(columns, rows)
        self.best_run = rows[best]["run"] if best is not None else ""
        accent = QColor(theme.current().accent)
        accent.setAlpha(70)
        for r, row in enumerate(rows):
            for c, name in enumerate(columns):
                cell = _Cell(row.get(name) or "")
                if r == best:
                    cell.setBackground(accent)
                    font = QFont(cell.font())
                    font.setBold(True)
                    cell.setFont(font)
                if name == "run":
                    cell.setData(Qt.DecorationRole, series_color(r))
                    cell.setToolTip(str(self.out / row["run"]))
                self.table.setItem(r, c, cell)
        self.table.setSortingEnabled(True)
        self.table.sortItems(section, order)
        self.table.resizeColumnsToContents()
        self.rows = rows
        metrics = [c[len("final_"):] for c in columns if c.startswith("final_")]
        if metrics != [self.metric.itemText(i) for i in range(self.metric.count())]:
            chosen = self.metric.currentText() or self.monitor()[0]
            self.metric.blockSignals(True)
            self.metric.clear()
            self.metric.addItems(metrics)
            self.metric.setCurrentText(chosen if chosen in metrics else metrics[0])
            self.metric.blockSignals(False)
        self._plot()
        return len(rows)

    def _best(self, columns, rows) -> int | None:
        """The index of the best row by its best_<metric> column (the recipe's direction)."""
        col = next((c for c in columns if c.startswith("best_")), None)
        if col is None:
            return None
        direction = self._direction(col[len("best_"):])
        scored = [(v, i) for i, r in enumerate(rows) if (v := _number(r.get(col, ""))) is
                  not None and v == v]
        if not scored:
            return None
        v, i = (min if direction == "min" else max)(scored)
        self.best_label.setText(f"Best: {rows[i]['run']} ({', '.join(self._label(rows[i]))}) "
                                f"— {col[len('best_'):]} {v:.4g}")
        return i

    @staticmethod
    def _label(row: dict) -> list[str]:
        """The values a run was given, as "lr=0.1" (results.csv puts the keys in its row)."""
        keys = [c for c in row if c not in FIXED and not c.startswith(("final_", "best_"))]
        return [f"{k.removeprefix('training.').split('/')[-1]}={row[k]}" for k in keys]

    def _direction(self, metric: str) -> str:
        """"min" or "max": the recipe says for its monitored metric; names tell the others."""
        monitored, direction = self.monitor()
        if metric == monitored:
            return direction
        return "min" if any(w in metric for w in ("loss", "error", "mse", "mae")) else "max"

    def _plot(self) -> None:
        metric = self.metric.currentText()
        item = self.plot.getPlotItem()
        item.clear()
        if item.legend is not None:  # where the curves are not: a loss falls, accuracy rises
            item.legend.clear()
            corner = (1, 0) if self._direction(metric) == "min" else (1, 1)
            item.legend.anchor(corner, corner, offset=(-6, 6 if corner[1] == 0 else -6))
        item.setLabel("left", metric)
        for i, row in enumerate(self.rows):
            key = (row["run"], metric)
            if key not in self._curves:
                self._curves[key] = read_curve(self.out / row["run"], metric)
            xs, ys = self._curves[key]
            best = row["run"] == self.best_run
            curve = live_curve(self.plot, series_color(i), width=3 if best else 1.5,
                               name=", ".join(self._label(row)) + (" ★" if best else ""),
                               symbol="o")
            curve.setData(xs, ys)
        self.plot_panel.set_empty(not self.rows)

    def export_csv(self, path: str | None = None) -> str | None:
        """Copy results.csv to ``path`` (asked for when None); the path written, or None."""
        source = self.out / "results.csv" if self.out else None
        if source is None or not source.is_file():
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export sweep results",
                                                  str(Path.home() / "sweep-results.csv"),
                                                  "CSV (*.csv)")
        if not path:
            return None
        shutil.copyfile(source, path)
        self.exported.emit(path)
        return path




if __name__ == "__main__":  # preview: python -m app.training.sweep_results SWEEP_DIR
    from app.application import make_app

    app = make_app()
    view = SweepResults(lambda: ("loss", "min"))
    view.show_folder(Path(sys.argv[1]))
    view.resize(1100, 520)
    view.show()
    app.exec()
