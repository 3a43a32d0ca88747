"""The first convolution's kernels as small pictures, read from each epoch's checkpoint."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app import theme
from app.training.plots.pictures import mosaic
from app.training.plots.style import Panel, plot_widget
from app.training.series import RunSeries

__all__ = ["FiltersPanel"]


class FiltersPanel(Panel):
    """The first convolution's kernels as small pictures (each scaled to its own range)."""

    def __init__(self, parent=None):
        plot = plot_widget("First-layer filters", "", x_label="", grid=False)
        super().__init__(plot, "The first convolution layer's filters appear here after each "
                               "epoch (networks with a Conv2d only).", parent)
        plot.getPlotItem().setAspectLocked(True)
        plot.getPlotItem().getViewBox().invertY(True)
        for name in ("left", "bottom"):
            plot.getPlotItem().hideAxis(name)
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        self.layer = ""
        self.shape: tuple = ()

    def reset(self) -> None:
        self.image.clear()
        self.layer, self.shape = "", ()
        self.set_empty(True)

    def refresh(self, series: RunSeries) -> None:
        pass  # fed by show_weights from each checkpoint, not from the series

    def show_weights(self, layer: str, weight: np.ndarray, epoch: int) -> None:
        w = np.asarray(weight, dtype=np.float32)
        if w.ndim != 4:
            return
        w = w[:64]
        if w.shape[1] not in (1, 3):
            w = w.mean(1, keepdims=True)
        lo = w.min(axis=(1, 2, 3), keepdims=True)
        hi = w.max(axis=(1, 2, 3), keepdims=True)
        picture = mosaic((w - lo) / np.maximum(hi - lo, 1e-8), pad=1)
        fresh = picture.shape != getattr(self.image.image, "shape", None)
        self.image.setImage(picture, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(0, 0, picture.shape[1], picture.shape[0]))
        self.plot.getPlotItem().setTitle(f"First-layer filters · {layer} · epoch {epoch + 1}",
                                         color=theme.current().text, size="9pt")
        self.layer, self.shape = layer, tuple(weight.shape)
        self.set_empty(False)
        if fresh:
            self.plot.getPlotItem().autoRange(padding=0.02)
