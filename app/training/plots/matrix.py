"""A matrix of values with named rows and columns: an attention map (output steps against
source steps), or any [rows, columns] table a recipe sends as kind ``matrix``."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app.training.plots.captions import FittedTitle, LabelAxis
from app.training.plots.style import heat_rgb, plot_widget

__all__ = ["MatrixView"]

WRITTEN = 144  # cells: up to this many carry their value as text


class MatrixView:
    """[R, C] values as heat-coloured cells, row 0 at the top, every row and column named
    by ``extra["rows"]`` / ``extra["columns"]`` (numbered where absent), the axes by
    ``x_label`` / ``y_label``.  The colours span ``extra["levels"]`` (an attention map's
    [0, 1], so a diffuse map looks diffuse), else the values' own range; small matrices
    have their values written in."""

    def __init__(self, title: str):
        self.axes = {"left": LabelAxis("left", max_width=80), "bottom": LabelAxis("bottom")}
        self.plot = plot_widget(title, "", x_label="", grid=False, axis_items=self.axes)
        self.widget = self.plot
        self.title = FittedTitle(self.plot)
        item = self.plot.getPlotItem()
        item.getViewBox().invertY(True)
        item.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.values = np.zeros((0, 0))
        self._drawn = None

    def clear(self, title: str) -> None:
        self.image.clear()
        for t in self.texts:
            t.setText("")
        for axis in self.axes.values():
            axis.set_names([])
        self.values, self._drawn = np.zeros((0, 0)), None
        self.title.set(title)

    def show(self, view, heading: list[str]) -> None:
        self.title.set(*heading)
        sample = view.samples[0]
        if sample is self._drawn:
            return
        self._drawn = sample
        m = np.nan_to_num(np.asarray(sample.data, dtype=np.float64))
        m = m.reshape(m.shape[0], -1) if m.ndim else m.reshape(1, 1)
        self.values = m
        rows, cols = m.shape
        lo, hi = sample.extra.get("levels") or (min(0.0, float(m.min(initial=0))),
                                                 float(m.max(initial=0)))
        share = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        self.image.setImage(heat_rgb(share)[..., :3], autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(-0.5, -0.5, cols, rows))
        self.axes["left"].set_names(sample.extra.get("rows") or [str(i) for i in range(rows)])
        self.axes["bottom"].set_names(sample.extra.get("columns")
                                      or [str(j) for j in range(cols)])
        item = self.plot.getPlotItem()
        item.setLabel("bottom", sample.extra.get("x_label", ""))
        item.setLabel("left", sample.extra.get("y_label", ""))
        item.setRange(xRange=(-0.5, cols - 0.5), yRange=(-0.5, rows - 0.5), padding=0.02)
        self._write(m, share)

    def _write(self, m: np.ndarray, share: np.ndarray) -> None:
        """The values in their cells, dark on light cells and light on dark ones."""
        rows, cols = m.shape
        n = rows * cols if rows * cols <= WRITTEN else 0
        while len(self.texts) < n:
            t = pg.TextItem("", anchor=(0.5, 0.5))
            self.plot.addItem(t, ignoreBounds=True)
            self.texts.append(t)
        for k, t in enumerate(self.texts):
            if k >= n:
                t.setText("")
                continue
            i, j = divmod(k, cols)
            t.setText(f"{m[i, j]:.2f}".lstrip("0") if 0 <= m[i, j] < 1 else f"{m[i, j]:.3g}")
            t.setColor("#101010" if share[i, j] > 0.55 else "#f0f0f0")
            t.setPos(j, i)
