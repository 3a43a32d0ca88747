"""Loss and metric curves (per step and per epoch, train and validation), and the learning
rate.  Curves are created the first time a metric appears and then only fed with setData."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app import theme
from app.training.plots.style import (
    Panel,
    RangeKeeper,
    bounds,
    live_curve,
    place_legend,
    plot_widget,
    series_color,
)
from app.training.series import RunSeries, ema

__all__ = ["MetricsPanel", "LearningRatePanel"]


class _Smoothed:
    """The raw per-step curve (faint) and its moving average (strong), kept incrementally."""

    def __init__(self, plot, color, name: str):
        # Long per-step curves are drawn 1 px wide: wider lines go through QPainter's
        # stroker, several times slower on a raster surface.
        self.raw = live_curve(plot, color, 1.0, alpha=70)
        self.smooth = live_curve(plot, color.lighter(115), 1.0, name=name)
        self._out: np.ndarray | None = None
        self._state = (0.0, 0.0)
        self._done = 0
        self._weight = -1.0

    def update(self, x: np.ndarray, y: np.ndarray, weight: float) -> None:
        if weight <= 0:
            self.raw.setData(x, y)
            self.raw.setPen(self.smooth.opts["pen"])
            self.smooth.setData([], [])
            self._weight = weight
            return
        if weight != self._weight or len(y) < self._done:
            self._out, self._state, self._done, self._weight = None, (0.0, 0.0), 0, weight
            faint = self.smooth.opts["pen"].color()
            faint.setAlpha(70)
            self.raw.setPen(faint, width=1.0)
        self._out, self._state = ema(y, weight, self._done, self._out, self._state)
        self._done = len(y)
        self.raw.setData(x, y)
        self.smooth.setData(x, self._out[: len(y)])


class MetricsPanel(Panel):
    """Losses (``which="loss"``) or the other metrics, against the step: each step's value
    (smoothed), the epoch's training mean and the validation value."""

    min_interval = 0.1  # metrics arrive ten times a second

    def __init__(self, which: str = "loss", parent=None):
        title = "Loss" if which == "loss" else "Metrics"
        # Losses fall and metrics mostly rise: each legend sits where its curves are not.
        super().__init__(plot_widget(title, "", legend=(-6, 6) if which == "loss" else (-6, -6)),
                         "The loss of every training step appears here." if which == "loss"
                         else "Accuracy and the recipe's other metrics appear here.", parent)
        self.which = which
        self.range = RangeKeeper(self.plot)
        self.smoothing = 0.6
        self.log = False
        self._steps: dict[str, _Smoothed] = {}
        self._epochs: dict[tuple[str, str], object] = {}
        self._styles: dict[str, object] = {}
        self._names: list[str] = []
        self._marks: list = []
        self._seen = (-1, None, None)
        self._corner = (1, 1) if which == "loss" else (1, 0)  # (right?, top?) of the legend

    def _legend_style(self, split: str, label: str, style) -> None:
        """A grey sample line in the legend for the epoch mean / validation line styles."""
        if split in self._styles:
            return
        grey = QColor(theme.current().dim)
        sample = pg.PlotDataItem([], [], pen=pg.mkPen(grey, width=2.0 if split == "val" else 1.0,
                                                       style=style),
                                 symbol="o" if split == "val" else None, symbolSize=5,
                                 symbolBrush=grey, symbolPen=None)
        self._styles[split] = (sample, label)
        self._styles_last()

    def _styles_last(self) -> None:
        """Metric rows first, then the line-style rows."""
        legend = self.plot.getPlotItem().legend
        for sample, _ in self._styles.values():
            legend.removeItem(sample)
        for sample, label in self._styles.values():
            legend.addItem(sample, label)
        legend.setColumnCount(2 if len(legend.items) > 3 else 1)

    def reset(self) -> None:
        self.plot.getPlotItem().clear()
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.clear()
            legend.setColumnCount(1)
        self._styles: dict[str, object] = {}
        self._steps.clear()
        self._epochs.clear()
        self._names.clear()
        self._marks.clear()
        self._seen = (-1, None, None)
        self.range.reset()
        self.set_empty(True)

    def set_log(self, on: bool) -> None:
        self.log = bool(on) and self.which == "loss"
        self.plot.getPlotItem().setLogMode(y=self.log)
        self._seen = (-1, None, None)
        self.range.reset()

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = float(weight)
        self._seen = (-1, None, None)

    def refresh(self, series: RunSeries) -> None:
        key = (series.stamp("steps", "epochs", "marks"), self.smoothing, self.log)
        if key == self._seen:
            return
        self._seen = key
        if self.which == "loss":
            self._add_marks(series)
        names = series.loss_names() if self.which == "loss" else series.metric_names()
        for name in names:
            if name not in self._names:
                self._names.append(name)
        plot = self.plot
        ys = []
        for i, name in enumerate(self._names):
            color = series_color(i)
            curve = series.steps.get(name)
            if curve is not None and len(curve):
                smoothed = self._steps.get(name)
                if smoothed is None:
                    smoothed = self._steps[name] = _Smoothed(plot, color, name)
                    self._styles_last()
                smoothed.update(curve.x, curve.y, self.smoothing)
                ys.append(curve.y)
            for split, style, label in (("train", Qt.DotLine, "epoch mean"),
                                        ("val", Qt.SolidLine, "validation")):
                curve = series.epochs.get((split, name))
                if curve is None or not len(curve):
                    continue
                item = self._epochs.get((split, name))
                if item is None:
                    light = color.lighter(140) if split == "val" else color
                    # One legend row per metric (its colour) and one per line style: a
                    # metric seen only in validation (d_accuracy) names its own line.
                    own = name if split == "val" and name not in series.steps else None
                    item = self._epochs[(split, name)] = live_curve(
                        plot, light, 2.0 if split == "val" else 1.0, own,
                        style=style, symbol="o" if split == "val" else None)
                    self._legend_style(split, label, style)
                item.setData(curve.x, curve.y)
                ys.append(curve.y)
        y = bounds(ys)
        if self.log and y is not None:
            y = bounds([a[a > 0] for a in ys])
        self.range.fit((0.0, float(series.step)), y, log_y=self.log)
        self.set_empty(not self._names)
        drawn = [c.getData() for c in self.plot.getPlotItem().listDataItems()]
        self._corner = place_legend(
            self.plot, [(x, np.log10(np.maximum(y, 1e-12)) if self.log else y)
                        for x, y in drawn if x is not None and len(x)], self._corner)


    def _add_marks(self, series: RunSeries) -> None:
        """A dashed vertical line where the run changed course: "lr 0.05" after a live
        change shows what the change did to the loss."""
        dim = QColor(theme.current().dim)
        for i, (step, label, tip) in enumerate(series.marks):
            if i == len(self._marks):
                line = pg.InfiniteLine(step, angle=90, movable=False,
                                       pen=pg.mkPen(dim, width=1, style=Qt.DashLine),
                                       label=label,
                                       labelOpts={"position": 0.88, "color": dim,
                                                  "anchors": [(0, 1), (0, 1)]})
                self.plot.addItem(line, ignoreBounds=True)
                self._marks.append(line)
            line = self._marks[i]
            if line.label.format != label:  # a mark that grew (merged at the same step)
                line.label.setFormat(label)
            line.setToolTip(tip)


class LearningRatePanel(Panel):
    min_interval = 0.2  # seconds between redraws (the dock asks)

    def __init__(self, parent=None):
        super().__init__(plot_widget("Learning rate", "", legend=(-6, -6)),
                         "The learning rate of each network, as its schedule moves it.", parent)
        self._curves: dict[str, object] = {}
        self._seen = -1
        self.range = RangeKeeper(self.plot, y_zero=True)

    def reset(self) -> None:
        self.range.reset()
        self.plot.getPlotItem().clear()
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.clear()
        self._curves.clear()
        self._seen = -1
        self.set_empty(True)

    def refresh(self, series: RunSeries) -> None:
        series.extend_lr()
        if series.stamp("lr") == self._seen:
            return
        self._seen = series.stamp("lr")
        for net, curve in series.lr.items():
            item = self._curves.get(net)
            if item is None:
                item = self._curves[net] = live_curve(self.plot, series_color(len(self._curves)),
                                                      2.0, name=net)
            item.setData(curve.x, curve.y)
        y = bounds([c.y for c in series.lr.values()])
        self.range.fit((0.0, float(series.step)), (0.0, y[1]) if y else None)
        self.set_empty(not self._curves)
