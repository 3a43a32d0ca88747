"""The network summary: layer, block, output shape, params, FLOPs and receptive field per node
(MATLAB's "analyze network" table), with totals, exportable as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from app.canvas.look import format_shape
from app.inspector.node_facts import human
from builder.analysis import NetworkStats, field_text

__all__ = ["summary_rows", "write_csv", "SummaryDialog", "HEADER"]

HEADER = ("Layer", "Block", "Output shape", "Params", "Trainable", "FLOPs", "Receptive field")


def summary_rows(stats: NetworkStats) -> list[tuple]:
    """One row per node in topological order (nodes that could not be analysed last)."""
    report = stats.report
    net = report.graph.net
    order = list(report.graph.order) + [n for n in net.nodes if n not in report.graph.order]
    rows = []
    for node_id in order:
        node = net.nodes[node_id]
        outs = report.shapes.outputs.get(node_id)
        shape = ", ".join(format_shape(s) for s in outs.values()) if outs else (
            "" if outs is not None else "?")
        s = stats.nodes.get(node_id)
        first = next(iter(outs.values()), None) if outs else None
        rows.append((node_id, node.block, shape, s.params if s else None,
                     s.trainable if s else None, s.flops if s else None,
                     field_text(s.receptive_field, first) if s else None))
    return rows


def write_csv(path: str | Path, rows: list[tuple], header: tuple = HEADER) -> Path:
    """Rows under ``header`` (the summary's by default); None cells are written empty."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    return path


class SummaryDialog(QDialog):
    def __init__(self, net_name: str, stats: NetworkStats, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Summary of “{net_name}”")
        self.resize(820, 560)
        self.rows = summary_rows(stats)
        layout = QVBoxLayout(self)
        total = QLabel(f"{len(self.rows)} layers · {stats.params:,} parameters "
                       f"({stats.trainable:,} trainable) · {human(stats.flops)} FLOPs per sample")
        layout.addWidget(total)
        self.table = QTableWidget(len(self.rows), len(HEADER))
        self.table.setHorizontalHeaderLabels(list(HEADER))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        for r, row in enumerate(self.rows):
            for c, value in enumerate(row):
                text = "" if value is None else (f"{value:,}" if isinstance(value, int) else value)
                if c == 5 and value is not None:
                    text = human(value)
                item = QTableWidgetItem(text)
                if c >= 3:  # figures, read down the column
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)  # spare width
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        export = buttons.addButton("Export CSV…", QDialogButtonBox.ActionRole)
        export.clicked.connect(self.export)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.net_name = net_name

    def export(self) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, "Export summary", f"{self.net_name}.csv",
                                              "CSV files (*.csv)")
        return write_csv(path, self.rows) if path else None


if __name__ == "__main__":
    from app.preview import preview_model, run_preview

    model = preview_model()
    run_preview(lambda: SummaryDialog("main", model.stats("main")), (720, 420))
