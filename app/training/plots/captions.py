"""Words on the pictures that must stay readable whatever the panel's size: axes that name
positions (bars, rows and columns of images), titles that shorten instead of being cut off
at the edges, and legends beside the data rather than on it."""

from __future__ import annotations

import html
import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPen
from PySide6.QtWidgets import QSizePolicy

from app import theme

__all__ = ["CAPTION_PT", "caption_font", "LabelAxis", "FittedTitle", "SideLegend",
           "Swatch"]

CAPTION_PT = 9  # captions, titles and names: readable at this size, never smaller
GAP = 8  # pixels kept free between two names on a horizontal axis


def caption_font() -> QFont:
    font = QFont()
    font.setPointSizeF(CAPTION_PT)
    return font


class LabelAxis(pg.AxisItem):
    """An axis that names positions instead of numbering them (a plain numeric axis while it
    has no names).  Names never overlap: along a horizontal axis each is elided to the room
    it has, and where even a few letters do not fit, only every k-th position is named, as
    on a vertical axis whose rows are closer than a line of text.  ``bare``: no line and no
    ticks, the names are captions."""

    def __init__(self, orientation: str, bare: bool = False, max_width: int = 120):
        super().__init__(orientation)
        self.bare = bare
        self.max_width = max_width  # the widest a name may be (vertical axes)
        self.names: list[str] = []
        self.positions: list[float] = []
        self._room = float(max_width)
        self.setTickFont(caption_font())
        self.setStyle(autoReduceTextSpace=True, tickLength=0 if bare else 4)

    def set_names(self, names, positions=None) -> None:
        self.names = [str(n) for n in names]
        self.positions = [float(p) for p in (range(len(self.names)) if positions is None
                                             else positions)][:len(self.names)]
        self.names = self.names[:len(self.positions)]
        self.picture = None
        self.update()

    def pen(self) -> QPen:
        return QPen(Qt.NoPen) if self.bare else super().pen()

    def _horizontal(self) -> bool:
        return self.orientation in ("top", "bottom")

    def tickValues(self, minVal, maxVal, size):
        if not self.names:
            return super().tickValues(minVal, maxVal, size)
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        if size <= 0 or hi <= lo:
            return []
        step = abs(self.positions[1] - self.positions[0]) if len(self.positions) > 1 \
            else hi - lo
        pitch = step * size / (hi - lo)  # pixels from one name to the next
        metrics = QFontMetricsF(self.style["tickFont"])
        if self._horizontal():
            widest = max(metrics.horizontalAdvance(n) for n in self.names)
            need = min(widest, metrics.horizontalAdvance("Mmm…")) + GAP
        else:
            need = metrics.height() + 1
        every = max(1, math.ceil(need / max(pitch, 1e-9)))
        self._room = pitch * every - GAP if self._horizontal() else self.max_width
        shown = [p for i, p in enumerate(self.positions) if i % every == 0 and lo <= p <= hi]
        return [(step * every, shown)]

    def tickStrings(self, values, scale, spacing):
        if not self.names:
            return super().tickStrings(values, scale, spacing)
        metrics = QFontMetricsF(self.style["tickFont"])
        named = dict(zip(self.positions, self.names))  # the values are our own positions
        return [metrics.elidedText(named.get(v, ""), Qt.ElideRight, max(self._room, 1))
                for v in values]


class FittedTitle:
    """A plot title of parts ("name", "epoch 3", "2 of 16 wrong") joined by " · ".  Where
    the plot is too narrow for all of them it drops the middle ones, then the name, then
    elides: a title cut off at both edges says nothing."""

    def __init__(self, plot: pg.PlotWidget):
        self.item = plot.getPlotItem()
        self.parts: list[str] = []
        self._shown = self._color = None  # what the title says now, in which colour
        self.item.getViewBox().sigResized.connect(self._fit)

    def set(self, *parts: str) -> None:
        self.parts = [p for p in parts if p]
        self._fit()

    @property
    def text(self) -> str:
        return " · ".join(self.parts)

    def _fit(self, *_) -> None:
        text = self.text
        width = self.item.getViewBox().width() - 4
        font = caption_font()
        metrics = QFontMetricsF(font)
        if width > 0 and metrics.horizontalAdvance(text) > width:
            p = self.parts
            shorter = [p[:1] + p[2:], p[1:], p[:1]]
            text = next((" · ".join(c) for c in shorter
                         if c and metrics.horizontalAdvance(" · ".join(c)) <= width),
                        metrics.elidedText(text, Qt.ElideRight, width))
        if text != self._shown or theme.current().text != self._color:
            self._shown, self._color = text, theme.current().text
            self.item.setTitle(html.escape(text), color=self._color, size=f"{CAPTION_PT}pt")


class Swatch(pg.ItemSample):
    """A legend's sample of a filled outline: its line alone (pyqtgraph adds a triangle)."""

    def paint(self, p, *args):
        if self.item.isVisible() and self.item.opts.get("fillLevel") is not None:
            p.setRenderHint(p.RenderHint.Antialiasing)
            p.setPen(pg.mkPen(self.item.opts["pen"]))
            p.drawLine(0, 11, 20, 11)
        else:
            super().paint(p, *args)


class SideLegend:
    """A legend in a column of its own right of the plot, so it never hides data, taking
    no room while it has no entries.  Rebuilt whole when its entries change (rarely):
    pyqtgraph's legend keeps the rows of removed entries in its layout."""

    def __init__(self, plot: pg.PlotWidget):
        self.host = plot.getPlotItem()
        self.item: pg.LegendItem | None = None
        self.names: list[str] = []
        self._key: list = []

    def set(self, entries: list[tuple[object, str]]) -> None:
        """``(plot item, name)`` entries; names are rich text (escape them)."""
        key = [(id(item), name) for item, name in entries]
        if key == self._key:
            return
        self._key = key
        if self.item is not None:
            self.host.layout.removeItem(self.item)
            self.item.scene().removeItem(self.item)
            self.item = None
        self.names = [name for _, name in entries]
        if not entries:
            return
        legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-6, sampleType=Swatch,
                               labelTextColor=theme.current().dim,
                               colCount=1 if len(entries) <= 12 else 2)
        for item, name in entries:
            legend.addItem(item, name)
        legend.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.host.layout.addItem(legend, 2, 3)
        self.host.layout.setAlignment(legend, Qt.AlignTop | Qt.AlignLeft)
        self.item = legend
