"""What the model does, drawn: the decision boundary over the plane with the validation points
(the TensorFlow Playground picture), GAN points and the discriminator's landscape, image
grids and text samples (the confusion matrix and the filters have their own modules).

Pictures come from the recipe's ``Samples`` events at the end of each epoch; this module only
draws them.  Images are numpy arrays handed to one ``ImageItem`` each, created once."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QPlainTextEdit, QStackedWidget

from app import theme
from app.training.plots.style import Panel, class_colors, heat_rgb, plot_widget, series_color
from app.training.series import RunSeries

__all__ = ["PicturePanel", "mosaic", "boundary_image", "plane_samples", "image_samples",
           "text_samples"]


def mosaic(images: np.ndarray, pad: int = 2, borders: list | None = None,
           cols: int | None = None) -> np.ndarray:
    """[N, C, H, W] floats in [0, 1] → one uint8 RGB picture [rows·(H+pad), cols·(W+pad), 3].
    One channel is grey, three are RGB, others show their first channel.  ``borders`` gives
    an RGB colour (or None) per image for the frame around it."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[:, None]
    n, c, h, w = images.shape
    if c == 3:
        rgb = images.transpose(0, 2, 3, 1)
    else:
        rgb = np.repeat(images[:, 0, :, :, None], 3, axis=3)
    cols = cols or max(1, math.ceil(math.sqrt(n * h / max(1, w))))
    rows = max(1, math.ceil(n / cols))
    bg = np.array(QColor(theme.current().base).getRgb()[:3], dtype=np.uint8)
    out = np.empty((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), dtype=np.uint8)
    out[:] = bg
    pixels = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        if borders is not None and borders[i] is not None and pad:
            out[y - pad:y + h + pad, x - pad:x + w + pad] = borders[i]
        out[y:y + h, x:x + w] = pixels[i]
    return out


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


def plane_samples(samples: dict) -> tuple:
    """(heatmap sample or None, [points samples]) of the latest pictures."""
    heat = next((s for s in samples.values() if s.kind == "heatmap"), None)
    points = [s for s in samples.values() if s.kind == "points"]
    return heat, points


def image_samples(samples: dict) -> list:
    return [s for s in samples.values() if s.kind == "images"]


def text_samples(samples: dict) -> list:
    return [s for s in samples.values() if s.kind == "text"]


