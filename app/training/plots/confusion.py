"""The validation confusion matrix of a classifier, from each epoch's summary."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app.training.plots.style import Panel, heat_rgb, plot_widget
from app.training.series import RunSeries

__all__ = ["ConfusionPanel"]


class ConfusionPanel(Panel):
    """Validation confusion matrix: rows are the true class, columns the predicted one,
    shaded by the share of each true class (recall), with the counts written in."""

    min_interval = 0.5  # seconds between redraws (the dock asks)

    def __init__(self, parent=None):
        plot = plot_widget("Confusion matrix (validation)", "true class", "predicted class",
                           grid=False)
        super().__init__(plot, "The confusion matrix of a classifier appears after the first "
                               "epoch.", parent)
        plot.getPlotItem().setAspectLocked(True)
        plot.getPlotItem().getViewBox().invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        self._n = 0
        self._seen = -1
        self.matrix: np.ndarray | None = None

    def reset(self) -> None:
        self.image.clear()
        for t in self._texts:
            t.setText("")
        self._n, self._seen, self.matrix = 0, -1, None
        self.set_empty(True)

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("confusion") == self._seen:
            return
        self._seen = series.stamp("confusion")
        m = series.confusion
        if m is None:
            self.set_empty(True)
            return
        self.set_empty(False)
        self.matrix = m
        n = m.shape[0]
        share = m / np.maximum(1, m.sum(1, keepdims=True))
        rgb = heat_rgb(share)[..., :3]
        self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(-0.5, -0.5, n, n))
        if n != self._n:
            self._n = n
            ticks = [(i, str(i)) for i in range(0, n, max(1, n // 12))]
            for axis in ("left", "bottom"):
                self.plot.getPlotItem().getAxis(axis).setTicks([ticks, []])
            self.plot.getPlotItem().setRange(xRange=(-0.5, n - 0.5), yRange=(-0.5, n - 0.5),
                                             padding=0.02)
        show = n <= 12
        while show and len(self._texts) < n * n:
            t = pg.TextItem("", anchor=(0.5, 0.5))
            self.plot.addItem(t, ignoreBounds=True)
            self._texts.append(t)
        for k, t in enumerate(self._texts):
            if show and k < n * n:
                i, j = divmod(k, n)
                t.setText(str(int(m[i, j])))
                t.setColor("#101010" if share[i, j] > 0.55 else "#f0f0f0")
                t.setPos(j, i)
            else:
                t.setText("")
