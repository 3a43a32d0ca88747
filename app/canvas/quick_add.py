"""The quick-add search (Tab or Space on the canvas, as in Blender and ComfyUI).

A popup with a search line and a ranked list of blocks; Enter or a click adds the block at
the point it was opened for.  Opened from a dropped wire it lists only blocks that fit.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from app.icons import block_icon
from builder import blocks

__all__ = ["QuickAdd", "rank"]


def rank(query: str, spec) -> int | None:
    """Lower is better; None when the block does not match at all."""
    q = query.strip().lower()
    if not q:
        return 0
    label, type_ = spec.label.lower(), spec.type.lower()
    if label == q or type_ == q:
        return 0
    if label.startswith(q) or type_.startswith(q):
        return 1
    if q in label or q in type_:
        return 2
    if q in spec.category.lower():
        return 3
    it = iter(type_)  # a subsequence: "cv2" finds Conv2d
    if all(ch in it for ch in q.replace(" ", "")):
        return 4
    if q in spec.concept.lower():
        return 5
    return None


class QuickAdd(QFrame):
    chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, Qt.Popup)
        self.setFrameShape(QFrame.StyledPanel)
        self.setMinimumWidth(260)
        self._allowed: set[str] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.title = QLabel("Add block")
        self.title.setProperty("role", "dim")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setMinimumHeight(280)
        for w in (self.title, self.search, self.list):
            layout.addWidget(w)
        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.list.itemActivated.connect(lambda item: self._choose(item))
        self.list.itemClicked.connect(lambda item: self._choose(item))

    def open_at(self, global_pos: QPoint, allowed: set[str] | None = None,
                title: str = "Add block") -> None:
        self._allowed = allowed
        self.title.setText(title)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._filter("")
        self.adjustSize()
        self.move(global_pos)
        self.show()
        self.search.setFocus()

    def _filter(self, text: str) -> None:
        self.list.clear()
        found = []
        for order, spec in enumerate(s for group in blocks.by_category().values() for s in group):
            if self._allowed is not None and spec.type not in self._allowed:
                continue
            score = rank(text, spec)
            if score is not None:
                found.append((score, order, spec))
        for _, _, spec in sorted(found, key=lambda t: t[:2]):
            item = QListWidgetItem(block_icon(spec), f"{spec.label}")
            item.setData(Qt.UserRole, spec.type)
            item.setToolTip(f"{spec.category}\n\n{spec.concept}")
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def visible_types(self) -> list[str]:
        return [self.list.item(i).data(Qt.UserRole) for i in range(self.list.count())]

    def choose(self, block_type: str) -> None:
        self.hide()
        self.chosen.emit(block_type)

    def _choose(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.choose(item.data(Qt.UserRole))

    def eventFilter(self, obj, event):
        if obj is self.search and event.type() == QEvent.KeyPress:
            key = event.key()
            if key in (Qt.Key_Down, Qt.Key_Up, Qt.Key_PageDown, Qt.Key_PageUp):
                self.list.keyPressEvent(event)
                return True
            if key in (Qt.Key_Return, Qt.Key_Enter):
                self._choose(self.list.currentItem())
                return True
            if key == Qt.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(obj, event)
