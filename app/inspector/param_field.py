"""One generated editor per block param: a check box, a choice list or a validated text field.

What the user types is parsed leniently ("3x3", "[3, 32, 32]", "T, 8") and then checked by
the param's own ``coerce``; a refused value is not applied and its message is shown under the
field, in the param's own words.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from builder.blocks.spec import Param, ParamError

__all__ = ["ParamField", "parse_text", "edit_text"]

_TIMES = re.compile(r"(?<=\d)\s*[x×]\s*(?=\d)")
_SPLIT = re.compile(r"[\s,;\[\]\(\)]+")
_INT = re.compile(r"[-+]?\d+")


def parse_text(param: Param, text: str):
    """A Python value for ``param.coerce`` (which does all the checking) from typed text."""
    t = text.strip()
    if t in param.special:
        return t
    if param.kind == "int":
        if _INT.fullmatch(t.replace("_", "")):
            return int(t.replace("_", ""))
        try:
            return float(t)
        except ValueError:
            return t
    if param.kind == "float":
        try:
            return float(t)
        except ValueError:
            return t
    if param.kind in ("ints", "pair", "dims"):
        parts = [p for p in _SPLIT.split(_TIMES.sub(",", t)) if p]
        values = [int(p) if _INT.fullmatch(p) else p for p in parts]
        if param.kind == "pair" and len(values) == 1:
            return values[0]
        return values
    return text


def edit_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def placeholder(param) -> str:
    """What to type, shown while a field is empty: a name field gives an example (its
    default), not the bare kind ("a text")."""
    if param.kind == "str":
        return f"a name, e.g. {param.default}" if param.default else "a name"
    return param.describe()


class ParamField(QWidget):
    committed = Signal(str, object)  # param name, coerced value

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        tip = (param.help + "\n" if param.help else "") + f"Expects {param.describe()}."
        if param.kind == "bool":
            self.editor = QCheckBox()
            self.editor.toggled.connect(self._commit)
        elif param.kind == "choice":
            self.editor = QComboBox()
            self.editor.addItems(list(param.choices))
            self.editor.activated.connect(self._commit)
        else:
            self.editor = QLineEdit()
            self.editor.setPlaceholderText(placeholder(param))
            self.editor.editingFinished.connect(self._commit)
        self.editor.setToolTip(tip)
        self.error = QLabel()
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.editor)
        layout.addWidget(self.error)
        self._value = None

    def set_value(self, value) -> None:
        self._value = value
        self.editor.blockSignals(True)
        try:
            if isinstance(self.editor, QCheckBox):
                self.editor.setChecked(bool(value))
            elif isinstance(self.editor, QComboBox):
                index = self.editor.findText(str(value))
                self.editor.setCurrentIndex(max(index, 0))
            else:
                self.editor.setText(edit_text(value))
        finally:
            self.editor.blockSignals(False)
        self.show_error("")

    def raw(self):
        if isinstance(self.editor, QCheckBox):
            return self.editor.isChecked()
        if isinstance(self.editor, QComboBox):
            return self.editor.currentText()
        return parse_text(self.param, self.editor.text())

    def _commit(self, *_):
        try:
            value = self.param.coerce(self.raw())
        except ParamError as e:
            self.show_error(str(e))
            return
        self.show_error("")
        if value != self._value:
            self._value = value
            self.committed.emit(self.param.name, value)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        if isinstance(self.editor, QLineEdit):
            self.editor.setProperty("invalid", bool(message))
            self.editor.style().unpolish(self.editor)
            self.editor.style().polish(self.editor)
