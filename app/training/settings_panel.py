"""Training settings: dataset (and the datasets of a recipe's further streams), recipe and
role bindings, epochs and batch (full-batch / mini-batch / stochastic by name), per network
the weights it starts from and an optimizer with its hyperparameters, the learning-rate
schedule, L1/L2, gradient clipping, how often pictures are drawn, device, seed and mixed
precision.

Every change is one undoable ``SetProjectField`` command on the document (``SetFields`` where
the streams change too); the panel redraws from the document's change notifications and
never holds settings of its own."""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.document_model import DocumentModel
from app.inspector.param_field import ParamField
from app.training.dataset_form import DatasetForm
from app.training.init_field import INIT_HELP, InitField
from app.training.optimizer_editor import (
    OptimizerEditor,
    combo_of,
    select_key,
    show_value,
)
from app.training.recipe_form import RecipeForm
from app.training.streams_form import StreamForms, stream_title
from builder.commands import SetFields, SetProjectField
from builder.training import (
    BATCH_MODES,
    SCHEDULE_FIELDS,
    SCHEDULE_LABELS,
    SCHEDULE_PARAMS,
    TRAINING_PARAMS,
    batch_mode,
)
from runtime import recipes
from runtime.devices import choices as devices

__all__ = ["TrainingSettingsPanel"]

LABEL_W = 112


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "heading")
    return label


