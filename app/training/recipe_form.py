"""The recipe part of the training settings: the recipe list, what the chosen recipe does,
which network plays each of its roles, and its own params (generated from its declaration).

The form emits a new ``RecipeConfig`` for every edit; the settings panel turns it into the
undoable command (a recipe change may also drop stream bindings, in the same step)."""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.inspector.param_field import ParamField
from app.training.optimizer_editor import select_key, show_value
from builder.document import RecipeConfig
from runtime import recipes

__all__ = ["RecipeForm"]


FRONT = 4  # recipe params always shown; the others, unless set, behind "More settings"


class RecipeForm(QWidget):
    changed = Signal(object)  # a new RecipeConfig

    def __init__(self, parent=None):
        super().__init__(parent)
        self.config = RecipeConfig()
        self.networks: list[str] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.combo = QComboBox()
        self.combo.activated.connect(self._chosen)
        self._catalogue: tuple = ()
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.about.setProperty("role", "dim")
        self.roles_host = QWidget()
        self.roles_form = QFormLayout(self.roles_host)
        self.roles_form.setContentsMargins(0, 0, 0, 0)
        self.role_combos: dict[str, QComboBox] = {}
        self.fields: dict[str, ParamField] = {}
        self._roles_key = None
        # Long recipes (a GAN has 14 params) show the first few and the ones set; the rest
        # wait behind "More settings", so the training setup fits without scrolling.
        self.more = QToolButton()
        self.more.setCheckable(True)
        self.more.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.more.setArrowType(Qt.RightArrow)
        self.more.toggled.connect(self._show_more)
        self.more_host = QWidget()
        self.more_form = QFormLayout(self.more_host)
        self.more_form.setContentsMargins(0, 0, 0, 0)
        for w in (self.combo, self.about, self.roles_host, self.more, self.more_host):
            lay.addWidget(w)
        self._show_more(False)

    def _fill_combo(self) -> None:
        """The registered recipes (again when one was registered since: a plugin, a test)."""
        catalogue = tuple(recipes.RECIPES.items())
        if catalogue == self._catalogue:
            return
        self._catalogue = catalogue
        self.combo.clear()
        for name, cls in catalogue:
            self.combo.addItem(cls.title or name, name)

    def show_config(self, config: RecipeConfig, networks: list[str]):
        """Show ``config``; returns the recipe's class, or None for an unknown recipe."""
        self.config, self.networks = config, networks
        self._fill_combo()
        select_key(self.combo, config.name)
        try:
            cls = recipes.get(config.name)
        except recipes.RecipeError as e:
            self.about.setText(str(e))
            return None
        self.about.setText(cls.description)
        key = (cls, tuple(networks))
        if key != self._roles_key:
            self._roles_key = key
            self._build(cls, networks)
        for role, combo in self.role_combos.items():
            bound = config.roles.get(role) or (networks[0] if len(networks) == 1 else "")
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findText(bound)))
            combo.blockSignals(False)
        for name, field in self.fields.items():
            show_value(field, config.params.get(name, field.param.default))
        return cls

    def _show_more(self, on: bool) -> None:
        self.more_host.setVisible(on)
        self.more.setArrowType(Qt.DownArrow if on else Qt.RightArrow)

    def _build(self, cls, networks: list[str]) -> None:
        while self.roles_form.rowCount():
            self.roles_form.removeRow(0)
        while self.more_form.rowCount():
            self.more_form.removeRow(0)
        self.role_combos.clear()
        self.fields.clear()
        for role in cls.roles:
            combo = QComboBox()
            combo.addItems(networks)
            combo.setToolTip(role.help)
            combo.activated.connect(lambda _=0, r=role.name: self._bind(r))
            self.roles_form.addRow(f"{role.name} network", combo)
            self.role_combos[role.name] = combo
        later = 0
        for i, param in enumerate(cls.params):
            field = ParamField(param)
            field.committed.connect(self._set_param)
            label = QLabel(param.name.replace("_", " "))
            label.setToolTip(param.help)
            front = i < FRONT or len(cls.params) <= FRONT + 2 or param.name in self.config.params
            (self.roles_form if front else self.more_form).addRow(label, field)
            later += not front
            self.fields[param.name] = field
        self.more.setText(f"More settings ({later})")
        self.more.setVisible(later > 0)
        self.more.setChecked(False)

    # --- editing ----------------------------------------------------------------------------
    def _chosen(self, _index: int) -> None:
        name = self.combo.currentData()
        if name == self.config.name:
            return
        cls, nets = recipes.get(name), self.networks
        roles = {r.name: (r.name if r.name in nets else nets[min(i, len(nets) - 1)])
                 for i, r in enumerate(cls.roles)} if nets else {}
        self.changed.emit(RecipeConfig(name, roles, {}))

    def _bind(self, role: str) -> None:
        r = copy.deepcopy(self.config)
        r.roles[role] = self.role_combos[role].currentText()
        self.changed.emit(r)

    def _set_param(self, key: str, value) -> None:
        r = copy.deepcopy(self.config)
        r.params[key] = value
        self.changed.emit(r)
