"""The inspector's "Run to here": the selected block's output for one sample of the dataset,
with the weights of the latest run (or fresh ones): its statistics, a histogram of its values
and, for image-like outputs, its first feature maps.  ``runtime.probe`` does the work, in a
thread, so loading the data never freezes the window."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from app import theme
from builder.document import Project

__all__ = ["RunToHere", "maps_image", "histogram_image"]

MAPS = 16  # feature maps shown at most
WIDTH = 240  # pixels of the pictures (the inspector's width)


def _gray(a: np.ndarray) -> np.ndarray:
    low, high = float(a.min()), float(a.max())
    return ((a - low) / (high - low + 1e-12) * 255).astype(np.uint8)


def maps_image(values: np.ndarray, width: int = WIDTH) -> QImage:
    """Up to MAPS channels of a [C, H, W] output side by side in rows, each scaled to its
    own range (a dead map shows black)."""
    maps = values[:MAPS]
    c, h, w = maps.shape
    cols = min(c, 4)
    rows = -(-c // cols)
    gap = 2
    canvas = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), 40, np.uint8)
    for i, m in enumerate(maps):
        r, q = divmod(i, cols)
        canvas[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = _gray(m)
    image = QImage(canvas.data, canvas.shape[1], canvas.shape[0], canvas.strides[0],
                   QImage.Format_Grayscale8).copy()
    return image.scaledToWidth(width, Qt.FastTransformation)


def histogram_image(values: np.ndarray, width: int = WIDTH, height: int = 70) -> QImage:
    """A bar per bin of the values, in the accent colour."""
    counts, _ = np.histogram(values.ravel(), bins=min(40, max(5, values.size // 4)))
    image = QImage(width, height, QImage.Format_RGB32)
    image.fill(theme.color("canvas"))
    top = max(1, int(counts.max()))
    bar = width / len(counts)
    from PySide6.QtGui import QPainter

    painter = QPainter(image)
    for i, n in enumerate(counts):
        h = int(round(n / top * (height - 4)))
        painter.fillRect(int(i * bar), height - h, max(1, int(bar) - 1), h,
                         theme.color("accent"))
    painter.end()
    return image


class _Done(QObject):
    finished = Signal(object)


class RunToHere(QWidget):
    """Set ``weights_source``: given a network, the folder of the latest run's weights for
    it (None: fresh weights)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.weights_source: Callable[[str], Path | None] = lambda network: None
        self.result = None  # the last Probe, or an error text (tests read it)
        self._thread: threading.Thread | None = None
        self._target: tuple[str, str] | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.button = QPushButton("Run to here")
        self.button.setToolTip("Run one sample of the dataset up to this block, with the "
                               "latest run's weights (or fresh ones), and show its output")
        self.button.clicked.connect(self.start)
        self.said = QLabel()
        self.said.setWordWrap(True)
        self.said.setProperty("role", "dim")
        self.picture = QLabel()
        self.histogram = QLabel()
        for w in (self.button, self.said, self.picture, self.histogram):
            lay.addWidget(w)
        for w in (self.said, self.picture, self.histogram):
            w.hide()  # no room taken before there is an answer
        self._done = _Done()
        self._done.finished.connect(self._show, Qt.QueuedConnection)
        self.project: Project | None = None

    def set_target(self, project: Project | None, network: str | None,
                   node: str | None) -> None:
        """The block to run to; a new one clears the last answer."""
        target = (network, node) if network and node else None
        self.project = project
        if target != self._target:
            self._target = target
            self.result = None
            for label in (self.said, self.picture, self.histogram):
                label.clear()
                label.hide()
        self.button.setEnabled(target is not None and self._thread is None)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self) -> bool:
        if self._target is None or self.project is None or self._thread is not None:
            return False
        from runtime.probe import probe

        network, node = self._target
        project, weights, done = self.project, self.weights_source(network), self._done
        self.button.setEnabled(False)
        self.said.setText("Running one sample…")
        self.said.show()

        def work():
            try:
                done.finished.emit(probe(project, network, node, weights))
            except Exception as e:  # noqa: BLE001 - shown in the inspector, in words
                done.finished.emit(f"Cannot run to {node}: {e}")

        self._thread = threading.Thread(target=work, name="layerloom-probe", daemon=True)
        self._thread.start()
        return True

    def _show(self, result) -> None:
        self._thread.join(1.0)
        self._thread = None
        self.button.setEnabled(self._target is not None)
        self.result = result
        if isinstance(result, str):
            self.said.setText(result)
            return
        values = result.values
        stats = ", ".join(f"{k} {v:.3g}" for k, v in result.stats.items())
        shape = "×".join(str(d) for d in values.shape) or "a scalar"
        zeros = f"; zeros for {', '.join(result.zeros)}" if result.zeros else ""
        self.said.setText(f"Output [{shape}] for the first {result.part} sample, with "
                          f"{result.weights}{zeros}.\n{stats}")
        self.picture.setPixmap(QPixmap.fromImage(maps_image(values)) if values.ndim == 3
                               else QPixmap())
        self.picture.setVisible(values.ndim == 3)
        self.histogram.setPixmap(QPixmap.fromImage(histogram_image(values)))
        self.histogram.show()
