"""Network ▸ Convolution variants…: the seven convolutions side by side for the user's channel
counts, kernel and image size. Thin: every figure comes from ``builder.conv_variants``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from app.inspector.node_facts import human
from app.summary import write_csv
from builder.conv_variants import (
    HEADER,
    NOTES,
    VariantRow,
    conv_variants,
    headline,
    table_rows,
)

__all__ = ["ConvVariantsDialog"]

# (argument of conv_variants, label, default, maximum, tooltip)
_INPUTS = (
    ("c_in", "C_in", 64, 4096, "Channels of the input image"),
    ("c_out", "C_out", 128, 4096, "Channels the convolution should produce"),
    ("kernel", "Kernel k", 3, 15, "Window size k×k (k×1 + 1×k when spatially separable)"),
    ("height", "Size H = W", 32, 512, "Height and width of the input image"),
    ("groups", "Groups g", 4, 4096, "Groups of the grouped convolution; must divide C_in and "
                                     "C_out"),
)


class ConvVariantsDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Convolution variants")
        self.resize(1100, 380)
        self.rows: list[VariantRow] = []
        layout = QVBoxLayout(self)

        inputs = QHBoxLayout()
        inputs.setSpacing(18)
        self.spins: dict[str, QSpinBox] = {}
        for key, label, default, top, tip in _INPUTS:
            spin = QSpinBox()
            spin.setRange(1, top)
            spin.setValue(default)
            spin.setToolTip(tip)
            spin.valueChanged.connect(self.refresh)
            self.spins[key] = spin
            form = QFormLayout()
            form.addRow(label, spin)
            inputs.addLayout(form)
        inputs.addStretch(1)
        layout.addLayout(inputs)

        self.table = QTableWidget(0, len(HEADER))
        self.table.setHorizontalHeaderLabels(list(HEADER))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.Stretch)  # the blocks: the longest text
        layout.addWidget(self.table, 1)

        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        layout.addWidget(self.explanation)

        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.export_button = buttons.addButton("Export CSV…", QDialogButtonBox.ActionRole)
        self.export_button.clicked.connect(self.export)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.refresh()

    @classmethod
    def open_for(cls, parent) -> ConvVariantsDialog:
        """Show the parent's dialog (one per window, kept open beside the canvas)."""
        dialog = parent.findChild(cls) or cls(parent)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def values(self) -> dict[str, int]:
        return {key: spin.value() for key, spin in self.spins.items()}

    def refresh(self) -> None:
        """Recompute the table from the spin boxes; a refused combination says why."""
        try:
            self.rows = conv_variants(**self.values())
        except ValueError as err:
            self.rows = []
            self.table.setRowCount(0)
            self.explanation.setText(f"⚠ {err}")
            self.export_button.setEnabled(False)
            return
        self.export_button.setEnabled(True)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            cells = (row.variant, row.blocks, "×".join(map(str, row.output_shape)),
                     f"{row.params:,}", human(row.flops),
                     "—" if row.receptive_field is None
                     else f"{row.receptive_field}×{row.receptive_field}",
                     f"{row.params_ratio:.3f}×", f"{row.flops_ratio:.3f}×")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 3:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if c < 2:
                    item.setToolTip(NOTES[row.variant])
                if c == 5 and row.receptive_field is None:
                    item.setToolTip("A transposed conv spreads each input pixel over a window "
                                    "of outputs: there is no single input window to report.")
                self.table.setItem(r, c, item)
        self.explanation.setText(headline(self.rows))

    def export(self) -> Path | None:
        v = self.values()
        name = f"conv_variants_{v['c_in']}x{v['c_out']}_k{v['kernel']}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export convolution variants", name,
                                              "CSV files (*.csv)")
        return self.write(path) if path else None

    def write(self, path: str | Path) -> Path:
        return write_csv(path, table_rows(self.rows), HEADER)


if __name__ == "__main__":
    from app.preview import run_preview

    run_preview(ConvVariantsDialog, (1100, 380))
