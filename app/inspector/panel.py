"""The inspector: everything about the selected block, and its generated param form.

It reads the document through the model and edits it only with commands.  The form is built
once per selected node and then only refreshed when the node's params really changed, so a
move or an unrelated edit never overwrites what the user is typing.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.document_model import DocumentModel
from app.inspector import node_facts as facts
from app.inspector.activation_plot import ActivationPlot
from app.inspector.conv_demo import ConvDemo
from app.inspector.param_field import ParamField
from app.inspector.run_to_here import RunToHere
from app.inspector.step_through import StepThroughPanel
from app.quick_fix import fix_label
from builder.commands import RenameNode, SetNodeOptions, SetParams
from builder.document import INITS, valid_name
from builder.ports import freeze, params_of, spec_of
from builder.problems import ERROR

__all__ = ["Inspector"]

_GROUP_CONCEPT = (
    "A sub-network used as one block: its Input blocks are this block's inputs and its Output "
    "blocks its outputs. Grouping keeps a large design readable, and a group saved to the "
    "library can be reused in any network.")


def _label(text: str = "", role: str = "", wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    if role:
        label.setProperty("role", role)
    return label


class Inspector(QScrollArea):
    fix_requested = Signal(object)  # a Problem whose fix the user asked for
    renamed = Signal(str, str, str)  # network, old id, new id

    def __init__(self, model: DocumentModel, parent=None):
        super().__init__(parent)
        self.model = model
        self.net_name: str | None = None
        self.node_id: str | None = None
        self.selected_count = 0
        self.fields: dict[str, ParamField] = {}
        self._form_key = None
        self._params_sig = None
        self._problems_key = None
        self.setWidgetResizable(True)
        self.setMinimumWidth(260)
        body = QWidget()
        self.setWidget(body)
        lay = self._lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 8, 10, 10)
        lay.setSpacing(4)
        self.title = _label()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = _label(role="dim")
        self.overview = _label()
        self.overview.setTextFormat(Qt.RichText)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addWidget(self.overview)
        self.node_box = QWidget()
        nb = QVBoxLayout(self.node_box)
        nb.setContentsMargins(0, 0, 0, 0)
        nb.setSpacing(4)
        lay.addWidget(self.node_box)
        lay.addStretch(1)

        top = QFormLayout()
        top.setContentsMargins(0, 4, 0, 0)
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("The node's name: letters, digits and _. It becomes the "
                                  "attribute name in generated code.")
        self.name_edit.editingFinished.connect(self._rename)
        self.name_error = _label(role="error")
        self.name_error.hide()
        name_col = QVBoxLayout()
        name_col.setSpacing(2)
        name_col.addWidget(self.name_edit)
        name_col.addWidget(self.name_error)
        top.addRow("Name", name_col)
        nb.addLayout(top)

        self.params_head = self._heading(nb, "Parameters")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        nb.addWidget(self.form_host)

        self.train_head = self._heading(nb, "Training")
        self.trainable = QCheckBox("Trainable (unchecked: frozen weights)")
        self.trainable.toggled.connect(self._set_trainable)
        self.init = QComboBox()
        self.init.addItems(list(INITS))
        self.init.setToolTip("How the weights start: default (PyTorch's), Xavier/Glorot, "
                             "He/Kaiming, or orthogonal.")
        self.init.activated.connect(self._set_init)
        init_row = QHBoxLayout()
        self.init_label = QLabel("Initialiser")
        init_row.addWidget(self.init_label)
        init_row.addWidget(self.init, 1)
        self.lr_scale = QDoubleSpinBox()
        self.lr_scale.setRange(0.001, 1000.0)
        self.lr_scale.setDecimals(3)
        self.lr_scale.setPrefix("× ")
        self.lr_scale.setToolTip("Multiplies the network's learning rate for this block's "
                                 "weights: below 1 to fine-tune pre-trained layers gently, "
                                 "above 1 for a new head (discriminative learning rates).")
        self.lr_scale.editingFinished.connect(self._set_lr_scale)
        lr_row = QHBoxLayout()
        self.lr_label = QLabel("Learning rate")
        lr_row.addWidget(self.lr_label)
        lr_row.addWidget(self.lr_scale, 1)
        nb.addWidget(self.trainable)
        nb.addLayout(init_row)
        nb.addLayout(lr_row)

        self._heading(nb, "Shapes")
        self.shapes = _label()
        self.shapes.setTextFormat(Qt.RichText)
        nb.addWidget(self.shapes)
        self._heading(nb, "Size")
        self.cost = _label()
        nb.addWidget(self.cost)
        self._heading(nb, "Run to here")
        self.run_here = RunToHere()
        nb.addWidget(self.run_here)
        self._heading(nb, "Step-through")
        self.step_through = StepThroughPanel(lambda net: self.run_here.weights_source(net))
        nb.addWidget(self.step_through)
        self.formula_head = self._heading(nb, "Formula")
        self.formula = _label()
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.Monospace)
        self.formula.setFont(mono)
        nb.addWidget(self.formula)
        self.curve_head = self._heading(nb, "Curve")
        self.curve_plot = ActivationPlot()
        nb.addWidget(self.curve_plot)
        self.conv_head = self._heading(nb, "On an image")
        self.conv_demo = ConvDemo()
        self.conv_demo.weights_source = lambda net: self.run_here.weights_source(net)
        nb.addWidget(self.conv_demo)
        self._heading(nb, "Concept")
        self.concept = _label()
        nb.addWidget(self.concept)
        self.problems_head = self._heading(nb, "Problems")
        self.problems_box = QVBoxLayout()
        nb.addLayout(self.problems_box)
        self.refresh()

    @staticmethod
    def _heading(layout, text: str) -> QLabel:
        label = _label(text, "heading")
        layout.addWidget(label)
        return label

    # --- what is shown ----------------------------------------------------------------------
    def show_node(self, net_name: str | None, node_id: str | None, selected: int = 1) -> None:
        self.net_name, self.node_id, self.selected_count = net_name, node_id, selected
        self.refresh()

    def refresh(self, *_):
        net = self.model.network(self.net_name) if self.net_name else None
        node = net.nodes.get(self.node_id) if net is not None and self.node_id else None
        self.node_box.setVisible(node is not None)
        self.overview.setVisible(node is None)
        if net is None:
            self.title.setText("No network")
            self.subtitle.setText("")
            self.overview.setText("")
            return
        report = self.model.report(self.net_name)  # a path inside a group
        if node is None:
            self._form_key = None
            self.title.setText(f"Network “{self.net_name.replace('/', ' ▸ ')}”")
            about = self.model.project.description.splitlines()[0] \
                if self.model.project.description else ""
            name = self.model.display_name  # the file's name once saved
            self.subtitle.setText(f"{name} · {about}" if about and about not in name
                                  else name)
            stats = self.model.stats(self.net_name)
            self.overview.setText(facts.overview_html(net, report, stats,
                                                      self.selected_count))
            return
        spec = spec_of(node)
        self.title.setText(spec.label if spec else node.block)
        if node.subnet is not None and spec is None:  # a Group
            self.subtitle.setText("sub-network · double-click it to edit inside")
        else:
            self.subtitle.setText(f"{spec.category} · {node.block}" if spec
                                  else "unknown block type")
        if self._form_key != (self.net_name, node.id, node.block):
            self._build_form(spec)
            self._form_key = (self.net_name, node.id, node.block)
            self._params_sig = None
            self.name_edit.setText(node.id)
            self.name_error.hide()
        self._fill_params(node)
        weights = bool(spec and spec.has_weights)
        for w in (self.train_head, self.trainable, self.init_label, self.init, self.lr_label,
                  self.lr_scale):
            w.setVisible(weights)
        self.lr_scale.blockSignals(True)
        self.lr_scale.setValue(node.lr_scale)
        self.lr_scale.blockSignals(False)
        self.trainable.blockSignals(True)
        self.trainable.setChecked(node.trainable)
        self.trainable.blockSignals(False)
        self.init.setCurrentIndex(max(0, self.init.findText(node.init)))
        self.shapes.setText(facts.shapes_html(report, node.id))
        self.cost.setText(facts.cost_text(self.model.stats(self.net_name), node))
        inside_group = "/" in self.net_name  # a group's inside runs only within its network
        self.run_here.set_target(self.model.project, None if inside_group else self.net_name,
                                 node.id)
        self.step_through.set_network(self.model.project, None if inside_group
                                      else self.net_name)
        formula = facts.formula_text(report, node)
        self.formula_head.setVisible(bool(formula))
        self.formula.setVisible(bool(formula))
        self.formula.setText(formula)
        values = params_of(node)[0] if spec else {}
        for head, section, shown in (
                (self.curve_head, self.curve_plot, self.curve_plot.set_node(node.block, values)),
                (self.conv_head, self.conv_demo, self.conv_demo.set_node(
                    self.model.project, None if inside_group else self.net_name, node.id,
                    node.block, values))):
            head.setVisible(shown)
            section.setVisible(shown)
        self.concept.setText(spec.concept if spec else _GROUP_CONCEPT if node.subnet else "")
        self._fill_problems(report.problems_of(node.id) if report else [])

    def _build_form(self, spec) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields.clear()
        for param in spec.params if spec else ():
            field = ParamField(param)
            field.committed.connect(self._set_param)
            label = QLabel(param.name)
            label.setToolTip(param.help)
            self.form.addRow(label, field)
            self.fields[param.name] = field
        self.params_head.setVisible(bool(self.fields))

    def _fill_params(self, node) -> None:
        sig = freeze(node.params)
        if sig == self._params_sig:
            return
        self._params_sig = sig
        values, errors = params_of(node)
        errors = dict(errors)
        for name, field in self.fields.items():
            if name in errors and name in node.params:
                field.set_value(node.params[name])  # show what is wrong, as the file has it
                field.show_error(errors[name])
            else:
                field.set_value(values.get(name, field.param.default))

    def _fill_problems(self, problems) -> None:
        key = tuple((p.node, p.message, p.severity) for p in problems)
        if key == self._problems_key:
            return  # a move or an unrelated edit: keep the widgets (and any hover on them)
        self._problems_key = key
        while self.problems_box.count():
            item = self.problems_box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.problems_head.setVisible(bool(problems))
        for p in problems:
            error = p.severity == ERROR
            row = QLabel()
            row.setWordWrap(True)
            row.setTextFormat(Qt.RichText)
            color = theme.color("error" if error else "warning").name()
            row.setText(f"<span style='color:{color}'>●</span> "
                        f"{html.escape(p.message)}")
            self.problems_box.addWidget(row)
            label = fix_label(p)
            if label:
                button = QPushButton(f"Fix: {label}")
                button.clicked.connect(lambda _=False, p=p: self.fix_requested.emit(p))
                self.problems_box.addWidget(button)

    def set_read_only(self, on: bool) -> None:
        """While a run trains the graph, the form shows the node but does not edit it."""
        self.name_edit.setReadOnly(on)
        self.step_through.set_locked(on)
        for w in (self.form_host, self.trainable, self.init, self.lr_scale):
            w.setEnabled(not on)

    # --- edits ------------------------------------------------------------------------------
    def _set_param(self, name: str, value) -> None:
        if self.net_name and self.node_id:
            self.model.do(SetParams(self.net_name, self.node_id, {name: value}))

    def _set_trainable(self, on: bool) -> None:
        if self.net_name and self.node_id:
            self.model.do(SetNodeOptions(self.net_name, (self.node_id,), trainable=on))

    def _set_lr_scale(self) -> None:
        net = self.model.network(self.net_name) if self.net_name else None
        value = round(self.lr_scale.value(), 6)
        if net is not None and self.node_id in net.nodes \
                and net.nodes[self.node_id].lr_scale != value:
            self.model.do(SetNodeOptions(self.net_name, (self.node_id,), lr_scale=value))

    def _set_init(self, _index: int) -> None:
        if self.net_name and self.node_id:
            self.model.do(SetNodeOptions(self.net_name, (self.node_id,),
                                         init=self.init.currentText()))

    def _rename(self) -> None:
        new, old = self.name_edit.text().strip(), self.node_id
        net = self.model.network(self.net_name) if self.net_name else None
        if net is None or old is None or new == old:
            self.name_error.hide()
            return
        if not valid_name(new):
            message = f"“{new}” is not a valid name: start with a letter, then letters, digits, _"
        elif new in net.nodes:
            message = f"a block named “{new}” already exists"
        else:
            message = ""
        self.name_error.setText(message)
        self.name_error.setVisible(bool(message))
        if not message and self.model.do(RenameNode(self.net_name, old, new)):
            self.node_id = new
            self._form_key = (self.net_name, new, net.nodes[new].block)
            self.renamed.emit(self.net_name, old, new)
            self.refresh()


if __name__ == "__main__":
    from app.preview import preview_model, run_preview

    def make():
        panel = Inspector(preview_model())
        panel.show_node("main", "hidden1")
        return panel

    run_preview(make)
