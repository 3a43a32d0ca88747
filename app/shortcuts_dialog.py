"""Help ▸ Keyboard shortcuts: generated from the window's real actions, plus canvas gestures,
so the list can never disagree with what the keys do."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout

from app.menus import CANVAS_GESTURES

__all__ = ["shortcut_rows", "ShortcutsDialog"]


def shortcut_rows(actions: dict) -> list[tuple[str, str]]:
    rows = []
    for act in actions.values():
        keys = ", ".join(k.toString(QKeySequence.NativeText) for k in act.shortcuts())
        if keys:
            rows.append((keys, act.text().replace("&", "").rstrip("…")))
    return rows + list(CANVAS_GESTURES)


class ShortcutsDialog(QDialog):
    def __init__(self, actions: dict, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(520, 560)
        rows = shortcut_rows(actions)
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Keys", "Does"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        for r, (keys, text) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(keys))
            table.setItem(r, 1, QTableWidgetItem(text))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
