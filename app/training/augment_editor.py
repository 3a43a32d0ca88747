"""The dataset form's augmentation editor: the ordered list of transforms (add from a menu,
remove, move up or down, edit the chosen one's params) and a live 4×4 grid of augmented
training samples of the current dataset.

The editor holds no state of its own: it shows a list and emits ``changed(list)`` with the
whole new list, which the dataset form turns into one undoable command.  Loading the preview
samples runs in a worker thread (a dataset may take seconds to build); re-augmenting 16 of
them on a list change is quick, and is throttled so that typing stays smooth."""

from __future__ import annotations

import copy
import threading

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.inspector.param_field import ParamField
from app.training.plots.images import mosaic
from builder.augment_spec import OPS, describe_op

__all__ = ["AugmentEditor", "PREVIEW_N", "THROTTLE_MS"]

PREVIEW_N = 16
THROTTLE_MS = 150
PREVIEW_PX = 224  # the grid's largest side on screen (the dock is narrow)


class _Loaded(QObject):
    """Preview samples from the worker thread to the GUI thread (queued)."""

    done = Signal(object, object)  # key, (images, mean, std) | None | an error text


class AugmentEditor(QWidget):
    changed = Signal(list)  # the whole new list of ops

    def __init__(self, parent=None):
        super().__init__(parent)
        self.ops: list[dict] = []
        self.fields: dict[str, ParamField] = {}
        self._form_for: tuple[int, str] | None = None  # (row, op) the param form shows
        self._dataset: tuple | None = None  # (name, params) the preview shows
        self._samples = None  # (images, mean, std) of that dataset
        self._loading: tuple | None = None
        self.seed = 0
        self.redraws = 0  # how often the grid was drawn (tests, and a cheap sanity check)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.setSpacing(4)
        title = QLabel("Augmentation")
        title.setToolTip("Random changes to training images, applied in this order on the "
                         "device; validation images are never changed.")
        lay.addWidget(title)
        self.list = QListWidget()
        self.list.setMinimumHeight(60)
        self.list.setToolTip("Applied top to bottom to every training batch")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.ElideRight)
        self.list.currentRowChanged.connect(self._selected)
        lay.addWidget(self.list)
        row = QHBoxLayout()
        row.setSpacing(4)
        self.add_button = QToolButton()
        self.add_button.setText("Add ▾")
        self.add_button.setPopupMode(QToolButton.InstantPopup)
        self.add_menu = QMenu(self.add_button)
        for spec in OPS.values():
            action = self.add_menu.addAction(spec.title)
            action.setToolTip(spec.help)
            action.triggered.connect(lambda _=False, n=spec.name: self.add(n))
        self.add_button.setMenu(self.add_menu)
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.up_button = QToolButton()
        self.up_button.setText("▲")
        self.up_button.setToolTip("Move up: apply earlier")
        self.down_button = QToolButton()
        self.down_button.setText("▼")
        self.down_button.setToolTip("Move down: apply later")
        self.remove_button.clicked.connect(self.remove)
        self.up_button.clicked.connect(lambda: self.move(-1))
        self.down_button.clicked.connect(lambda: self.move(1))
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.about.setProperty("role", "dim")
        lay.addWidget(self.about)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.form_host)
        head = QHBoxLayout()
        head.addWidget(QLabel("Preview (training samples)"))
        head.addStretch(1)
        self.reroll = QToolButton()
        self.reroll.setText("Again")
        self.reroll.setToolTip("Draw new random changes for the same samples")
        self.reroll.clicked.connect(self._again)
        head.addWidget(self.reroll)
        lay.addLayout(head)
        self.status = QLabel()  # loading, or why there is no preview
        self.status.setWordWrap(True)
        self.status.setProperty("role", "dim")
        lay.addWidget(self.status)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignHCenter | Qt.AlignTop)
        self.preview.setToolTip("16 training samples through the list above (fixed samples, "
                                "new random changes with Again)")
        lay.addWidget(self.preview)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(THROTTLE_MS)
        self._timer.timeout.connect(self.redraw)
        self._loaded = _Loaded()
        self._loaded.done.connect(self._on_loaded, Qt.QueuedConnection)
        self._sync_buttons()

    # --- showing ----------------------------------------------------------------------------
    def show_ops(self, ops: list[dict], dataset: tuple[str, dict] | None) -> None:
        """Show ``ops`` (complete or not) and preview them on ``dataset`` (name, params)."""
        row = self.list.currentRow()
        self.ops = copy.deepcopy(list(ops))
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItems([describe_op(op) for op in self.ops])
        self.list.setCurrentRow(min(max(row, 0), len(self.ops) - 1) if self.ops else -1)
        self.list.blockSignals(False)
        self._selected(self.list.currentRow())
        line = self.list.sizeHintForRow(0) if self.ops else 18
        self.list.setFixedHeight(max(3, min(8, len(self.ops) + 1)) * max(line, 16) + 6)
        if dataset != self._dataset:
            self._dataset = copy.deepcopy(dataset)
            self._samples = None
            self._load()
        self.schedule()

    def _selected(self, row: int) -> None:
        self._sync_buttons()
        op = self.ops[row] if 0 <= row < len(self.ops) else None
        if op is not None and self._form_for == (row, op["op"]):  # same form: values only
            for name, field in self.fields.items():
                value = op.get(name, field.param.default)
                if field._value != value:
                    field.set_value(value)
            return
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields.clear()
        self._form_for = None if op is None else (row, op["op"])
        if op is None:
            self.about.setText("Add transforms from the menu; none: training images are "
                               "used as they are." if not self.ops else "")
            return
        spec = OPS[op["op"]]
        self.about.setText(spec.help)
        for param in spec.params:
            field = ParamField(param)
            field.set_value(op.get(param.name, param.default))
            field.committed.connect(self.set_param)
            label = QLabel(param.name.replace("_", " "))
            label.setToolTip(param.help)
            self.form.addRow(label, field)
            self.fields[param.name] = field

    def _sync_buttons(self) -> None:
        row = self.list.currentRow()
        self.remove_button.setEnabled(row >= 0)
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < len(self.ops) - 1)

    # --- editing (each emits the whole new list: one command) -------------------------------
    def add(self, name: str) -> None:
        row = self.list.currentRow()
        at = row + 1 if row >= 0 else len(self.ops)
        ops = [*self.ops[:at], {"op": name, **OPS[name].defaults()}, *self.ops[at:]]
        self._emit(ops, at)

    def remove(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self._emit(self.ops[:row] + self.ops[row + 1:], min(row, len(self.ops) - 2))

    def move(self, step: int) -> None:
        row = self.list.currentRow()
        to = row + step
        if row < 0 or not 0 <= to < len(self.ops):
            return
        ops = list(self.ops)
        ops[row], ops[to] = ops[to], ops[row]
        self._emit(ops, to)

    def set_param(self, name: str, value) -> None:
        row = self.list.currentRow()
        if row < 0 or self.ops[row].get(name) == value:
            return
        ops = copy.deepcopy(self.ops)
        ops[row][name] = value
        spec = OPS[ops[row]["op"]]
        for lo, hi in spec.ranges:  # keep low ≤ high by moving the other end along
            if ops[row].get(lo, 0) > ops[row].get(hi, 0):
                ops[row][hi if name == lo else lo] = value
        self._emit(ops, row)

    def _emit(self, ops: list[dict], row: int) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItems([describe_op(op) for op in ops])
        self.list.setCurrentRow(row)  # the document's echo keeps this row chosen
        self.list.blockSignals(False)
        self.changed.emit(ops)

    # --- the preview ------------------------------------------------------------------------
    def schedule(self) -> None:
        """Redraw soon (throttled: many edits in a row draw once)."""
        if not self._timer.isActive():
            self._timer.start()

    def _again(self) -> None:
        self.seed += 1
        self.redraw()

    def _load(self) -> None:
        if self._dataset is None:
            self._say("")
            return
        key = copy.deepcopy(self._dataset)
        self._loading = key
        self._say("Loading samples…")
        signal = self._loaded.done

        def work():
            from runtime.data.augment import preview_images

            try:
                result = preview_images(key[0], key[1], PREVIEW_N)
            except Exception as e:  # noqa: BLE001 - shown in place of the picture
                result = f"{e}"
            try:
                signal.emit(key, result)
            except RuntimeError:  # the form was closed meanwhile
                pass

        threading.Thread(target=work, name="layerloom-augment-preview", daemon=True).start()

    def _on_loaded(self, key, result) -> None:
        if key != self._loading:
            return  # an older dataset's samples
        self._loading = None
        if isinstance(result, str):
            self._say(f"No preview: {result}")
        elif result is None:
            self._say("No preview: this dataset's samples are not images (augmentation "
                      "applies to images only).")
        else:
            self._samples = result
            self.redraw()

    @property
    def loading(self) -> bool:
        return self._loading is not None

    def redraw(self) -> None:
        if self._samples is None:
            return
        from runtime.data.augment import augmented_pixels

        images, mean, std = self._samples
        try:
            pixels = augmented_pixels(images, self.ops, self.seed, mean, std)
        except Exception as e:  # noqa: BLE001 - an op the runtime refuses says why here
            self._say(f"No preview: {e}")
            return
        picture = np.ascontiguousarray(mosaic(pixels.numpy(), pad=2, cols=4))
        h, w = picture.shape[:2]
        image = QImage(picture.data, w, h, 3 * w, QImage.Format_RGB888).copy()
        side = max(PREVIEW_PX // 2, min(PREVIEW_PX, self.width() - 8))
        self.preview.setPixmap(QPixmap.fromImage(image).scaled(
            side, side, Qt.KeepAspectRatio,
            Qt.FastTransformation if w < side // 2 else Qt.SmoothTransformation))
        self.preview.show()
        self.status.hide()
        self.redraws += 1

    def _say(self, text: str) -> None:
        """Text in place of the grid (loading, or why there is none)."""
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.preview.setPixmap(QPixmap())
        self.preview.hide()