class TrainingSettingsPanel(QScrollArea):
    def __init__(self, model: DocumentModel, parent=None):
        super().__init__(parent)
        self.model = model
        self.setWidgetResizable(True)
        self.setMinimumWidth(280)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # fields shrink instead
        body = QWidget()
        self.setWidget(body)
        lay = self._lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 8, 10, 10)
        lay.setSpacing(4)
        self.note = QLabel("A run is training: learning rates, gradient clipping and L1/L2 "
                           "apply to it at once; the other settings apply to the next run.")
        self.note.setWordWrap(True)
        self.note.setProperty("role", "dim")
        self.note.hide()
        lay.addWidget(self.note)

        lay.addWidget(_heading("Data"))
        self.primary_title = QLabel()  # the primary stream's name, when there are several
        self.primary_title.setWordWrap(True)
        self.primary_title.hide()
        self.dataset = DatasetForm()
        self.dataset.changed.connect(lambda cfg: self._do("dataset", cfg))
        self.streams = StreamForms()
        self.streams.changed.connect(self._set_stream)
        for w in (self.primary_title, self.dataset, self.streams):
            lay.addWidget(w)

        lay.addWidget(_heading("Recipe"))
        self.recipe_form = RecipeForm()
        self.recipe_form.changed.connect(self._set_recipe)
        self.recipe = self.recipe_form.combo
        self.role_combos = self.recipe_form.role_combos
        lay.addWidget(self.recipe_form)

        lay.addWidget(_heading("Length"))
        form = QFormLayout()
        self.fields: dict[str, ParamField] = {}
        self.fields["epochs"] = self._field(form, "epochs", "epochs")
        self.batch_mode = QComboBox()
        for key, text in BATCH_MODES:
            self.batch_mode.addItem(text, key)
        self.batch_mode.setToolTip("Full batch: one step per epoch on all samples (gradient "
                                   "descent). Mini-batch: a few samples per step. Stochastic: "
                                   "one sample per step (SGD in its first sense).")
        self.batch_mode.activated.connect(self._batch_mode_chosen)
        form.addRow("gradient descent", self.batch_mode)
        self.fields["batch_size"] = self._field(form, "batch_size", "batch size")
        self.batch_text = QLabel()
        self.batch_text.setProperty("role", "dim")
        self.batch_text.setWordWrap(True)
        form.addRow("", self.batch_text)
        self.fields["validation_split"] = self._field(form, "validation_split", "validation")
        self.fields["early_stopping"] = self._field(form, "early_stopping", "early stopping")
        lay.addLayout(form)

        lay.addWidget(_heading("Networks: weights and optimizer"))
        self.optimizers_host = QWidget()
        self.optimizers_lay = QVBoxLayout(self.optimizers_host)
        self.optimizers_lay.setContentsMargins(0, 0, 0, 0)
        self.optimizers: dict[str, OptimizerEditor] = {}
        self.inits: dict[str, InitField] = {}
        lay.addWidget(self.optimizers_host)

        lay.addWidget(_heading("Learning-rate schedule"))
        form = QFormLayout()
        self.schedule = combo_of(SCHEDULE_LABELS)
        self.schedule.activated.connect(self._schedule_chosen)
        form.addRow("schedule", self.schedule)
        self.schedule_fields: dict[str, ParamField] = {}
        self.schedule_labels: dict[str, QLabel] = {}
        for key, param in SCHEDULE_PARAMS.items():
            field = ParamField(param)
            field.committed.connect(self._set_schedule)
            label = QLabel(key.replace("_", " "))
            label.setToolTip(param.help)
            form.addRow(label, field)
            self.schedule_fields[key], self.schedule_labels[key] = field, label
        lay.addLayout(form)

        lay.addWidget(_heading("Regularisation"))
        form = QFormLayout()
        self.fields["l1"] = self._field(form, "l1", "L1")
        self.fields["l2"] = self._field(form, "l2", "L2")
        self.fields["grad_clip"] = self._field(form, "grad_clip", "gradient clipping")
        lay.addLayout(form)

        lay.addWidget(_heading("Pictures"))
        form = QFormLayout()
        self.fields["samples_every"] = self._field(form, "samples_every", "draw every")
        self.fields["samples_unit"] = self._field(form, "samples_unit", "unit")
        lay.addLayout(form)

        lay.addWidget(_heading("Hardware"))
        form = QFormLayout()
        self.device = QComboBox()
        self.device.setModel(QStandardItemModel(self.device))
        for d in devices():
            self.device.addItem(d.label, d.key)
            self.device.model().item(self.device.count() - 1).setEnabled(d.available)
        self.device.activated.connect(self._device_chosen)
        form.addRow("device", self.device)
        self.fields["seed"] = self._field(form, "seed", "seed")
        self.fields["amp"] = self._field(form, "amp", "mixed precision (CUDA)")
        lay.addLayout(form)
        lay.addStretch(1)

        model.changed.connect(self._on_change)
        model.replaced.connect(self.refresh)
        self.refresh()

    @staticmethod
    def _compact(root: QWidget) -> None:
        """Long choices (devices, datasets) must not widen the dock: combos shrink to a
        dozen characters and show the rest in their list."""
        for combo in root.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        for form in root.findChildren(QFormLayout):  # one label column for every section
            for row in range(form.rowCount()):
                item = form.itemAt(row, QFormLayout.LabelRole)
                if item is not None and item.widget() is not None:
                    item.widget().setMinimumWidth(LABEL_W)

    def _field(self, form: QFormLayout, key: str, label: str) -> ParamField:
        param = TRAINING_PARAMS[key]
        field = ParamField(param)
        field.committed.connect(self._set_training)
        text = QLabel(label)
        text.setToolTip(param.help)
        form.addRow(text, field)
        return field

    # --- from the document ------------------------------------------------------------------
    def _on_change(self, change) -> None:
        if change.project:
            self.refresh()

    def set_running(self, on: bool) -> None:
        self.note.setVisible(on)

    def refresh(self) -> None:
        p = self.model.project
        s = p.training
        self.dataset.show_config(p.dataset)
        cls = self.recipe_form.show_config(p.recipe, list(p.networks))
        streams = cls.streams if cls is not None else ()
        self.streams.show_streams(streams, p.streams)
        self.primary_title.setVisible(len(streams) > 1)
        if len(streams) > 1:
            self.primary_title.setText(stream_title(streams[0]))
        for key, field in self.fields.items():
            show_value(field, getattr(s, key))
        self.fields["samples_every"].setEnabled(s.samples_unit != "end")
        samples = self._train_samples()
        mode = batch_mode(s.batch_size, samples)
        select_key(self.batch_mode, mode)
        self.fields["batch_size"].setEnabled(mode == "mini-batch")
        self.batch_text.setText(self._batch_sentence(s.batch_size, samples, mode))
        if list(self.optimizers) != list(p.networks):
            self._build_networks(list(p.networks))
        for name, editor in self.optimizers.items():
            editor.show_config(s.optimizer_for(name))
            self.inits[name].show_path(s.init.get(name, ""))
        sched = dict(s.schedule)
        name = str(sched.get("name", "constant"))
        select_key(self.schedule, name)
        shown = SCHEDULE_FIELDS.get(name, ())
        for key, field in self.schedule_fields.items():
            field.setVisible(key in shown)
            self.schedule_labels[key].setVisible(key in shown)
            show_value(field, sched.get(key, SCHEDULE_PARAMS[key].default))
        select_key(self.device, s.device)
        self._compact(self.widget())  # forms rebuilt for another dataset or recipe

    def _build_networks(self, names: list[str]) -> None:
        """Per network: the weights it starts from, then its optimizer."""
        while self.optimizers_lay.count():
            widget = self.optimizers_lay.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.optimizers.clear()
        self.inits.clear()
        for name in names:
            if len(names) > 1:
                self.optimizers_lay.addWidget(QLabel(f"<b>network “{name}”</b>"))
            init = InitField(name)
            init.committed.connect(self._set_init)
            label = QLabel("start from")
            label.setToolTip(INIT_HELP)
            host = QWidget()
            form = QFormLayout(host)
            form.setContentsMargins(0, 0, 0, 0)
            form.addRow(label, init)
            editor = OptimizerEditor(name)
            editor.changed.connect(self._set_optimizer)
            self.optimizers_lay.addWidget(host)
            self.optimizers_lay.addWidget(editor)
            self.optimizers[name], self.inits[name] = editor, init

    def _train_samples(self) -> int | None:
        p = self.model.project
        n = p.dataset.params.get("n_samples")
        if n is None:
            from runtime.data import DATASETS

            spec = DATASETS.get(p.dataset.name)
            if spec is not None and any(q.name == "n_samples" for q in spec.params):
                n = spec.param("n_samples").default
        if n is None:
            return None
        val = p.dataset.params.get("val_fraction", p.training.validation_split)
        return max(1, int(round(n * (1 - val))))

    @staticmethod
    def _batch_sentence(size: int, samples: int | None, mode: str) -> str:
        if mode == "batch":
            return "one step per epoch, on every training sample"
        if samples is None:
            return f"{size} samples per step"
        steps = -(-samples // size)
        return f"{size} of ~{samples} samples per step: ~{steps} steps per epoch"

    # --- to the document --------------------------------------------------------------------
    def _do(self, name: str, value) -> None:
        self.model.do(SetProjectField(name, value))

    def _training(self):
        return copy.deepcopy(self.model.project.training)

    def _set_training(self, key: str, value) -> None:
        s = self._training()
        setattr(s, key, value)
        self._do("training", s)

    def _batch_mode_chosen(self, _index: int) -> None:
        mode = self.batch_mode.currentData()
        s = self._training()
        samples = self._train_samples()
        if mode == "batch":
            s.batch_size = 0
        elif mode == "stochastic":
            s.batch_size = 1
        elif batch_mode(s.batch_size, samples) != "mini-batch":
            s.batch_size = 32 if samples is None else max(2, min(32, samples // 2))
        self._do("training", s)

    def _set_optimizer(self, network: str, config) -> None:
        s = self._training()
        s.optimizers[network] = config
        self._do("training", s)

    def _set_init(self, network: str, path: str) -> None:
        s = self._training()  # a copy: the document's own dict is never changed in place
        s.init = {k: v for k, v in s.init.items() if k != network}
        if path:
            s.init[network] = path
        self._do("training", s)

    def _schedule_chosen(self, _index: int) -> None:
        s = self._training()
        name = self.schedule.currentData()
        keep = {k: v for k, v in s.schedule.items() if k in SCHEDULE_FIELDS.get(name, ())}
        s.schedule = {"name": name, **keep}
        self._do("training", s)

    def _set_schedule(self, key: str, value) -> None:
        s = self._training()
        s.schedule = {**s.schedule, key: value}
        self._do("training", s)

    def _device_chosen(self, _index: int) -> None:
        self._set_training("device", self.device.currentData())

    def _set_recipe(self, config) -> None:
        """A recipe change drops the stream bindings the new recipe does not read, in the
        same undo step (the runtime refuses a binding to a stream nobody reads)."""
        p = self.model.project
        try:
            read = {st.name for st in recipes.get(config.name).streams[1:]}
        except recipes.RecipeError:
            read = set(p.streams)
        kept = {k: v for k, v in p.streams.items() if k in read}
        if kept != p.streams:
            self.model.do(SetFields(value={"recipe": config, "streams": kept}))
        else:
            self._do("recipe", config)

    def _set_stream(self, name: str, config) -> None:
        streams = {**self.model.project.streams, name: config}
        self.model.do(SetFields(value={"streams": streams}))


if __name__ == "__main__":
    from app.preview import preview_model, run_preview

    run_preview(lambda: TrainingSettingsPanel(preview_model()), size=(360, 900))
