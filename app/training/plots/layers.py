"""Per-layer pictures: gradient norms now (bars from input to output: the vanishing or
exploding gradient) and over time, activation mean ± std, and the share of dead ReLU units.

Layers are the canvas node ids the runtime reports, in the network's order."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from app import theme
from app.training.plots.style import (
    Panel,
    PowerAxis,
    RangeKeeper,
    bounds,
    heat_rgb,
    live_curve,
    plot_widget,
    series_color,
)
from app.training.series import RunSeries

__all__ = ["GradientBars", "GradientHistory", "ActivationPanel", "DeadPanel", "layer_labels",
           "log_scale"]

TINY = 1e-12  # a zero norm is drawn at this height on the log axis


def layer_labels(per_net: dict[str, dict[str, float]]) -> list[tuple[str, str, str]]:
    """(network, layer, label) in network order, then layer order; the network is named in
    the label only when a layer id appears in several networks."""
    rows = [(net, layer) for net, values in per_net.items() for layer in values]
    ids = [layer for _, layer in rows]
    return [(net, layer, f"{net}.{layer}" if ids.count(layer) > 1 else layer)
            for net, layer in rows]


def log_scale(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(log10 values, low, high) with zeros clamped; low/high span at least one decade."""
    logs = np.log10(np.maximum(values, TINY)) if len(values) else np.zeros(0)
    finite = logs[np.isfinite(logs)]
    if not len(finite):
        return logs, -1.0, 0.0
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1.0:
        mid = (high + low) / 2
        low, high = mid - 0.5, mid + 0.5
    return logs, low, high


CHAR_PX = 6.5  # the axis font's average character width


def elide(label: str, chars: int) -> str:
    """``label`` in at most ``chars`` characters, its middle dropped; more of the start than
    of the end, which names the layer ("block3.conv_b" → "block…_b", "encoder" → "enc…r")."""
    if len(label) <= chars:
        return label
    head = -(-2 * (chars - 1) // 3)
    return f"{label[:head]}…{label[len(label) - (chars - 1 - head):]}"


def _ticks(plot, labels: list[str]) -> None:
    """A name under every bar, shortened to the bar's share of the width; only where even 3
    characters do not fit is every other (third…) bar named."""
    width = max(1, plot.width() - 60)  # less the value axis
    chars = int((width / max(1, len(labels)) - 6) / CHAR_PX)
    every = 1 if chars >= 3 else math.ceil(len(labels) * (3 * CHAR_PX + 6) / width)
    ticks = [(i, elide(s, max(chars, 3))) for i, s in enumerate(labels) if i % every == 0]
    plot.getPlotItem().getAxis("bottom").setTicks([ticks, []])


class GradientBars(Panel):
    """‖∇W‖ of each layer at the last report, input on the left, output on the right."""

    min_interval = 0.1  # seconds between redraws (the dock asks)

    def __init__(self, parent=None):
        plot = plot_widget("Gradient norm per layer", "", x_label="",
                           axis_items={"left": PowerAxis("left")})
        super().__init__(plot, "The gradient norm of every layer with weights appears here: "
                               "small bars near the input mean a vanishing gradient.", parent)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, y0=0)
        plot.addItem(self.bars)
        plot.getPlotItem().getViewBox().setMouseEnabled(x=False, y=False)
        self._labels: list[str] = []
        self._values: list[pg.TextItem] = []
        self._seen = -1
        self._y = None
        self.norms: dict[str, float] = {}  # label → norm shown (tests, tooltips)

    def reset(self) -> None:
        self.bars.setOpts(x=[], height=[], y0=0)
        for item in self._values:
            item.setText("")
        self._labels = []
        _ticks(self.plot, [])  # no names of the last run's layers under no bars
        self.norms = {}
        self._seen = -1
        self._y = None
        self.set_empty(True)

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("grad") == self._seen:
            return
        self._seen = series.stamp("grad")
        rows = layer_labels(series.grad_now)
        if not rows:
            self.set_empty(True)
            return
        self.set_empty(False)
        values = np.array([series.grad_now[net][layer] for net, layer, _ in rows], dtype=float)
        logs, low, high = log_scale(values)
        base = math.floor(low) - 0.25
        logs = np.where(np.isfinite(logs), logs, high)  # NaN or inf: drawn full height
        t = (logs - low) / (high - low)
        brushes = [pg.mkBrush(*c) for c in heat_rgb(t)]
        x = np.arange(len(rows))
        self.bars.setOpts(x=x, height=logs - base, y0=base, brushes=brushes, pen=None)
        labels = [label for _, _, label in rows]
        self.norms = dict(zip(labels, values.tolist()))
        if labels != self._labels:
            self._labels = labels
            _ticks(self.plot, labels)
            self.plot.getPlotItem().setXRange(-0.6, len(labels) - 0.4, padding=0)
        top = math.ceil(high * 2) / 2 + 0.35  # in half decades: the axis rarely redraws
        if (base, top) != self._y:
            self._y = (base, top)
            self.plot.getPlotItem().setYRange(base, top, padding=0)
        show = len(rows) <= 12
        while show and len(self._values) < len(rows):
            item = pg.TextItem("", color=theme.current().dim, anchor=(0.5, 1.0))
            self.plot.addItem(item, ignoreBounds=True)
            self._values.append(item)
        for i, item in enumerate(self._values):
            if show and i < len(rows):
                item.setText(f"{values[i]:.2g}")
                item.setPos(i, logs[i] + 0.02)
            else:
                item.setText("")

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self._labels:
            _ticks(self.plot, self._labels)


