"""The optimizer of one network with the hyperparameters that optimizer has (learning rate,
momentum, β₁/β₂, ε, weight decay), for the training settings panel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from app.inspector.param_field import ParamField
from builder.training import (
    HYPER,
    OPTIMIZER_FIELDS,
    OPTIMIZER_LABELS,
    optimizer_values,
    with_values,
)

__all__ = ["OptimizerEditor", "combo_of", "select_key", "show_value"]


def combo_of(items: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    for key, text in items.items():
        combo.addItem(text, key)
    return combo


def select_key(combo: QComboBox, key) -> None:
    combo.blockSignals(True)
    index = combo.findData(key)
    combo.setCurrentIndex(max(0, index))
    combo.blockSignals(False)


def show_value(field: ParamField, value) -> None:
    if field._value != value:
        field.set_value(value)


class OptimizerEditor(QWidget):
    """The optimizer of one network and the hyperparameters that optimizer has."""

    changed = Signal(str, object)  # network, OptimizerConfig

    def __init__(self, network: str, parent=None):
        super().__init__(parent)
        self.network = network
        self.config = None
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.combo = combo_of(OPTIMIZER_LABELS)
        self.combo.setToolTip("How each step moves the weights along the gradient")
        self.combo.activated.connect(self._chosen)
        form.addRow("optimizer", self.combo)
        self.fields: dict[str, ParamField] = {}
        self.labels: dict[str, QLabel] = {}
        names = {"lr": "learning rate", "beta1": "β₁", "beta2": "β₂", "eps": "ε",
                 "alpha": "ρ (alpha)", "weight_decay": "weight decay"}
        shown = {key for keys in OPTIMIZER_FIELDS.values() for key in keys}
        for key, param in HYPER.items():
            if key not in shown:
                continue  # set by hand in a file; the form keeps to the course's knobs
            field = ParamField(param)
            field.committed.connect(self._set_value)
            label = QLabel(names.get(key, key))
            label.setToolTip(param.help)
            form.addRow(label, field)
            self.fields[key], self.labels[key] = field, label

    def show_config(self, config) -> None:
        self.config = config
        name = config.name if config.name in OPTIMIZER_FIELDS else "adam"
        select_key(self.combo, name)
        values = optimizer_values(config)
        shown = OPTIMIZER_FIELDS[name]
        for key, field in self.fields.items():
            field.setVisible(key in shown)
            self.labels[key].setVisible(key in shown)
            show_value(field, values[key])

    def _chosen(self, _index: int) -> None:
        name = self.combo.currentData()
        if self.config is not None and name != self.config.name:
            self.changed.emit(self.network, with_values(name, optimizer_values(self.config)))

    def _set_value(self, key: str, value) -> None:
        if self.config is None:
            return
        values = optimizer_values(self.config)
        values[key] = value
        name = self.config.name if self.config.name in OPTIMIZER_FIELDS else "adam"
        self.changed.emit(self.network, with_values(name, values))
