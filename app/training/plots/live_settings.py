"""Controls for the recipe settings a running run takes live (a language model's sampling
temperature), shown beside the pictures they change.

A sample says which settings are live and their values (``extra["live"]``, from
``runtime.adjust.live_controls``); the row offers a spin box for each and emits
``changed(name, value)`` when the user sets one, which the dock passes on to the run.  The
boxes follow the run (a change made in the recipe settings shows up with the next sample)
without undoing what the user just typed: a box is set only when the run's value changed."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QWidget

__all__ = ["LiveSettings"]

BIG = 1e9  # the top of a box whose param has no maximum


class LiveSettings(QWidget):
    """A row of labelled spin boxes, one per live number setting (hidden while none)."""

    changed = Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(6)
        self.row.addStretch(1)
        self.boxes: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self._labels: list[QLabel] = []
        self._seen: dict[str, object] = {}  # the run's value each box last showed
        self.hide()

    def clear(self) -> None:
        for w in [*self.boxes.values(), *self._labels]:
            self.row.removeWidget(w)
            w.deleteLater()
        self.boxes, self._labels, self._seen = {}, [], {}
        self.hide()

    def follow(self, live: dict[str, dict]) -> None:
        """Show the settings of ``live`` (name → value, kind, min, max, help)."""
        numbers = {n: s for n, s in live.items() if s.get("kind") in ("int", "float")}
        if set(numbers) != set(self.boxes):
            self.clear()
            for name, spec in numbers.items():
                self._add(name, spec)
        for name, spec in numbers.items():
            if self._seen.get(name) != spec["value"]:
                self._seen[name] = spec["value"]
                box = self.boxes[name]
                box.blockSignals(True)  # the run's value, not a request
                box.setValue(spec["value"])
                box.blockSignals(False)
        self.setVisible(bool(self.boxes))

    def _add(self, name: str, spec: dict) -> None:
        whole = spec["kind"] == "int"
        box = QSpinBox() if whole else QDoubleSpinBox()
        top = spec.get("max")
        if whole:
            box.setRange(int(spec.get("min") or 0), int(min(top or BIG, 2**31 - 1)))
        else:
            box.setDecimals(2)
            box.setSingleStep(0.1)
            box.setRange(float(spec.get("min") or 0.0), float(top if top is not None else BIG))
        box.setKeyboardTracking(False)  # one request when the typing is done, not per key
        box.setToolTip(spec.get("help", ""))
        box.setObjectName(name)
        box.valueChanged.connect(lambda value, n=name: self.changed.emit(n, value))
        label = QLabel(name.replace("_", " ").capitalize())
        label.setToolTip(box.toolTip())
        at = self.row.count() - 1  # before the stretch
        self.row.insertWidget(at, label)
        self.row.insertWidget(at + 1, box)
        self.boxes[name] = box
        self._labels.append(label)
