"""The inspector's "On an image" section for Conv2d and 2-D pooling blocks: one image of the
project's data (a synthetic one until it has loaded, or when the data has no images) through
a chosen kernel with the block's stride, padding and dilation, input | output side by side,
the output-size formula with the numbers, equivariance (shift the input, the map shifts) and,
for pooling, invariance to a one-pixel shift.  ``runtime.conv_demo`` does the maths."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.inspector.run_to_here import maps_image
from builder.ports import freeze

__all__ = ["ConvDemo", "CONV_BLOCKS", "POOL_BLOCKS"]

CONV_BLOCKS = ("Conv2d",)
POOL_BLOCKS = ("MaxPool2d", "AvgPool2d", "LPPool2d")
LAYER = "this layer's filter"
SIDE = 118  # pixels of each picture: two fit the ~300 px inspector
SHIFT = 3  # pixels the equivariance toggle moves the input by


class _Loaded(QObject):
    finished = Signal(object, object, str)  # key, image or None, where it came from


class ConvDemo(QWidget):
    """Call ``set_node(project, network, node, block, params)``; returns whether the
    block has a demo.  ``weights_source(network)``: a run folder, or None for fresh weights."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from runtime.conv_demo import KERNELS, synthetic_image

        self.weights_source: Callable[[str], object] = lambda network: None
        self._target = None  # (project, network, node, block, params)
        self._images: dict = {}  # dataset key -> (image, words); None while loading
        self._synthetic = (synthetic_image(28), "a synthetic image (the data's is loading)")
        self._key = None
        self.shown = None  # (input, output) arrays last drawn (tests read them)
        self.error = None  # the last measured equivariance error, or pooling share
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        row = QHBoxLayout()
        self.kernel = QComboBox()
        self.kernel.addItems([*KERNELS, LAYER])
        self.kernel.setToolTip("The kernel slid over the image: a classic hand-made one, or "
                               "one of this layer's filters (fresh or from the latest run)")
        self.index = QSpinBox()
        self.index.setPrefix("k = ")
        self.index.setToolTip("Which of the layer's filters (averaged over input channels)")
        row.addWidget(self.kernel, 1)
        row.addWidget(self.index)
        self.shift = QCheckBox(f"Shift the input by {SHIFT} px (equivariance)")
        self.shift.setToolTip("Move the image and compare: a convolution's map moves by the "
                              "same amount; pooling's output barely changes")
        pics = QGridLayout()
        pics.setSpacing(4)
        self.caption_in, self.caption_out = QLabel("input"), QLabel("output")
        self.picture_in, self.picture_out = QLabel(), QLabel()
        for col, (cap, pic) in enumerate(((self.caption_in, self.picture_in),
                                          (self.caption_out, self.picture_out))):
            cap.setProperty("role", "dim")
            pic.setFixedSize(SIDE, SIDE)
            pic.setAlignment(Qt.AlignCenter)
            pics.addWidget(cap, 0, col)
            pics.addWidget(pic, 1, col)
        pics.setColumnStretch(2, 1)
        self.said = QLabel()
        self.said.setWordWrap(True)
        self.said.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addLayout(row)
        lay.addWidget(self.shift)
        lay.addLayout(pics)
        lay.addWidget(self.said)
        self.kernel.currentIndexChanged.connect(self._redraw)
        self.index.valueChanged.connect(self._redraw)
        self.shift.toggled.connect(self._redraw)
        self._loaded = _Loaded()
        self._loaded.finished.connect(self._image_loaded, Qt.QueuedConnection)

    # --- what is shown ----------------------------------------------------------------------
    def set_node(self, project, network: str | None, node: str | None, block: str | None,
                 params: dict) -> bool:
        if block not in CONV_BLOCKS + POOL_BLOCKS or not network or project is None:
            self._target = None
            return False
        self._target = (project, network, node, block, params)
        pool = block in POOL_BLOCKS
        self.kernel.setVisible(not pool)
        self.index.setVisible(not pool and self.kernel.currentText() == LAYER)
        self.shift.setText("Shift the input by 1 px (invariance)" if pool
                           else f"Shift the input by {SHIFT} px (equivariance)")
        self.index.setMaximum(max(0, int(params.get("filters", 1)) - 1))
        self._redraw()
        return True

    def _image(self):
        """The demo image: the data's first sample once loaded (in a thread), else synthetic."""
        project = self._target[0]
        key = (project.dataset.name, freeze(project.dataset.params))
        if key not in self._images:
            self._images[key] = None
            loaded = self._loaded

            def work():
                from runtime.conv_demo import data_image

                try:
                    image, words = data_image(project)
                except Exception as e:  # noqa: BLE001 - no data: the synthetic image, said why
                    image, words = None, f"the data could not be loaded ({e})"
                loaded.finished.emit(key, image, words)

            threading.Thread(target=work, name="layerloom-conv-demo", daemon=True).start()
        got = self._images[key]
        if got is None:
            return self._synthetic
        image, words = got
        return (image, words) if image is not None else \
            (self._synthetic[0], f"a synthetic image ({words})")

    def _image_loaded(self, key, image, words) -> None:
        self._images[key] = (image, words)
        self._key = None
        if self._target is not None:
            self._redraw()

    def _redraw(self, *_):
        if self._target is None:
            return
        project, network, node, block, params = self._target
        image, where = self._image()
        self.index.setVisible(block in CONV_BLOCKS and self.kernel.currentText() == LAYER)
        key = (id(image), network, node, freeze(params), self.kernel.currentText(),
               self.index.value(), self.shift.isChecked())
        if key == self._key:
            return
        self._key = key
        try:
            if block in POOL_BLOCKS:
                text = self._pool(image, block, params)
            else:
                text = self._conv(image, project, network, node, params)
        except Exception as e:  # noqa: BLE001 - a bad param or graph: said, never a traceback
            self.shown = None
            self.picture_in.clear()
            self.picture_out.clear()
            self.said.setText(f"Cannot show this block on an image: {e}")
            return
        self.said.setText(f"Image: {where} ({image.shape[0]}×{image.shape[1]}).\n{text}")

    def _conv(self, image, project, network, node, params) -> str:
        from runtime import conv_demo as cd

        geo = cd.geometry(params)
        name = self.kernel.currentText()
        if name == LAYER:
            folder = self.weights_source(network)
            try:
                kernel, which = cd.layer_filter(project, network, node, self.index.value(),
                                                folder)
            except Exception:  # noqa: BLE001 - the run's weights no longer fit the graph
                kernel, which = cd.layer_filter(project, network, node, self.index.value())
        else:
            kernel, which = cd.KERNELS[name], name
        kh, kw = kernel.shape
        lines = [f"Kernel {kh}×{kw}: {which}.", cd.size_text(image, kernel, geo)]
        if self.shift.isChecked():
            moved, expected, err = cd.equivariance(image, kernel, geo, SHIFT, SHIFT)
            self.error = err
            self._show(cd.shift(image, *self._moved(geo)), moved, "input, shifted",
                       "output (mid-grey = 0)" if moved.min() < 0 else "output")
            sy, sx = geo.stride
            lines.append(f"The map moved by {SHIFT // sy}×{SHIFT // sx} px: max |conv(shift x) "
                         f"− shift(conv x)| away from the border = {err:.2g}")
        else:
            self.error = None
            out = cd.convolve(image, kernel, geo)
            self._show(image, out, "input", "output (mid-grey = 0)" if out.min() < 0
                       else "output")
        return "\n".join(lines)

    @staticmethod
    def _moved(geo) -> tuple[int, int]:
        sy, sx = geo.stride  # equivariance rounds the shift to whole strides
        return round(SHIFT / sy) * sy, round(SHIFT / sx) * sx

    def _pool(self, image, block, params) -> str:
        from runtime import conv_demo as cd

        before, after, same = cd.invariance(image, block, params, 0, 1)
        self.error = same
        if self.shift.isChecked():
            self._show(before, after, "pooled", "pooled, input 1 px right")
            why = ("the window's largest value often stays in it (invariance)"
                   if block == "MaxPool2d" else "a mean (or norm) shifts a little with every "
                   "pixel, so few values stay exactly equal; max pooling keeps more")
            return (f"{same:.0%} of the pooled values did not change when the input moved "
                    f"one pixel: {why}.")
        self._show(image, before, "input", "pooled")
        return (f"{image.shape[0]}×{image.shape[1]} → {before.shape[0]}×{before.shape[1]}; "
                f"tick the shift to compare ({same:.0%} unchanged after a 1 px move).")

    def _show(self, a: np.ndarray, b: np.ndarray, cap_a: str, cap_b: str) -> None:
        self.shown = (a, b)
        self.caption_in.setText(cap_a)
        self.caption_out.setText(cap_b)
        for label, values in ((self.picture_in, a), (self.picture_out, b)):
            img = maps_image(values[None].astype(np.float32), SIDE)
            if img.height() > SIDE:
                img = img.scaledToHeight(SIDE, Qt.FastTransformation)
            label.setPixmap(QPixmap.fromImage(img))
