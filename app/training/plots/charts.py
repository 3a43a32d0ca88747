"""Pictures that are charts, not data space: a curve (a fit, a metric's whole history), bars
(one value per unit or class, against a reference), histograms (one outline per group), and
text samples.  Each is fed only when its sample changed."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

from app import theme
from app.training.plots.captions import FittedTitle, LabelAxis, SideLegend
from app.training.plots.live_settings import LiveSettings
from app.training.plots.style import class_colors, live_curve, plot_widget, series_color

__all__ = ["CurveView", "BarsView", "HistogramView", "TextView", "reference_text"]

SHORT_NAME = 4  # bars named by at most this many characters stand upright, named below


def reference_text(name: str, value: float) -> str:
    """The level line's label: "ρ = 0.05" for a view named "unit activation vs ρ"."""
    symbol = name.rsplit(" vs ", 1)[1].strip() if " vs " in name else "reference"
    return f"{symbol} = {value:.3g}"


class _Chart:
    """What the chart views share: the heading, and drawing a sample only once."""

    title: FittedTitle
    _drawn = None

    def _take(self, view, heading: list[str]) -> tuple:
        """(the view's sample, or None when it is drawn already; whether it is another
        view than the one drawn, so the range should be fitted anew)."""
        self.title.set(*heading)
        sample = view.samples[0]
        if sample is self._drawn:
            return None, False
        fresh = self._drawn is None or self._drawn.name != sample.name
        self._drawn = sample
        return sample, fresh


class CurveView(_Chart):
    """[N, 2] of x, y as a line (dots on it while they are few), ``extra["points"]`` as grey
    dots under it (the data a fit follows), the axes named by ``x_label`` / ``y_label``.
    ``extra["series"]`` ({name: [M, 2]}): more lines in their own colours, named in a legend
    beside the plot with the first line (``extra["name"]``); NaN rows break a line."""

    def __init__(self, title: str):
        self.plot = plot_widget(title, "", x_label="")
        self.widget = self.plot
        self.title = FittedTitle(self.plot)
        self.legend = SideLegend(self.plot)
        self.plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)"
        self.dots = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(150, 150, 150, 140))
        self.plot.addItem(self.dots)
        self.curve = live_curve(self.plot, series_color(0), width=2)
        self.series: list[pg.PlotDataItem] = []
        self._drawn = None

    def clear(self, title: str) -> None:
        for curve in (self.curve, *self.series):
            curve.setData([], [])
        self.legend.set([])
        self.dots.setData([], [])
        self._drawn = None
        self.title.set(title)

    @staticmethod
    def _line(curve, data, color) -> None:
        data = np.asarray(data, dtype=np.float64).reshape(-1, 2)
        few = np.isfinite(data[:, 1]).sum() <= 50
        curve.setData(data[:, 0], data[:, 1], connect="finite", symbol="o" if few else None,
                      symbolSize=5, symbolPen=None, symbolBrush=color)

    def show(self, view, heading: list[str]) -> None:
        sample, fresh = self._take(view, heading)
        if sample is None:
            return
        self._line(self.curve, sample.data, series_color(0))
        series = sample.extra.get("series") or {}
        while len(self.series) < len(series):
            self.series.append(live_curve(self.plot, series_color(len(self.series) + 1),
                                          width=2))
        for i, (curve, data) in enumerate(zip(self.series, series.values())):
            self._line(curve, data, series_color(i + 1))
        for curve in self.series[len(series):]:
            curve.setData([], [])
        names = [sample.extra.get("name", "data"), *series]
        self.legend.set([(c, html.escape(str(n))) for c, n in
                         zip((self.curve, *self.series), names)] if series else [])
        points = sample.extra.get("points")
        if points is None:
            self.dots.setData([], [])
        else:
            points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            self.dots.setData(points[:, 0], points[:, 1])
        item = self.plot.getPlotItem()
        item.setLabel("bottom", sample.extra.get("x_label", ""))
        item.setLabel("left", sample.extra.get("y_label", ""))
        if fresh:
            item.getViewBox().enableAutoRange()


