"""Where one network's weights start: empty for a fresh initialisation, or saved weights (a
run folder, a .safetensors file or a .pt/.pth state dict), typed or browsed for."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["InitField", "INIT_HELP"]

INIT_HELP = ("Start this network from saved weights: a run folder, a .safetensors or a "
             ".pt/.pth state dict. Tensors are matched by node name; the run's log lists what "
             "was loaded, skipped (shape differs) and new.")
WEIGHT_FILES = "Weights (*.safetensors *.pt *.pth);;All files (*)"


class InitField(QWidget):
    committed = Signal(str, str)  # network, path ("" = fresh initialisation)

    def __init__(self, network: str, parent=None):
        super().__init__(parent)
        self.network = network
        self.path = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("fresh initialisation")
        self.edit.setToolTip(INIT_HELP)
        self.edit.editingFinished.connect(self._commit)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Choose a run folder or a weights file")
        menu = QMenu(self.browse_button)
        menu.addAction("A run folder…", lambda: self.browse("folder"))
        menu.addAction("A weights file (.safetensors, .pt, .pth)…", lambda: self.browse("file"))
        self.browse_button.setMenu(menu)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Start from a fresh initialisation")
        self.clear_button.clicked.connect(self.clear)
        row.addWidget(self.browse_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        self.warning = QLabel()
        self.warning.setProperty("role", "error")
        self.warning.setWordWrap(True)
        self.warning.hide()
        lay.addWidget(self.edit)  # a path needs the width; the buttons go under it
        lay.addLayout(row)
        lay.addWidget(self.warning)

    def show_path(self, path: str) -> None:
        self.path = path
        if self.edit.text() != path:
            self.edit.setText(path)
        self.clear_button.setEnabled(bool(path))
        missing = bool(path) and not Path(path).expanduser().exists()
        self.warning.setText("Not found on this computer: a run will refuse it." if missing
                             else "")
        self.warning.setVisible(missing)

    def clear(self) -> None:
        self.edit.setText("")
        self._commit()

    def ask_path(self, kind: str) -> str:
        if kind == "folder":
            return QFileDialog.getExistingDirectory(self, "Start from the weights of run")
        path, _ = QFileDialog.getOpenFileName(self, "Start from the weights in", "",
                                              WEIGHT_FILES)
        return path

    def browse(self, kind: str) -> None:
        path = self.ask_path(kind)
        if path:
            self.edit.setText(path)
            self._commit()

    def _commit(self) -> None:
        path = self.edit.text().strip()
        if path != self.path:
            self.path = path
            self.committed.emit(self.network, path)