class LayerCurves(Panel):
    """One live curve per (network, layer): the base of the per-layer history panels."""

    min_interval = 0.2  # seconds between redraws (the dock asks)

    def __init__(self, plot, hint: str, range_keeper, parent=None):
        super().__init__(plot, hint, parent)
        self._curves: dict[tuple[str, str], object] = {}
        self._seen = -1
        self.range = range_keeper

    def reset(self) -> None:
        self.range.reset()
        item = self.plot.getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.clear()
        self._curves.clear()
        self._seen = -1
        self.set_empty(True)

    def _curve(self, key: tuple[str, str], color, label: str | None):
        item = self._curves.get(key)
        if item is None:
            item = self._curves[key] = live_curve(self.plot, color, 1.6, name=label)
        return item


class GradientHistory(LayerCurves):
    """‖∇W‖ of each layer over the steps (log scale), coloured from input to output."""

    def __init__(self, parent=None):
        plot = plot_widget("Gradient norm over time", "", legend=True,
                           axis_items={"left": PowerAxis("left")})
        super().__init__(plot, "Each layer's gradient norm over the steps.", RangeKeeper(plot),
                         parent)

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("grad") == self._seen:
            return
        self._seen = series.stamp("grad")
        rows = layer_labels(series.grad)
        n = len(rows)
        for i, (net, layer, label) in enumerate(rows):
            curve = series.grad[net][layer]
            r, g, b, _ = heat_rgb(0.3 + 0.7 * i / max(1, n - 1))  # bright: thin lines
            item = self._curve((net, layer), pg.mkColor(int(r), int(g), int(b)),
                               label if n <= 10 else None)
            item.setData(curve.x, np.log10(np.maximum(curve.y, TINY)))  # PowerAxis reads it
        y = bounds([np.log10(np.maximum(series.grad[n][layer].y, TINY)) for n, layer, _ in rows])
        self.range.fit((0.0, float(series.step)), y)
        self.set_empty(not rows)


class ActivationPanel(Panel):
    """Mean ± standard deviation of each layer's output at the last report."""

    min_interval = 0.2  # seconds between redraws (the dock asks)

    def __init__(self, parent=None):
        plot = plot_widget("Activation mean ± std", "", x_label="")
        super().__init__(plot, "Mean and spread of every layer's output.", parent)
        color = series_color(0)
        self.bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0),
                                    beam=0.25, pen=pg.mkPen(color, width=2))
        self.dots = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(color), pen=None)
        plot.addItem(self.bars)
        plot.addItem(self.dots)
        self.range = RangeKeeper(plot, x_from_zero=False, exact_x=True)
        self._labels: list[str] = []
        self._seen = -1

    def reset(self) -> None:
        self.bars.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
        self.dots.setData([], [])
        self._labels = []
        _ticks(self.plot, [])
        self._seen = -1
        self.range.reset()
        self.set_empty(True)

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("act") == self._seen:
            return
        self._seen = series.stamp("act")
        means = {net: mean for net, (mean, _, _) in series.act_now.items()}
        rows = layer_labels(means)
        if not rows:
            self.set_empty(True)
            return
        self.set_empty(False)
        x = np.arange(len(rows), dtype=float)
        mean = np.array([series.act_now[n][0][layer] for n, layer, _ in rows], dtype=float)
        std = np.array([series.act_now[n][1].get(layer, 0.0) for n, layer, _ in rows], float)
        self.bars.setData(x=x, y=mean, height=2 * std)
        self.dots.setData(x, mean)
        labels = [label for _, _, label in rows]
        if labels != self._labels:
            self._labels = labels
            _ticks(self.plot, labels)
        self.range.fit((-0.6, len(labels) - 0.4), bounds([mean - std, mean + std]))

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self._labels:
            _ticks(self.plot, self._labels)


class DeadPanel(LayerCurves):
    """The share of each ReLU layer's units that output 0 for a whole batch."""

    def __init__(self, parent=None):
        plot = plot_widget("Dead ReLU units", "fraction", legend=True)
        super().__init__(plot, "The share of dead units of each ReLU layer (none yet).",
                         RangeKeeper(plot, y_zero=True), parent)

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("act") == self._seen:
            return
        self._seen = series.stamp("act")
        rows = layer_labels(series.dead)
        for i, (net, layer, label) in enumerate(rows):
            curve = series.dead[net][layer]
            item = self._curve((net, layer), series_color(i),
                               label if len(rows) <= 10 else None)
            item.setData(curve.x, curve.y)
        self.range.fit((0.0, float(series.step)), (0.0, 1.0) if rows else None)
        self.set_empty(not rows, "This network has no ReLU layers to watch."
                       if series.act_now else None)
