"""The weights' sparsity over the steps: the share of each layer's weights that are (nearly)
zero, and of the whole network (the thick line), as ``runtime.sparsity`` measures it.  An L1
penalty lifts these curves towards 1; without one they stay near 0."""

from __future__ import annotations

from app import theme
from app.training.plots.layers import LayerCurves, layer_labels
from app.training.plots.style import RangeKeeper, plot_widget, series_color
from app.training.series import RunSeries

__all__ = ["SparsityPanel"]


class SparsityPanel(LayerCurves):
    """Share of near-zero weights per layer (thin) and over each network (thick)."""

    def __init__(self, parent=None):
        plot = plot_widget("Weights near zero", "fraction", legend=(-6, -6))
        super().__init__(plot, "The share of each layer's weights that are nearly zero "
                               "(an L1 penalty raises it).", RangeKeeper(plot, y_zero=True),
                         parent)
        self.shares: dict[str, float] = {}  # label → latest share (tests, tooltips)
        self._title = ""

    def reset(self) -> None:
        super().reset()
        self.shares = {}

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("weights") == self._seen:
            return
        self._seen = series.stamp("weights")
        rows = layer_labels({net: dict.fromkeys(c) for net, c in series.sparse.items()})
        for i, (net, layer, label) in enumerate(rows):
            curve = series.sparse[net][layer]
            item = self._curve((net, layer), series_color(i + 1),
                               label if len(rows) <= 10 else None)
            item.setData(curve.x, curve.y)
            self.shares[label] = curve.last
        for net, curve in series.sparse_all.items():  # each network whole, over its layers
            label = "all" if len(series.sparse_all) == 1 else f"all of {net}"
            fresh = (net, "") not in self._curves
            item = self._curve((net, ""), series_color(0), label)
            if fresh:
                item.setPen(series_color(0), width=3)
                item.setZValue(2)
            item.setData(curve.x, curve.y)
            self.shares[label] = curve.last
        title = f"Weights near zero · |w| < {series.sparse_below:g}"
        if series.sparse_below and title != self._title:
            self._title = title
            self.plot.getPlotItem().setTitle(title, color=theme.current().text, size="9pt")
        self.range.fit((0.0, float(series.step)), (0.0, 1.0) if rows else None)
        self.set_empty(not rows)
