"""The canvas coloured live by each node's gradient norm (or its share of dead units), with a
legend in the canvas corner: the vanishing-gradient picture drawn on the architecture.

The same overlay marks what changed between two runs (added / changed nodes).  Colours are
pushed into the node items; the document is never touched."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app import theme
from app.training.plots.layers import log_scale
from app.training.plots.style import heat_rgb
from app.training.series import RunSeries

__all__ = ["CanvasHeat", "HeatLegend", "MODES", "ADDED", "CHANGED"]

MODES = {"gradient": "gradient norm", "dead": "dead ReLU units", "off": "plain"}
ADDED, CHANGED = QColor("#3fb950"), QColor("#e3a63a")


def _qcolor(rgba) -> QColor:
    return QColor(int(rgba[0]), int(rgba[1]), int(rgba[2]))


class HeatLegend(QWidget):
    """Title, colour bar and its two ends; or, for a run comparison, the marks' meaning."""

    W, H = 236, 62

    def __init__(self, canvas):
        super().__init__(canvas)
        self.setFixedSize(self.W, self.H)
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.title = ""
        self.low = self.high = ""
        self.entries: list[tuple[QColor, str]] = []  # diff mode: (colour, meaning)
        self.canvas = canvas
        canvas.installEventFilter(self)  # follows the canvas' size
        self.place()
        self.hide()

    def place(self) -> None:
        """The bottom-left corner (the minimap has the right one): a fitted graph starts at
        the top left, where the legend used to cover its first blocks."""
        self.move(12, self.canvas.viewport().height() - self.H - 12)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Resize:
            self.place()
        return False

    def show_scale(self, title: str, low: str, high: str) -> None:
        self.title, self.low, self.high, self.entries = title, low, high, []
        self.place()
        self.show()
        self.raise_()
        self.update()

    def show_entries(self, title: str, entries: list[tuple[QColor, str]]) -> None:
        self.title, self.entries = title, entries
        self.place()
        self.show()
        self.raise_()
        self.update()

    def paintEvent(self, event):
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        bg = QColor(t.label_bg)
        bg.setAlpha(235)
        p.setPen(QPen(QColor(t.node_border), 1))
        p.setBrush(bg)
        p.drawRoundedRect(QRectF(0.5, 0.5, self.W - 1, self.H - 1), 6, 6)
        p.setPen(QColor(t.text))
        p.drawText(QRectF(10, 4, self.W - 20, 18), Qt.AlignLeft | Qt.AlignVCenter, self.title)
        if self.entries:
            x = 10.0
            for color, text in self.entries:
                p.setPen(Qt.NoPen)
                p.setBrush(color)
                p.drawRoundedRect(QRectF(x, 30, 12, 12), 3, 3)
                p.setPen(QColor(t.dim))
                width = p.fontMetrics().horizontalAdvance(text) + 8
                p.drawText(QRectF(x + 16, 24, width, 24), Qt.AlignLeft | Qt.AlignVCenter, text)
                x += 16 + width + 8
            return
        bar = QRectF(10, 25, self.W - 20, 12)
        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        for stop in np.linspace(0, 1, 9):
            grad.setColorAt(float(stop), _qcolor(heat_rgb(stop)))
        p.setPen(Qt.NoPen)
        p.setBrush(grad)
        p.drawRoundedRect(bar, 3, 3)
        p.setPen(QColor(t.dim))
        p.drawText(QRectF(10, 39, 100, 18), Qt.AlignLeft | Qt.AlignVCenter, self.low)
        p.drawText(QRectF(self.W - 110, 39, 100, 18), Qt.AlignRight | Qt.AlignVCenter,
                   self.high)


class CanvasHeat:
    """Colours the canvases of a main window from a ``RunSeries`` (or a run diff)."""

    def __init__(self, window):
        self.window = window
        self.mode = "gradient"
        self.diffing = False
        self.values: dict[str, dict[str, float]] = {}  # network → node → value shown

    def legend(self, view) -> HeatLegend:
        legend = getattr(view, "heat_legend", None)
        if legend is None:
            legend = view.heat_legend = HeatLegend(view)
        return legend

    def set_mode(self, mode: str, series: RunSeries | None) -> None:
        self.mode = mode if mode in MODES else "gradient"
        self.diffing = False
        self.clear()
        if series is not None:
            self.apply(series)

    def clear(self) -> None:
        self.values = {}
        for view in self.window.views.values():
            for item in view.scene().nodes.values():
                item.set_overlay(None)
            legend = getattr(view, "heat_legend", None)
            if legend is not None:
                legend.hide()

    def apply(self, series: RunSeries) -> None:
        if self.mode == "off" or self.diffing:
            return
        for net, view in self.window.views.items():
            if self.mode == "gradient":
                values = series.grad_now.get(net, {})
            else:
                values = series.act_now.get(net, ({}, {}, {}))[2]
            self._paint(view, net, values)

    def _paint(self, view, net: str, values: dict[str, float]) -> None:
        scene = view.scene()
        shown = {k: v for k, v in values.items() if k in scene.nodes}
        self.values[net] = shown
        if not shown:
            return
        v = np.array(list(shown.values()), dtype=float)
        if self.mode == "gradient":
            logs, low, high = log_scale(v)
            t = (logs - low) / (high - low)
            texts = [f"‖∇‖ {x:.2g}" for x in v]
            self.legend(view).show_scale("Gradient norm per layer (log scale)",
                                         f"{10 ** low:.2g}", f"{10 ** high:.2g}")
        else:
            t = v
            texts = [f"{x:.0%} dead" for x in v]
            self.legend(view).show_scale("Dead ReLU units (share of the layer)", "0 %",
                                         "100 %")
        colors = heat_rgb(t)
        for (node, _), color, text in zip(shown.items(), colors, texts):
            scene.nodes[node].set_overlay(_qcolor(color), text)
        for node, item in scene.nodes.items():
            if node not in shown:
                item.set_overlay(None)

    def show_diff(self, diff, title: str) -> None:
        """Mark the nodes that a run comparison found added or changed (until cleared)."""
        self.clear()
        self.diffing = True
        for net, view in self.window.views.items():
            d = diff.networks.get(net)
            if d is None:
                continue
            scene = view.scene()
            for node in d.added:
                if node in scene.nodes:
                    scene.nodes[node].set_overlay(ADDED, "added")
            for node in list(d.changed) + d.rewired:
                if node in scene.nodes and scene.nodes[node].overlay is None:
                    scene.nodes[node].set_overlay(CHANGED, "changed")
            entries = [(ADDED, "added"), (CHANGED, "changed")]
            if d.removed:
                entries.append((QColor(theme.current().error), f"removed: {len(d.removed)}"))
            self.legend(view).show_entries(title, entries)
