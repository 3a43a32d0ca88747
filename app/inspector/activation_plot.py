"""The inspector's "Curve" section: an activation block's f(x) and f'(x) over [−4, 4], with the
block's current params.  ``runtime.activation_curves`` computes them (the block's own module,
autograd for the derivative); this is only the picture."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.training.plots.style import plot_widget, series_color
from builder.ports import freeze

__all__ = ["ActivationPlot"]


class ActivationPlot(QWidget):
    """Call ``set_node(block, params)``; returns whether the block has a curve (the section
    hides otherwise).  Recomputes only when the block or its params changed."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.curve = None  # the last runtime Curve shown (tests read it)
        self._key = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.plot = plot_widget("", x_label="", legend=(4, 4))  # top left: mostly empty
        self.plot.setFixedHeight(170)
        item = self.plot.getPlotItem()
        item.getViewBox().setMouseEnabled(False, False)  # a picture, not a zoomable chart
        item.hideButtons()
        self.f = self.plot.plot([], [], pen=pg.mkPen(series_color(0), width=2), name="f(x)")
        self.df = self.plot.plot([], [], pen=pg.mkPen(series_color(1), width=2,
                                                      style=pg.QtCore.Qt.DashLine),
                                 name="f′(x)")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setProperty("role", "dim")
        lay.addWidget(self.plot)
        lay.addWidget(self.note)

    def set_node(self, block: str | None, params: dict | None) -> bool:
        from runtime.activation_curves import activation_blocks, curve

        if block not in activation_blocks():
            self._key = None
            return False
        key = (block, freeze(params or {}))
        if key == self._key:
            return True
        self._key = key
        try:
            c = curve(block, params)
        except ValueError as e:  # a param the form shows as wrong: say it, keep the panel
            self.curve = None
            self.f.setData([], [])
            self.df.setData([], [])
            self.note.setText(str(e))
            return True
        self.curve = c
        self.f.setData(c.x, c.y)
        self.df.setData(c.x, c.dy)
        self.plot.getPlotItem().getViewBox().autoRange(padding=0.05)
        gmax = float(abs(c.dy).max())
        self.note.setText((c.note + "\n" if c.note else "")
                          + f"largest slope |f′| = {gmax:.3g}; where f′ ≈ 0 the gradient "
                          "stops flowing back")
        return True
