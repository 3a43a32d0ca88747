"""The training dock's "Predict" tab: a thin view over ``runtime.predict.Predictor``.

Pick a run (the project it trained and its weights), then a validation sample, or drop an
image / .npy / .csv / text file on the panel, or type a CSV row or text; the panel shows the
input as the network sees it (images de-standardised for display) and the answer: the top-k
classes with probability bars, the predicted values, or the decoded text.  Every error is a
one-line message in the panel.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import theme

__all__ = ["PredictPanel"]

LISTED = 50  # validation samples offered in the list
VIEW = 150  # pixels of the "as the model sees it" picture


def _pixmap(image: np.ndarray, size: int) -> QPixmap:
    """A [C, H, W] array in [0, 1] as a pixmap ``size`` high, pixels kept sharp."""
    c = image.shape[0]
    arr = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    if c == 1:
        arr = np.ascontiguousarray(arr[0])
        qimage = QImage(arr.data, arr.shape[1], arr.shape[0], arr.strides[0],
                        QImage.Format_Grayscale8)
    else:
        arr = np.ascontiguousarray(arr[:3].transpose(1, 2, 0))
        qimage = QImage(arr.data, arr.shape[1], arr.shape[0], arr.strides[0],
                        QImage.Format_RGB888)
    return QPixmap.fromImage(qimage.copy()).scaledToHeight(size, Qt.FastTransformation)


class PredictPanel(QWidget):
    min_interval = 1.0  # the dock's redraw pace; nothing here changes while a run trains

    def __init__(self, store: Callable[[], object], parent=None):
        super().__init__(parent)
        self.store = store  # the RunStore of the open project (it changes with the file)
        self._predictor = None
        self._loaded: str | None = None  # the run folder the predictor was built for
        self._listed: list = []  # the runs offered, oldest first
        self.setAcceptDrops(True)

        self.run_combo = QComboBox()
        self.run_combo.setToolTip("The run whose weights answer (default: the latest)")
        self.run_combo.currentIndexChanged.connect(lambda _: self._run_changed())
        self.reload_button = QPushButton("↻")
        self.reload_button.setToolTip("List the runs again")
        self.reload_button.setFixedWidth(28)
        self.reload_button.clicked.connect(self.reload_runs)
        self.samples = QListWidget()
        self.samples.setToolTip("Validation samples: click one to see the model's answer")
        self.samples.currentItemChanged.connect(lambda item, _: self._sample_picked(item))
        self.random_button = QPushButton("Random sample")
        self.random_button.clicked.connect(self.pick_random)
        self.line = QLineEdit()
        self.line.setPlaceholderText("CSV row, text or file path, then Enter")
        self.line.returnPressed.connect(lambda: self.predict_sources([self.line.text()]))
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(self._open_file)
        self.top = QSpinBox()
        self.top.setRange(1, 100)
        self.top.setValue(5)
        self.top.setPrefix("top ")
        self.top.valueChanged.connect(lambda _: self._again())

        self.view_title = QLabel("As the model sees it")
        self.view = _label("Drop an image, .npy, .csv or text file here")
        self.view.setAlignment(Qt.AlignCenter)
        self.view.setMinimumSize(VIEW + 20, VIEW // 2)
        self.input_info = _label()
        self.answer = _label()
        font = self.answer.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.answer.setFont(font)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Class", "Probability"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.message = _label()
        self.message.setVisible(False)

        left = _box(QVBoxLayout(), _box(QHBoxLayout(), QLabel("Run"), (self.run_combo, 1),
                                        self.reload_button),
                    (self.samples, 1), _box(QHBoxLayout(), self.random_button, self.top),
                    _box(QHBoxLayout(), (self.line, 1), self.open_button))
        middle = _box(QVBoxLayout(), self.view_title, (self.view, 1), self.input_info)
        right = _box(QVBoxLayout(), self.answer, (self.table, 1), self.message)
        lay = _box(QHBoxLayout(self), (left, 3), (middle, 3), (right, 4))
        lay.setContentsMargins(4, 4, 4, 4)
        self._shown: list = []  # the samples on screen, to answer again with another top-k

    # --- the dock's panel protocol -----------------------------------------------------------
    def reset(self) -> None:
        pass

    def refresh(self, series) -> None:
        """While the tab is on screen (about once a second): list a run that has just
        finished."""
        store = self.store()
        if store is not None and [r.name for r in self._listed] != [
                r.name for r in self._runs_with_weights(store)]:
            self.reload_runs()

    @staticmethod
    def _runs_with_weights(store) -> list:
        return [r for r in store.records() if any(r.folder.glob("*.safetensors"))]

    def showEvent(self, event):
        super().showEvent(event)
        self.reload_runs()

    # --- runs --------------------------------------------------------------------------------
    def reload_runs(self) -> None:
        """List the runs that have weights, newest first; keep the chosen one if still there."""
        current = self.run_combo.currentData()
        store = self.store()
        if store is None:  # a standalone panel: load() was called with a folder
            return
        self._listed = self._runs_with_weights(store)
        records = self._listed[::-1]
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for r in records:
            self.run_combo.addItem(f"{r.label} · {r.status}", str(r.folder))
        index = self.run_combo.findData(current) if current else -1
        self.run_combo.setCurrentIndex(max(0, index) if records else -1)
        self.run_combo.blockSignals(False)
        if not records:
            self._predictor, self._loaded = None, None
            self.samples.clear()
            self.show_error("No trained run yet: train the project, then pick a sample here.")
        elif self.run_combo.currentData() != self._loaded:
            self._run_changed()

    def _run_changed(self) -> None:
        folder = self.run_combo.currentData()
        self._predictor, self._loaded = None, folder
        self.samples.clear()
        if folder:
            self.load(folder)

    def load(self, folder: str | Path) -> bool:
        """Build the predictor for a run folder (its own project.loom and weights)."""
        from builder.serialize import LoomError, load
        from runtime.predict import Predictor

        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            self._predictor = Predictor(load(Path(folder) / "project.loom"), folder)
        except (LoomError, OSError, ValueError, RuntimeError) as e:
            self._predictor = None
            self.show_error(f"This run cannot predict: {e}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self._loaded = str(folder)
        self.clear_error()
        p = self._predictor
        self.input_info.setText(p.describe_input())
        count = p.validation_size()
        self.samples.clear()
        for sample in p.validation(range(min(LISTED, count))):
            self._add_sample(sample)
        self.random_button.setEnabled(count > 0)
        return True

    @property
    def predictor(self):
        return self._predictor

    # --- inputs ------------------------------------------------------------------------------
    def _add_sample(self, sample, at: int | None = None) -> QListWidgetItem:
        shown = self._predictor.shown(sample)
        text = sample.name.replace("validation ", "")
        if isinstance(shown, str):
            text += f"  “{_line(shown, 32)}”"
        if sample.truth:
            text += f"  · true {_line(sample.truth, 32)}"
        item = QListWidgetItem(text)
        item.setData(Qt.UserRole, sample)
        if at is None:
            self.samples.addItem(item)
        else:
            self.samples.insertItem(at, item)
        return item

    def _sample_picked(self, item) -> None:
        if item is not None and self._predictor is not None:
            self.show_samples([item.data(Qt.UserRole)])

    def pick_random(self) -> None:
        p = self._predictor
        if p is None or not p.validation_size():
            return
        i = random.randrange(p.validation_size())
        self.samples.setCurrentItem(self._add_sample(p.validation([i])[0], 0))

    def _open_file(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Predict from files", "",
            "Inputs (*.png *.jpg *.jpeg *.bmp *.npy *.csv *.txt);;All files (*)")
        if paths:
            self.predict_sources(paths)

    def predict_sources(self, sources: list[str]) -> bool:
        """Read ``sources`` (files, a CSV row, text) and show the answers; False on an error
        (shown in the panel)."""
        from runtime.predict import InputError

        if self._predictor is None:
            self.show_error("Choose a run with trained weights first.")
            return False
        samples = []
        try:
            for source in sources:
                if source.strip():
                    samples += self._predictor.read_input(source.strip())
        except (InputError, OSError, ValueError) as e:
            self.show_error(f"{e}\n(the network's {self._predictor.describe_input()})")
            return False
        if not samples:
            return False
        self.samples.setCurrentItem(None)
        self.show_samples(samples)
        return True

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() or event.mimeData().hasText():
            event.acceptProposedAction()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event):
        self.drop(event.mimeData())
        event.acceptProposedAction()

    def drop(self, mime) -> bool:
        """Files (their paths) or text dropped on the panel."""
        if mime.hasUrls():
            files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            return self.predict_sources(files) if files else False
        return self.predict_sources([mime.text()]) if mime.hasText() else False

    # --- answers -----------------------------------------------------------------------------
    def _again(self) -> None:
        if self._shown:
            self.show_samples(self._shown)

    def show_samples(self, samples: list) -> None:
        """Answer ``samples``: the first shown as the model sees it, each one's answer."""
        p = self._predictor
        try:
            results = p.predict(samples, self.top.value())
        except (ValueError, RuntimeError) as e:  # a network that fails on this input
            self.show_error(f"The network could not answer: {e}")
            return
        self.clear_error()
        self._shown = samples
        self._show_input(samples[0], len(samples))
        first = results[0]
        self.top.setEnabled(first.kind != "value")
        truth = f"   (true: {first.truth})" if first.truth else ""
        more = "".join(f"\n{r.input} → {r.summary()}" for r in results[1:6])
        if first.kind == "value":
            self.answer.setText(f"<b>{first.summary()}</b>{_html(truth)}"
                                + _html(more).replace("\n", "<br>"))
            rows = [(f"output {i}", v, None) for i, v in enumerate(first.values)]
            self._fill(["Output", "Value"], rows)
        elif first.kind == "text":
            self.answer.setText(f"Output: <b>“{_html(_line(first.text, 400))}”</b>"
                                f"{_html(_line(truth, 400))}")
            self._fill(["Next symbol", "Probability"],
                       [(repr(c), q, q) for c, q in first.classes])
        else:
            best = first.classes[0] if first.classes else ("", 0.0)
            self.answer.setText(f"<b>{_html(best[0])}</b> {best[1]:.2f}{_html(truth)}"
                                + _html(more).replace("\n", "<br>"))
            head = "Label" if first.kind == "labels" else "Class"
            self._fill([head, "Probability"], [(c, q, q) for c, q in first.classes])

    def _show_input(self, sample, count: int) -> None:
        shown = self._predictor.shown(sample)
        name = Path(sample.name).name if Path(sample.name).suffix else sample.name
        self.view_title.setText(f"As the model sees it: {name}"
                                + (f" (first of {count})" if count > 1 else ""))
        if isinstance(shown, np.ndarray) and shown.ndim == 3:
            self.view.setPixmap(_pixmap(shown, VIEW))
            return
        self.view.setPixmap(QPixmap())
        if isinstance(shown, str):
            self.view.setText(f"“{_line(shown, 2000)}”")
        else:
            values = shown.reshape(-1)
            text = ", ".join(f"{v:.3g}" for v in values[:48])
            self.view.setText(f"[{text}{', …' if values.size > 48 else ''}]"
                              + ("\n(standardised)" if self._predictor.standardised else ""))

    def _fill(self, headers: list[str], rows: list[tuple]) -> None:
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for i, (name, value, bar) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(str(name)))
            if bar is None:
                self.table.removeCellWidget(i, 1)
                self.table.setItem(i, 1, QTableWidgetItem(f"{value:.6g}"))
                continue
            widget = QProgressBar()
            widget.setRange(0, 1000)
            widget.setValue(int(round(bar * 1000)))
            widget.setFormat(f"{value:.3f}")
            widget.setTextVisible(True)
            self.table.setItem(i, 1, QTableWidgetItem(""))
            self.table.setCellWidget(i, 1, widget)

    def show_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.current().error};")
        self.message.setVisible(True)

    def clear_error(self) -> None:
        self.message.setText("")
        self.message.setVisible(False)

    def error_text(self) -> str:
        return self.message.text()

    def rows(self) -> list[tuple[str, str]]:
        """The answer table as text (name, value): what a user reads."""
        out = []
        for i in range(self.table.rowCount()):
            widget = self.table.cellWidget(i, 1)
            value = widget.format() if isinstance(widget, QProgressBar) else \
                self.table.item(i, 1).text()
            out.append((self.table.item(i, 0).text(), value))
        return out


def _line(text: str, width: int) -> str:
    """Text on one line (line breaks as ↵), cut to ``width`` characters."""
    text = text.replace("\n", "↵")
    return text if len(text) <= width else text[:width - 1] + "…"


def _label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label


def _box(layout, *items):
    """``layout`` holding ``items``: widgets or layouts, or (item, stretch) pairs."""
    for item in items:
        item, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(item, QWidget):
            layout.addWidget(item, stretch)
        else:
            layout.addLayout(item, stretch)
    return layout


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


if __name__ == "__main__":  # preview: python -m app.training.predict_panel RUNDIR
    import sys

    app = QApplication(sys.argv)
    panel = PredictPanel(lambda: None)
    panel.load(sys.argv[1])
    panel.resize(1100, 320)
    panel.show()
    app.exec()
