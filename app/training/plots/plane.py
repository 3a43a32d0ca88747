"""The plane: a heatmap (the decision boundary, the discriminator's belief) with the
points that lie on it, or points alone (a latent space).  The heatmap is one ``ImageItem``;
points are one scatter item per colour, fed only when their data changed."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor

from app import theme
from app.training.plots.captions import FittedTitle, SideLegend
from app.training.plots.style import class_colors, heat_rgb, plot_widget, series_color

__all__ = ["boundary_image", "PlaneView"]

GAN_REAL = (150, 150, 150, 110)
GAN_FAKE = (242, 142, 43, 220)


def boundary_image(classes: np.ndarray, confidence: np.ndarray | None,
                   n_classes: int) -> np.ndarray:
    """Class colours blended into the background by the model's confidence: sure regions
    are saturated, the boundary fades to the background (uint8 RGB, rows = y upwards)."""
    colors = class_colors(max(1, n_classes)).astype(np.float32)
    bg = np.array(QColor(theme.current().base).getRgb()[:3], dtype=np.float32)
    cls = np.clip(np.asarray(classes).astype(np.int64), 0, len(colors) - 1)
    rgb = colors[cls]
    if confidence is not None:
        chance = 1.0 / max(2, n_classes)
        t = np.clip((np.asarray(confidence, np.float32) - chance) / (1 - chance), 0, 1)
        t = 0.12 + 0.5 * t[..., None]
    else:
        t = 0.45
    return (bg + (rgb - bg) * t).astype(np.uint8)

class PlaneView:
    """The plane: a heatmap (``extra["extent"]``; ``classes``/``confidence`` make it a
    decision boundary) under the points that lie on it, or points alone.  Points are coloured
    by class (``labels``) with ``extra["names"]`` in a legend beside the plot; a GAN's
    (``extra["real"]``) are orange over the data in grey; ``extra["predicted"]`` crosses out
    the wrong ones.  A heatmap's ``extra["paths"]`` {name: [M, 2]} are lines over it, one
    colour each with a legend (optimizers' trajectories on a loss surface)."""

    def __init__(self, title: str):
        self.plot = plot_widget(title, "", x_label="")
        self.widget = self.plot
        item = self.plot.getPlotItem()
        item.setAspectLocked(True)
        self.title = FittedTitle(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        item.addItem(self.image)
        self.legend = SideLegend(self.plot)
        self.scatters: dict[str, pg.ScatterPlotItem] = {}
        self.lines: dict[str, pg.PlotDataItem] = {}  # a heatmap's extra["paths"]
        self._keys: dict[str, tuple] = {}
        self._frame: tuple | None = None  # (view key, extent) the range was last set for
        self._heat = None  # the heatmap sample drawn

    def clear(self, title: str) -> None:
        self.image.clear()
        for s in (*self.scatters.values(), *self.lines.values()):
            s.setData([], [])
        self._keys.clear()
        self._frame = self._heat = None
        self.legend.set([])
        self.title.set(title)

    def show(self, view, heading: list[str]) -> None:
        self.title.set(*heading)
        heat = view.samples[0] if view.samples[0].kind == "heatmap" else None
        extent = None if heat is None else [float(v) for v in
                                            heat.extra.get("extent", [0, 1, 0, 1])]
        if heat is not self._heat:
            self._heat = heat
            if heat is None:
                self.image.clear()
            else:
                self.image.setImage(self._heat_rgb(heat), autoLevels=False, levels=(0, 255))
                self.image.setRect(QRectF(extent[0], extent[2], extent[1] - extent[0],
                                          extent[3] - extent[2]))
        used, entries = set(), []
        points = [s for s in view.samples if s.kind == "points"]
        for i, sample in enumerate(points):
            used |= self._draw_points(i, sample, entries)
        for name, item in self.scatters.items():
            if name not in used and self._keys.pop(name, None) is not None:
                item.setData([], [])
        self._draw_paths({} if heat is None else heat.extra.get("paths") or {}, entries)
        self.legend.set(entries)
        vb = self.plot.getPlotItem().getViewBox()
        if self._frame != (view.key, extent):
            self._frame = (view.key, extent)
            if extent is not None:
                vb.setRange(xRange=extent[:2], yRange=extent[2:], padding=0)
            else:
                vb.enableAutoRange()  # a latent space drifts: follow it until the user zooms

    @staticmethod
    def _heat_rgb(heat) -> np.ndarray:
        if "classes" in heat.extra:
            return boundary_image(heat.data, heat.extra.get("confidence"),
                                  int(heat.extra["classes"]))
        rgb = heat_rgb(np.asarray(heat.data, dtype=np.float32))[..., :3]
        bg = np.array(QColor(theme.current().base).getRgb()[:3], np.float32)
        return (bg + (rgb.astype(np.float32) - bg) * 0.55).astype(np.uint8)

    def _draw_paths(self, paths: dict, entries: list) -> None:
        """Polylines over the heatmap (optimizers' trajectories), one colour each, fed only
        when their data changed; the unused ones emptied."""
        for i, (name, data) in enumerate(paths.items()):
            data = np.asarray(data, dtype=np.float32).reshape(-1, 2)
            item = self.lines.get(name)
            if item is None:
                item = self.lines[name] = pg.PlotDataItem(
                    pen=pg.mkPen(series_color(i), width=2))
                item.setZValue(3)
                self.plot.addItem(item)
            key = ("path", data.shape, data.tobytes())
            if self._keys.get(f"path:{name}") != key:
                self._keys[f"path:{name}"] = key
                item.setData(data[:, 0], data[:, 1])
            entries.append((item, html.escape(str(name))))
        for name, item in self.lines.items():
            if name not in paths and self._keys.pop(f"path:{name}", None) is not None:
                item.setData([], [])

    def _scatter(self, name: str, z: int) -> pg.ScatterPlotItem:
        item = self.scatters.get(name)
        if item is None:
            item = self.scatters[name] = pg.ScatterPlotItem(pxMode=True)
            item.setZValue(z)
            self.plot.addItem(item)
        return item

    def _set_points(self, name: str, data: np.ndarray, z: int, **style) -> str:
        """Feed one scatter item (one colour: pyqtgraph's fast path) only when it changed."""
        item = self._scatter(name, z)
        key = (data.shape, data.tobytes())
        if self._keys.get(name) != key:
            self._keys[name] = key
            item.setData(data[:, 0], data[:, 1], **style)
        return name

    def _draw_points(self, i: int, sample, entries: list) -> set[str]:
        data = np.asarray(sample.data, dtype=np.float32).reshape(-1, 2)
        if "real" in sample.extra:  # a GAN: the data in grey under the generated points
            real = np.asarray(sample.extra["real"], dtype=np.float32).reshape(-1, 2)
            used = {self._set_points("real", real, 1, size=4, pen=None,
                                     brush=pg.mkBrush(*GAN_REAL)),
                    self._set_points(sample.name, data, 2, size=5, pen=None,
                                     brush=pg.mkBrush(*GAN_FAKE))}
            entries += [(self.scatters["real"], "data"),
                        (self.scatters[sample.name], html.escape(sample.name))]
            return used
        if sample.labels is None:
            return {self._set_points(sample.name, data, 2, size=5, pen=None,
                                     brush=pg.mkBrush(series_color(i)))}
        labels = np.asarray(sample.labels).astype(np.int64).reshape(-1)
        names = [str(n) for n in sample.extra.get("names", [])]
        count = max(int(labels.max()) + 1 if len(labels) else 1, len(names))
        colors = class_colors(count)
        edge = pg.mkPen(theme.current().window, width=0.8)
        used = set()
        for k in range(count):
            name = self._set_points(f"{sample.name}#{k}", data[labels == k], 2, size=6,
                                    pen=edge, brush=pg.mkBrush(*colors[k]))
            used.add(name)
            if k < len(names):
                entries.append((self.scatters[name], html.escape(names[k])))
        predicted = sample.extra.get("predicted")
        if predicted is not None:  # wrong answers crossed out
            wrong = data[np.asarray(predicted).astype(np.int64).reshape(-1) != labels]
            used.add(self._set_points(f"{sample.name}:wrong", wrong, 3, size=7, symbol="x",
                                      pen=None, brush=pg.mkBrush(theme.current().text)))
        return used