class BarsView(_Chart):
    """[K] values as bars, every one named by ``labels`` on its axis: upright and named
    below while the names are short, else lying and named on the left, where a name of any
    length reads level (names that would overlap are thinned out, never drawn over each
    other).  ``extra["reference"]``: a dashed level line, its value written on the axis
    across from the values' one, outside the bars."""

    def __init__(self, title: str):
        self.axes = {side: LabelAxis(side) for side in ("bottom", "left", "top", "right")}
        self.plot = plot_widget(title, "", x_label="", axis_items=self.axes)
        self.widget = self.plot
        self.title = FittedTitle(self.plot)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, pen=None,
                                    brush=series_color(0))
        self.plot.addItem(self.bars)
        self.line = pg.InfiniteLine(angle=0)
        self.line.setZValue(5)
        self.plot.addItem(self.line, ignoreBounds=True)
        self.line.hide()
        self.values = np.zeros(0)
        self.names: list[str] = []
        self.upright = True
        self._drawn = None

    def clear(self, title: str) -> None:
        self.bars.setOpts(x=[], height=[], y=None, x0=None, y0=None, width=0.7)
        for axis in self.axes.values():
            axis.set_names([])
        self._show_reference(None, "")
        self.values, self.names, self._drawn = np.zeros(0), [], None
        self.title.set(title)

    def show(self, view, heading: list[str]) -> None:
        sample, _ = self._take(view, heading)
        if sample is None:
            return
        values = np.nan_to_num(np.asarray(sample.data, dtype=np.float64).reshape(-1))
        self.names = [str(n) for n in (sample.labels if sample.labels is not None
                                       else range(len(values)))][:len(values)]
        self.values = values
        self.upright = max((len(n) for n in self.names), default=0) <= SHORT_NAME
        at = np.arange(len(values))
        if self.upright:
            self.bars.setOpts(x=at, height=values, width=0.7, y=None, y0=0, x0=None)
        else:  # lying bars, the first at the top
            at = at[::-1]
            self.bars.setOpts(y=at, width=values, height=0.7, x0=0, x=None, y0=None)
        names_axis, value_axis = ("bottom", "left") if self.upright else ("left", "bottom")
        self.axes[names_axis].set_names(self.names, at)
        self.axes[value_axis].set_names([])
        item = self.plot.getPlotItem()
        item.showGrid(x=not self.upright, y=self.upright, alpha=0.15)
        reference = sample.extra.get("reference")
        self._show_reference(None if reference is None else float(reference), sample.name)
        lo, hi = min(0.0, float(values.min(initial=0))), float(values.max(initial=0))
        hi = max(hi, float(reference)) if reference is not None else hi
        span = (lo, hi * 1.12 + (1e-9 if hi == lo else 0))
        names_span = (-0.6, len(values) - 0.4)
        vb = item.getViewBox()
        if self.upright:
            vb.setRange(xRange=names_span, yRange=span, padding=0)
        else:
            vb.setRange(xRange=span, yRange=names_span, padding=0)

    def _show_reference(self, value: float | None, name: str) -> None:
        item = self.plot.getPlotItem()
        across = "right" if self.upright else "top"
        for side in ("right", "top"):
            item.showAxis(side, value is not None and side == across)
        self.line.setVisible(value is not None)
        if value is None:
            return
        color = theme.current().warning
        self.line.setPen(pg.mkPen(color, width=1.5, style=Qt.DashLine))
        self.line.setAngle(0 if self.upright else 90)
        self.line.setValue(value)
        axis = self.axes[across]
        axis.setTextPen(pg.mkPen(color))
        axis.set_names([reference_text(name, value)], [value])


