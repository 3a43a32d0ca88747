"""The start page: the gallery of templates as cards, a blank project, and recent files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import settings
from builder.gallery import templates
from builder.serialize import LoomError

__all__ = ["StartPage"]


class _Card(QPushButton):
    def __init__(self, title: str, summary: str, parent=None):
        super().__init__(parent)
        self.setCursor(Qt.PointingHandCursor)
        self.setMinimumSize(230, 96)
        self.setToolTip(summary)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        head = QLabel(title)
        head.setWordWrap(True)
        font = head.font()
        font.setBold(True)
        head.setFont(font)
        body = QLabel(summary)
        body.setWordWrap(True)
        body.setProperty("role", "dim")
        for label in (head, body):
            label.setAttribute(Qt.WA_TransparentForMouseEvents)
            lay.addWidget(label)
        lay.addStretch(1)


class StartPage(QScrollArea):
    template_chosen = Signal(str)
    blank_chosen = Signal()
    file_chosen = Signal(str)
    open_requested = Signal()
    back_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.refresh()

    def refresh(self) -> None:
        host = QWidget()
        outer = QVBoxLayout(host)
        outer.setContentsMargins(40, 30, 40, 30)
        outer.setSpacing(12)
        title = QLabel("Layerloom")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2)
        font.setBold(True)
        title.setFont(font)
        outer.addWidget(title)
        outer.addWidget(QLabel("Design a neural network by wiring blocks. Start from an "
                               "example or a blank canvas."))
        row = QHBoxLayout()
        for text, signal in (("Blank project", self.blank_chosen), ("Open…", self.open_requested),
                             ("Back to the editor", self.back_requested)):
            button = QPushButton(text)
            button.clicked.connect(signal.emit)
            row.addWidget(button)
        row.addStretch(1)
        outer.addLayout(row)
        head = QLabel("Examples")
        head.setProperty("role", "heading")
        outer.addWidget(head)
        grid = QGridLayout()
        grid.setSpacing(10)
        self.cards: dict[str, _Card] = {}
        try:
            gallery = templates()
        except LoomError:
            gallery = []
        for i, t in enumerate(gallery):
            card = _Card(t.title or t.name, t.summary)
            card.clicked.connect(lambda _=False, name=t.name: self.template_chosen.emit(name))
            grid.addWidget(card, i // 3, i % 3)
            self.cards[t.name] = card
        outer.addLayout(grid)
        head = QLabel("Recent files")
        head.setProperty("role", "heading")
        outer.addWidget(head)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(200)
        for path in settings.recent_files():
            item = QListWidgetItem(f"{Path(path).name}    —    {path}")
            item.setData(Qt.UserRole, path)
            self.recent.addItem(item)
        if not self.recent.count():
            self.recent.addItem("No recent files yet.")
        self.recent.itemActivated.connect(self._recent)
        self.recent.itemClicked.connect(self._recent)
        outer.addWidget(self.recent)
        outer.addStretch(1)
        self.setWidget(host)

    def _recent(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.UserRole)
        if path:
            self.file_chosen.emit(path)


if __name__ == "__main__":
    from app.preview import run_preview

    run_preview(StartPage, (900, 640))
