"""The dataset part of the training settings: the built-in list, the chosen dataset's
generated param form (with a file picker for its ``paths`` params), and "download now" with
a progress bar for the datasets fetched from the internet."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.inspector.param_field import ParamField
from app.training.augment_editor import AugmentEditor
from builder.augment_spec import LEGACY_PARAMS, legacy_ops
from builder.document import DatasetConfig
from runtime.data import DATASETS

__all__ = ["DatasetForm", "HIDDEN"]

HIDDEN = ("val_fraction",)  # the training settings' validation split applies instead


class _Progress(QObject):
    """Download progress from the worker thread to the GUI thread (queued)."""

    moved = Signal(int, int)  # done, total (0: unknown)
    ended = Signal(str)  # "" on success, else the error


class DatasetForm(QWidget):
    changed = Signal(object)  # a new DatasetConfig

    def __init__(self, parent=None):
        super().__init__(parent)
        self.config = DatasetConfig()
        self.fields: dict[str, ParamField] = {}
        self._form_for = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setModel(QStandardItemModel(self.combo))
        by_cat: dict[str, list] = {}
        for spec in DATASETS.values():
            by_cat.setdefault(spec.category, []).append(spec)
        for cat, specs in by_cat.items():
            self.combo.addItem(f"— {cat} —")
            self.combo.model().item(self.combo.count() - 1).setEnabled(False)
            for spec in specs:
                self.combo.addItem(f"   {spec.title}", spec.name)
        self.combo.activated.connect(self._chosen)
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.about.setProperty("role", "dim")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.download_button = QPushButton("Download now")
        self.download_button.setToolTip("Fetch the official files into the data folder "
                                        "(checked by size and SHA-256); training also does "
                                        "this on its first run")
        self.download_bar = QProgressBar()
        self.download_bar.hide()
        self.download_status = QLabel()
        self.download_status.setWordWrap(True)
        self.download_status.setProperty("role", "dim")
        self.download_row = QWidget()
        row = QHBoxLayout(self.download_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.download_button)
        row.addWidget(self.download_bar, 1)
        lay.addWidget(self.combo)
        lay.addWidget(self.about)
        lay.addWidget(self.form_host)
        lay.addWidget(self.download_row)
        lay.addWidget(self.download_status)
        self.augment = AugmentEditor()  # images only; replaces the old augment params
        self.augment.changed.connect(self._set_augment)
        lay.addWidget(self.augment)
        self._progress = _Progress()
        self._progress.moved.connect(self._moved, Qt.QueuedConnection)
        self._progress.ended.connect(self._ended, Qt.QueuedConnection)
        self._thread: threading.Thread | None = None
        self.download_button.clicked.connect(self.download)

    # --- showing ----------------------------------------------------------------------------
    def show_config(self, config: DatasetConfig) -> None:
        self.config = config
        index = self.combo.findData(config.name)
        self.combo.setCurrentIndex(index if index >= 0 else 0)
        spec = DATASETS.get(config.name)
        self.about.setText(spec.description if spec else
                           f"Unknown dataset {config.name!r}: choose one from the list.")
        if self._form_for != config.name:
            self._build(spec)
        values = spec.defaults() if spec else {}
        values.update(config.params)
        for name, field in self.fields.items():
            if field._value != values.get(name):
                field.set_value(values.get(name, field.param.default))
        self.augment.setVisible(_augmentable(spec))
        if _augmentable(spec):
            ops = config.augment or legacy_ops(values)
            shown = {k: v for k, v in config.params.items() if k not in LEGACY_PARAMS}
            self.augment.show_ops(ops, (config.name, shown))
        self.download_row.setVisible(bool(spec and spec.kind == "download"))
        if not (spec and spec.kind == "download"):
            self.download_status.setText("")

    def _build(self, spec) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields.clear()
        self._form_for = spec.name if spec else None
        if spec is None:
            return
        paths = dict(spec.paths)
        for param in spec.params:
            if param.name in HIDDEN or param.name in LEGACY_PARAMS and _augmentable(spec):
                continue  # the augmentation editor shows what the old params meant
            field = ParamField(param)
            field.committed.connect(self._set_param)
            label = QLabel(param.name.replace("_", " "))
            label.setToolTip(param.help)
            self.fields[param.name] = field
            if param.name in paths:
                browse = QPushButton("Browse…")
                folder = paths[param.name] == "folder"
                browse.setToolTip(f"Choose {'a folder' if folder else 'a file'}")
                browse.clicked.connect(lambda _=False, n=param.name: self.browse(n))
                holder = QWidget()
                row = QHBoxLayout(holder)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(field, 1)
                row.addWidget(browse, 0, Qt.AlignTop)
                self.form.addRow(label, holder)
            else:
                self.form.addRow(label, field)

    # --- editing ----------------------------------------------------------------------------
    def _chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name and name != self.config.name:
            keep = list(self.config.augment) if _augmentable(DATASETS.get(name)) else []
            self.changed.emit(DatasetConfig(name, {}, keep))  # the pipeline stays for images

    def _set_param(self, name: str, value) -> None:
        params = dict(self.config.params)
        spec = DATASETS.get(self.config.name)
        if spec is not None and value == spec.param(name).default:
            params.pop(name, None)
        else:
            params[name] = value
        self.changed.emit(DatasetConfig(self.config.name, params, list(self.config.augment)))

    def _set_augment(self, ops: list) -> None:
        """A new augmentation list: the old params it replaces go in the same command."""
        params = {k: v for k, v in self.config.params.items() if k not in LEGACY_PARAMS}
        self.changed.emit(DatasetConfig(self.config.name, params, list(ops)))

    def ask_path(self, pattern: str) -> str:
        if pattern == "folder":
            return QFileDialog.getExistingDirectory(self, "Choose the data folder")
        path, _ = QFileDialog.getOpenFileName(self, "Choose the data file", "",
                                              f"Data files ({pattern});;All files (*)")
        return path

    def browse(self, name: str) -> None:
        spec = DATASETS.get(self.config.name)
        if spec is None:
            return
        path = self.ask_path(dict(spec.paths).get(name, "*"))
        if path:
            self.fields[name].set_value(path)
            self._set_param(name, path)

    # --- downloading ------------------------------------------------------------------------
    def download(self) -> bool:
        """Load the dataset once in a worker thread (fetching its files), showing progress."""
        if self._thread is not None:
            return False
        from runtime.data import load

        name, params = self.config.name, dict(self.config.params)
        progress = self._progress

        def work():
            try:
                load(name, params, progress=lambda done, total: progress.moved.emit(
                    int(done), int(total or 0)))
                progress.ended.emit("")
            except Exception as e:  # noqa: BLE001 - shown to the user as it is
                progress.ended.emit(f"{type(e).__name__}: {e}")

        self.download_button.setEnabled(False)
        self.download_bar.setRange(0, 0)
        self.download_bar.show()
        self.download_status.setText(f"Downloading {name}…")
        self._thread = threading.Thread(target=work, name="layerloom-download", daemon=True)
        self._thread.start()
        return True

    @property
    def downloading(self) -> bool:
        return self._thread is not None

    def _moved(self, done: int, total: int) -> None:
        if total:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * done / total))
            self.download_status.setText(f"Downloading: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            self.download_status.setText(f"Downloading: {done / 1e6:.1f} MB")

    def _ended(self, error: str) -> None:
        if self._thread is not None:
            self._thread.join(1.0)
        self._thread = None
        self.download_button.setEnabled(True)
        self.download_bar.hide()
        self.download_status.setText(f"Could not get the data: {error}" if error
                                     else "The data is ready.")
        self.download_status.setProperty("role", "error" if error else "dim")
        self.download_status.style().unpolish(self.download_status)
        self.download_status.style().polish(self.download_status)


def _augmentable(spec) -> bool:
    """Image datasets (those that declared the old augment params, or are in Images)."""
    return spec is not None and (spec.category == "Images"
                                 or any(p.name == "augment" for p in spec.params))