class HistogramView(_Chart):
    """One step outline per group (``data`` a list of arrays, ``labels`` their names) over
    shared bins, each as a share of its group so groups of any size compare; the group
    ``extra["highlight"]`` names is thicker and filled.  The legend sits beside the plot,
    never on the outlines.  The last bin also holds the far tail (past the 99.5th
    percentile of any group), so one outlier does not squash the rest to a spike."""

    def __init__(self, title: str):
        self.plot = plot_widget(title, "share of the group", x_label="")
        self.widget = self.plot
        self.title = FittedTitle(self.plot)
        self.legend = SideLegend(self.plot)
        self.plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.curves: list[pg.PlotDataItem] = []
        self.edges = np.zeros(0)
        self.shares: list[np.ndarray] = []
        self._drawn = None

    def clear(self, title: str) -> None:
        for c in self.curves:
            c.setData([], [])
        self.legend.set([])
        self.edges, self.shares, self._drawn = np.zeros(0), [], None
        self.title.set(title)

    def show(self, view, heading: list[str]) -> None:
        sample, fresh = self._take(view, heading)
        if sample is None:
            return
        groups = [np.asarray(g, dtype=np.float64).reshape(-1) for g in sample.data]
        groups = [g[np.isfinite(g)] for g in groups]
        names = [str(n) for n in sample.labels] if sample.labels is not None else \
            [f"group {i + 1}" for i in range(len(groups))]
        every = np.concatenate(groups) if groups else np.zeros(0)
        lo, hi = (float(every.min()), max(float(np.percentile(g, 99.5))
                                          for g in groups if g.size)) if every.size \
            else (0.0, 1.0)
        bins = int(np.clip(np.sqrt(every.size), 10, 40))
        self.edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        highlight = sample.extra.get("highlight")
        colors = class_colors(len(groups))
        while len(self.curves) < len(groups):
            self.curves.append(self.plot.plot([], []))
        self.shares, entries = [], []
        for i, (g, curve) in enumerate(zip(groups, self.curves)):
            counts = np.histogram(np.clip(g, lo, self.edges[-1]), self.edges)[0]
            share = counts / max(1, len(g))
            self.shares.append(share)
            color = QColor(*colors[i])
            stands_out = highlight is not None and i == int(highlight)
            if not stands_out and highlight is not None:
                color.setAlpha(150)
            fill = QColor(color)
            fill.setAlpha(60)
            curve.setData(self.edges, share, stepMode="center",
                          pen=pg.mkPen(color, width=3 if stands_out else 1.4),
                          fillLevel=0 if stands_out else None,
                          brush=fill if stands_out else None)
            curve.setZValue(2 if stands_out else 1)
            name = html.escape(names[i] if i < len(names) else f"group {i + 1}")
            entries.append((curve, f"<b>{name}</b>" if stands_out else name))
        for curve in self.curves[len(groups):]:
            curve.setData([], [])
        self.legend.set(entries)
        if fresh:
            self.plot.getPlotItem().getViewBox().enableAutoRange()


class _TextPage(QWidget):
    """The text under a row of the run's live settings; reads like the text box it holds."""

    def __init__(self):
        super().__init__()
        self.settings = LiveSettings()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.Monospace)
        self.text.setFont(mono)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.settings)
        lay.addWidget(self.text, 1)

    def toPlainText(self) -> str:
        return self.text.toPlainText()


class TextView:
    """Text samples (a list of strings) under a heading, ✓/✗ before each line when
    ``extra["correct"]`` says which are right; samples that span lines (a language model's
    writing) are set apart by a blank line.  ``extra["live"]``: spin boxes for the run's live
    settings (the temperature of the next samples), whose changes ``setting_changed``
    emits as (name, value)."""

    plot = None

    def __init__(self, title: str):
        self.widget = _TextPage()
        self.setting_changed = self.widget.settings.changed

    def clear(self, title: str) -> None:
        self.widget.text.clear()
        self.widget.settings.clear()

    def show(self, view, heading: list[str]) -> None:
        sample = view.samples[0]
        self.widget.settings.follow(sample.extra.get("live") or {})
        correct = sample.extra.get("correct")
        lines = [f"— {' · '.join(heading)} —"]
        apart = any("\n" in str(t) for t in sample.data)
        for i, t in enumerate(sample.data):
            marked = str(t).startswith(("✓", "✗"))  # the recipe's line says it already
            mark = "" if correct is None or i >= len(correct) or marked else \
                ("✓ " if correct[i] else "✗ ")
            lines.append(("\n" if apart else "") + f"{mark}{t}")
        text = "\n".join(lines)
        if text != self.widget.text.toPlainText():
            self.widget.text.setPlainText(text)
