"""Shared looks of the training plots: themed plot widgets, series colours, the heat colour
scale (also used to colour the canvas), and curves set up for long live histories."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QGridLayout, QLabel, QWidget

from app import theme

__all__ = ["SERIES", "series_color", "class_colors", "HEAT", "heat_rgb", "plot_widget",
           "place_legend", "live_curve", "style_plot", "PowerAxis", "Panel", "RangeKeeper",
           "nice_ceil", "bounds"]

# Distinct colours for curves and classes (Tableau 10, readable on dark and light).
SERIES = ("#4e9bf5", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948",
          "#ff9da7", "#9c755f", "#bab0ac")

HEAT = pg.colormap.get("plasma")  # dark violet (small) → yellow (large); one scale everywhere


def series_color(i: int) -> QColor:
    return QColor(SERIES[i % len(SERIES)])


def class_colors(n: int) -> np.ndarray:
    """[n, 3] uint8 colours, one per class."""
    return np.array([QColor(SERIES[i % len(SERIES)]).getRgb()[:3] for i in range(n)],
                    dtype=np.uint8)


def heat_rgb(t: np.ndarray | float) -> np.ndarray:
    """Heat-scale colours (uint8 RGBA) for values in [0, 1]."""
    t = np.asarray(t, dtype=float)
    t = np.clip(np.where(np.isfinite(t), t, 1.0), 0.0, 1.0)  # NaN/inf: an exploded gradient
    return HEAT.map(0.08 + 0.9 * t, mode="byte")  # skip the darkest end: bars stay visible


class PowerAxis(pg.AxisItem):
    """An axis whose coordinates are log10 of the value: ticks at whole decades read 0.001,
    0.01, 1, 1e+05…; within less than a decade, a few values in between."""

    def tickValues(self, minVal, maxVal, size):
        decades = [v for v in range(math.floor(minVal), math.ceil(maxVal) + 1)
                   if minVal <= v <= maxVal]
        if len(decades) < 2:
            return super().tickValues(minVal, maxVal, size)
        every = max(1, math.ceil(len(decades) / max(2, size / 40)))
        return [(1.0, decades[::every]), (0.0, [])]

    def tickStrings(self, values, scale, spacing):
        return [f"{10 ** v:.2g}" for v in values]


def style_plot(widget: pg.PlotWidget) -> None:
    t = theme.current()
    widget.setBackground(t.base)
    item = widget.getPlotItem()
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(t.node_border))
        axis.setTextPen(pg.mkPen(t.dim))
    item.titleLabel.setAttr("color", t.text)
    if item.titleLabel.text:
        item.setTitle(item.titleLabel.text, color=t.text, size="9pt")
    if item.legend is not None:
        back = QColor(t.base)
        back.setAlpha(200)
        item.legend.setBrush(back)
        item.legend.setLabelTextColor(t.dim)


def plot_widget(title: str, y_label: str = "", x_label: str = "step", grid: bool = True,
                axis_items: dict | None = None,
                legend: bool | tuple[int, int] = False) -> pg.PlotWidget:
    """A themed plot; ``legend``: True (top right) or an offset ((-6, -6): bottom right)."""
    widget = pg.PlotWidget(axisItems=axis_items)
    item = widget.getPlotItem()
    item.setTitle(title, size="9pt")
    if y_label:
        item.setLabel("left", y_label)
    if x_label:
        item.setLabel("bottom", x_label)
    if grid:
        item.showGrid(x=True, y=True, alpha=0.15)
    item.setMenuEnabled(True)  # right-click ▸ Export… (PNG, SVG, CSV) comes with pyqtgraph
    item.getViewBox().setMouseMode(pg.ViewBox.RectMode)
    # Axes and title are text, slow to lay out on every frame: each is cached as a pixmap
    # and redrawn only when its range changes (RangeKeeper makes that rare).
    for name in ("left", "bottom"):
        item.getAxis(name).setCacheMode(QGraphicsItem.DeviceCoordinateCache)
    item.titleLabel.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
    widget.setMinimumSize(120, 120)
    if legend:
        t = theme.current()
        back = QColor(t.base)
        back.setAlpha(200)
        item.addLegend(offset=legend if isinstance(legend, tuple) else (-6, 6),
                       labelTextSize="8pt", verSpacing=-6, brush=back,
                       labelTextColor=t.dim)
    style_plot(widget)
    return widget


def live_curve(plot: pg.PlotWidget, color: QColor | str, width: float = 1.5, name=None,
               style=None, alpha: int = 255, symbol: str | None = None) -> pg.PlotDataItem:
    """A curve set up for histories of any length: peak downsampling, clipped to the view."""
    c = QColor(color)
    c.setAlpha(alpha)
    pen = pg.mkPen(c, width=width, style=style) if style is not None \
        else pg.mkPen(c, width=width)
    kwargs = {"symbol": symbol, "symbolSize": 5, "symbolBrush": c, "symbolPen": None} \
        if symbol else {}
    curve = plot.plot([], [], pen=pen, name=name, **kwargs)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    curve.setSkipFiniteCheck(False)
    return curve


class Panel(QWidget):
    """A plot with a grey sentence over it while it has nothing to show."""

    def __init__(self, plot: QWidget, hint: str = "", parent=None):
        super().__init__(parent)
        self.plot = plot
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(plot, 0, 0)
        self.hint = QLabel(hint)
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setProperty("role", "dim")
        self.hint.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.hint.setContentsMargins(24, 24, 24, 24)
        grid.addWidget(self.hint, 0, 0)
        self.hint.setVisible(bool(hint))

        self.empty_text = hint

    def set_empty(self, empty: bool, text: str | None = None) -> None:
        """Show the hint (``text``, or the panel's own sentence) while there is no data."""
        text = self.empty_text if text is None else text
        if empty and text != self.hint.text():
            self.hint.setText(text)
        self.hint.setVisible(empty and bool(text))


NICE = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def nice_ceil(v: float, steps=NICE) -> float:
    """The smallest m × 10^k at least ``v`` (v > 0), m from ``steps`` (1, 1.2, 1.5, 2…)."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    k = math.floor(math.log10(v))
    for m in steps:
        if m * 10 ** k >= v * (1 - 1e-12):
            return m * 10.0 ** k
    return 10.0 ** (k + 1)


def bounds(arrays) -> tuple[float, float] | None:
    """(min, max) of the finite values of several arrays, or None."""
    lo, hi = math.inf, -math.inf
    for a in arrays:
        a = np.asarray(a, dtype=float)
        if not len(a):
            continue
        finite = a[np.isfinite(a)]
        if len(finite):
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else None


class RangeKeeper:
    """Keeps a live plot's range in steps (1-2-5 numbers with some head-room) instead of
    re-fitting it on every frame, so the cached axes are redrawn only now and then.  A user's
    zoom or pan stops the following; pyqtgraph's "A" button brings it back."""

    def __init__(self, plot: pg.PlotWidget, x_from_zero: bool = True, y_zero: bool = False,
                 exact_x: bool = False):
        self.vb = plot.getPlotItem().getViewBox()
        self.vb.disableAutoRange()
        self.x_from_zero, self.y_zero, self.exact_x = x_from_zero, y_zero, exact_x
        self._applied = None
        self.follow = True
        self.tight = False  # x ends at the data (a finished run), not at the next round step
        self._last: tuple | None = None
        self.x: tuple[float, float] | None = None
        self.y: tuple[float, float] | None = None
        self._setting = False
        self.vb.sigRangeChangedManually.connect(self._manual)
        self.vb.sigStateChanged.connect(self._state)

    def _manual(self, *_):
        self.follow = False

    def _state(self, *_):
        if not self._setting and any(self.vb.state["autoRange"]):
            self.vb.disableAutoRange()
            self.reset()

    def reset(self) -> None:
        self.follow, self.x, self.y, self._applied = True, None, None, None
        self.tight, self._last = False, None

    def set_tight(self, on: bool) -> None:
        """Fit x to the data exactly (the run ended) or in round steps (it grows)."""
        self.tight = on
        self.x = None
        if self._last is not None:
            self.fit(*self._last)

    def fit(self, x: tuple[float, float] | None, y: tuple[float, float] | None,
            log_y: bool = False) -> None:
        if not self.follow or x is None or y is None:
            return
        self._last = (x, y, log_y)
        x_lo = 0.0 if self.x_from_zero else x[0]
        if self.exact_x:
            self.x = x
        elif self.tight:
            self.x = (x_lo, max(x[1], x_lo + 1e-9))
        elif self.x is None or x[1] > self.x[1] or x_lo != self.x[0] or x[1] < self.x[1] / 4:
            span = max(x[1] - x_lo, 1e-9)
            self.x = (x_lo, x_lo + nice_ceil(span * 1.05))
        lo, hi = y
        if log_y:
            lo, hi = math.log10(max(lo, 1e-30)), math.log10(max(hi, 1e-30))
        if self.y_zero and not log_y:
            lo = min(0.0, lo)
        span = max(hi - lo, abs(hi) * 0.1, 1e-9)
        inside = self.y is not None and self.y[0] <= lo and hi <= self.y[1]
        if not inside or span < (self.y[1] - self.y[0]) * 0.4:
            step = nice_ceil(span / 4, (1, 2, 5, 10))
            self.y = (math.floor(lo / step) * step - (0 if self.y_zero and lo >= 0 else step / 4),
                      math.ceil(hi / step) * step + step / 4)
        if (self.x, self.y) == self._applied:
            return
        self._applied = (self.x, self.y)
        self._setting = True
        try:
            self.vb.setRange(xRange=self.x, yRange=self.y, padding=0)
        finally:
            self._setting = False


# A legend's corner (right?, top?) and its offset from the plot's edges there.
CORNERS = {(1, 1): (-6, 6), (1, 0): (-6, -6), (0, 1): (6, 6), (0, 0): (6, -6)}


def place_legend(plot: pg.PlotWidget, curves: list[tuple[np.ndarray, np.ndarray]],
                 now: tuple[int, int]) -> tuple[int, int]:
    """The corner (right?, top?) for the plot's legend that its curves cross least, the
    legend moved there; the corner ``now`` stays unless another is emptier."""
    item = plot.getPlotItem()
    legend = item.legend
    if legend is None or not legend.items or not curves:
        return now
    (x0, x1), (y0, y1) = item.vb.viewRange()
    box = item.vb.mapSceneToView(legend.sceneBoundingRect()).boundingRect()
    w = min(1.0, abs(box.width()) / max(1e-12, x1 - x0) + 0.04)
    h = min(1.0, abs(box.height()) / max(1e-12, y1 - y0) + 0.04)
    fx = np.concatenate([(x - x0) / max(1e-12, x1 - x0) for x, _ in curves])
    fy = np.concatenate([(y - y0) / max(1e-12, y1 - y0) for _, y in curves])
    crossed = {}
    for right, top in CORNERS:  # the view's y grows upwards
        in_x = fx >= 1 - w if right else fx <= w
        in_y = fy >= 1 - h if top else fy <= h
        crossed[(right, top)] = int(np.count_nonzero(in_x & in_y))
    best = min(crossed, key=lambda c: (crossed[c], c != now))
    if best == now or crossed[best] >= crossed[now]:
        return now
    anchor = (best[0], 1 - best[1])  # the legend's own coordinates: y grows downwards
    legend.anchor(itemPos=anchor, parentPos=anchor, offset=CORNERS[best])
    return best