class PicturePanel(QStackedWidget):
    """The recipe's main picture: the plane (boundary + points) when there is one, else the
    first image grid (``kind="images"``), else the text samples.  With ``skip_plane`` it
    shows only images or text (the Samples tab, when the plane is already on screen)."""

    min_interval = 0.5  # seconds between redraws (the dock asks)

    def __init__(self, title: str = "Predictions", skip_plane: bool = False, parent=None):
        super().__init__(parent)
        self.title = title
        self.skip_plane = skip_plane
        self.plot = plot_widget(title, "", x_label="")
        self.plot.getPlotItem().setAspectLocked(True)
        self.panel = Panel(self.plot, "Pictures of what the model does appear here as often "
                                      "as the training setup says (every epoch by default).")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.Monospace)
        self.text.setFont(mono)
        self.addWidget(self.panel)
        self.addWidget(self.text)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self._scatters: dict[str, pg.ScatterPlotItem] = {}
        self._keys: dict[str, tuple] = {}
        self._mode = ""
        self._seen = -1
        self.shown = ""  # what is drawn now: "plane", "images", "text" or ""

    def reset(self) -> None:
        self.image.clear()
        for s in self._scatters.values():
            s.setData([], [])
        self._keys.clear()
        self.text.clear()
        self._mode, self._seen, self.shown = "", -1, ""
        self.setCurrentWidget(self.panel)
        self.panel.set_empty(True)

    def _switch(self, mode: str) -> bool:
        changed = mode != self._mode
        self._mode = mode
        self.shown = mode
        vb = self.plot.getPlotItem().getViewBox()
        if changed:
            vb.invertY(mode == "images")
            for name in ("left", "bottom"):
                self.plot.getPlotItem().showAxis(name, mode == "plane")
        return changed

    def _scatter(self, name: str, z: int = 1) -> pg.ScatterPlotItem:
        item = self._scatters.get(name)
        if item is None:
            item = self._scatters[name] = pg.ScatterPlotItem(pxMode=True)
            item.setZValue(z)
            self.plot.addItem(item)
        return item

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("samples") == self._seen:
            return
        self._seen = series.stamp("samples")
        samples = series.samples
        heat, points = plane_samples(samples)
        images = image_samples(samples)
        texts = text_samples(samples)
        if (heat is not None or points) and not self.skip_plane:
            self._draw_plane(heat, points)
        elif images:
            self._draw_images(images[0])
        elif texts:
            self._draw_text(texts)
        else:
            self.panel.set_empty(True)

    def _title(self, sample) -> None:
        self.plot.getPlotItem().setTitle(f"{sample.name.capitalize()} · epoch {sample.epoch + 1}",
                                         color=theme.current().text, size="9pt")

    def _draw_plane(self, heat, points) -> None:
        self.setCurrentWidget(self.panel)
        self.panel.set_empty(False)
        fresh = self._switch("plane")
        bounds = None
        if heat is not None:
            extent = heat.extra.get("extent", [0, 1, 0, 1])
            if "classes" in heat.extra:
                rgb = boundary_image(heat.data, heat.extra.get("confidence"),
                                     int(heat.extra["classes"]))
            else:
                rgb = heat_rgb(np.asarray(heat.data, dtype=np.float32))[..., :3]
                bg = np.array(QColor(theme.current().base).getRgb()[:3], np.float32)
                rgb = (bg + (rgb.astype(np.float32) - bg) * 0.55).astype(np.uint8)
            self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
            self.image.setRect(QRectF(extent[0], extent[2], extent[1] - extent[0],
                                      extent[3] - extent[2]))
            bounds = extent
            self._title(heat)
        used = set()
        for i, sample in enumerate(points):
            used |= self._draw_points(i, sample)
            if heat is None:
                self._title(sample)
            elif "real" in sample.extra:  # a GAN: say what is what
                self.plot.getPlotItem().setTitle(
                    f"Fakes (orange), data (grey), D's belief · epoch {sample.epoch + 1}",
                    color=theme.current().text, size="9pt")
        for name, item in self._scatters.items():
            if name not in used and item.data.size:
                item.setData([], [])
        if fresh:
            if bounds is not None:
                self.plot.getPlotItem().setRange(xRange=bounds[:2], yRange=bounds[2:],
                                                 padding=0)
            else:
                self.plot.getPlotItem().autoRange()

    def _set_points(self, name: str, data: np.ndarray, z: int, **style) -> str:
        """One scatter item per colour (pyqtgraph's fast path), fed only when it changed."""
        item = self._scatter(name, z)
        key = (data.shape, data.tobytes())
        if self._keys.get(name) != key:
            self._keys[name] = key
            item.setData(data[:, 0], data[:, 1], **style)
        return name

    def _draw_points(self, i: int, sample) -> set[str]:
        data = np.asarray(sample.data, dtype=np.float32).reshape(-1, 2)
        if "real" in sample.extra:  # GAN: the data in grey under the generated points
            real = np.asarray(sample.extra["real"], dtype=np.float32).reshape(-1, 2)
            return {self._set_points("real", real, 1, size=4, pen=None,
                                     brush=pg.mkBrush(150, 150, 150, 110)),
                    self._set_points(sample.name, data, 2, size=5, pen=None,
                                     brush=pg.mkBrush(242, 142, 43, 220))}
        if sample.labels is None:
            return {self._set_points(sample.name, data, 2, size=5, pen=None,
                                     brush=pg.mkBrush(series_color(i)))}
        labels = np.asarray(sample.labels).astype(np.int64)
        colors = class_colors(int(labels.max()) + 1 if len(labels) else 1)
        edge = pg.mkPen(theme.current().window, width=0.8)
        used = set()
        for k in range(len(colors)):
            used.add(self._set_points(f"{sample.name}#{k}", data[labels == k], 2, size=6,
                                      pen=edge, brush=pg.mkBrush(*colors[k])))
        predicted = sample.extra.get("predicted")
        if predicted is not None:  # wrong answers crossed out
            wrong = data[np.asarray(predicted).astype(np.int64) != labels]
            used.add(self._set_points(f"{sample.name}:wrong", wrong, 3, size=7, symbol="x",
                                      pen=None, brush=pg.mkBrush(theme.current().text)))
        return used

    def _draw_images(self, sample) -> None:
        self.setCurrentWidget(self.panel)
        self.panel.set_empty(False)
        fresh = self._switch("images")
        for item in self._scatters.values():
            item.setData([], [])
        self._keys.clear()
        data = np.asarray(sample.data, dtype=np.float32)[:64]
        correct = sample.extra.get("correct")
        borders = None
        if correct is not None:
            borders = [None if ok else (225, 87, 89) for ok in np.asarray(correct)[:len(data)]]
        picture = mosaic(data, borders=borders)
        self.image.setImage(picture, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(0, 0, picture.shape[1], picture.shape[0]))
        self._title(sample)
        if sample.labels is not None and correct is not None:
            wrong = int(len(borders) - sum(b is None for b in borders))
            self.plot.getPlotItem().setTitle(
                f"{sample.name.capitalize()} · epoch {sample.epoch + 1} · "
                f"{wrong} of {len(borders)} wrong (red)", color=theme.current().text,
                size="9pt")
        if fresh:
            self.plot.getPlotItem().autoRange(padding=0.02)

    def _draw_text(self, samples) -> None:
        self._switch("text")
        self.setCurrentWidget(self.text)
        lines = []
        for s in samples:
            lines.append(f"— {s.name}, epoch {s.epoch + 1} —")
            lines += [str(t) for t in s.data]
            lines.append("")
        self.text.setPlainText("\n".join(lines))
