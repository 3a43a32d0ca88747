"""Trees: the ``tree`` kind of sample (runtime/events.py), e.g. expression trees a recursive
network read.  Each node is a circle with its text (a digit, an operator) and its true value
under it (a digit is its own value: it gets none), edges join parents to children, the root
is on top with the network's answer against the truth above it.  A chooser shows the trees
side by side, as many as stay readable in the panel, or one of them large.

Text is drawn in pixels (it stays readable at any zoom); positions are in tree units: one
leaf per unit across, one level per unit down."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from app import theme
from app.training.plots.captions import FittedTitle, caption_font
from app.training.plots.style import plot_widget, series_color

__all__ = ["TreeView", "tree_layout", "arrange", "answer_text"]

NODE_PX = 24  # circle diameter in pixels, where there is room
MIN_X, MIN_Y = 28.0, 40.0  # pixels per unit across and down that keep circles and text apart
GAP = 1.0  # tree units between trees side by side
ABOVE_PX = 34  # pixels over a root for its answer
CLOSE = 0.5  # a value this near the truth counts as right (regression)
NEAR = 2.0  # … and this near as close (drawn in the warning colour)
ALL = -1  # the chooser's "side by side" entry
SHOWN = {"-": "−", "*": "×"}  # operators as printed, not as typed


def tree_layout(left, right, root: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, depth) of every node: leaves one unit apart in reading order, each parent over
    the middle of its children, the root at depth 0.  Nodes not under ``root`` stay NaN."""
    n = len(left)
    xs, depth = np.full(n, np.nan), np.full(n, np.nan)
    next_leaf = [0.0]

    def place(i: int, d: int) -> float:
        if d > n:  # left/right loop back: draw what was reached
            return next_leaf[0]
        kids = [int(c) for c in (left[i], right[i]) if 0 <= int(c) < n]
        if kids:
            xs[i] = float(np.mean([place(c, d + 1) for c in kids]))
        else:
            xs[i] = next_leaf[0]
            next_leaf[0] += 1.0
        depth[i] = d
        return xs[i]

    if 0 <= root < n:
        place(int(root), 0)
    return xs, depth


def arrange(sizes: list[tuple[float, float]], width: float, height: float
            ) -> tuple[int, float, float, float]:
    """(columns, cell width, cell height, fit) of a grid of trees of ``sizes`` (width, depth
    in tree units) in a plot of ``width`` × ``height`` pixels: the columns that give the
    most room; ``fit`` ≥ 1 when every node has the room ``MIN_X`` × ``MIN_Y`` needs."""
    cell_w = max((s[0] for s in sizes), default=1.0) + GAP
    cell_h = max((s[1] for s in sizes), default=1.0) + GAP
    n = max(1, len(sizes))

    def fit(cols: int) -> float:
        rows = math.ceil(n / cols)
        return min(width / (cols * cell_w) / MIN_X, height / (rows * cell_h) / MIN_Y)

    cols = max(range(1, n + 1), key=fit)
    return cols, cell_w, cell_h, fit(cols)


def answer_text(predicted: float, truth: float, classes: bool) -> tuple[str, bool | None]:
    """The words over a root and whether the answer is right (a value: within ``CLOSE``;
    None: within ``NEAR``, close but not right)."""
    words = f"predicted {_number(predicted)} · true {_number(truth)}"
    if classes:
        return words, predicted == truth
    err = abs(predicted - truth)
    return words, True if err <= CLOSE else (None if err <= NEAR else False)


def _number(v: float) -> str:
    return f"{v:.3g}".replace("-", "−")


def _extent(tree) -> tuple[np.ndarray, np.ndarray, float, float]:
    xs, depth = tree_layout(tree["left"], tree["right"], int(tree["root"]))
    return xs, depth, float(np.nanmax(xs, initial=0)) + 1, float(np.nanmax(depth, initial=0)) + 1


class TreeView:
    """A ``tree`` sample: the trees side by side in a grid that fits the panel (the first
    ones, as many as stay readable), or the one the chooser picks, drawn large."""

    def __init__(self, title: str):
        self.plot = plot_widget(title, "", x_label="", grid=False)
        item = self.plot.getPlotItem()
        for axis in ("left", "bottom"):
            item.hideAxis(axis)
        self.title = FittedTitle(self.plot)
        self.chooser = QComboBox()
        self.chooser.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.chooser.setToolTip("Which trees to show")
        self.chooser.activated.connect(lambda _: self._draw())
        self.widget = QWidget()
        row = QHBoxLayout()
        row.setContentsMargins(4, 0, 0, 0)
        row.addWidget(self.chooser)
        row.addStretch(1)
        lay = QVBoxLayout(self.widget)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.plot, 1)
        self.edges = pg.PlotDataItem(connect="pairs")
        self.nodes = pg.ScatterPlotItem(pxMode=True)
        self.nodes.setZValue(2)
        item.addItem(self.edges)
        item.addItem(self.nodes)
        self.labels: list[pg.TextItem] = []  # pools: the items on screen come first
        self.values: list[pg.TextItem] = []
        self.answers: list[pg.TextItem] = []
        self.shown_labels: list[str] = []  # the node texts drawn now, in drawing order
        self.shown_trees: list[int] = []  # which trees are drawn now
        self.sample = None
        self.heading: list[str] = []
        item.getViewBox().sigResized.connect(self._draw)

    # --- feeding -------------------------------------------------------------------------

    def clear(self, title: str) -> None:
        self.sample = None
        self.chooser.clear()
        self.chooser.hide()
        self._put([], [], [], [], [], NODE_PX)
        self.heading, self.shown_trees = [title], []
        self.title.set(title)

    def show(self, view, heading: list[str]) -> None:
        sample = view.samples[0]
        self.heading = heading
        if sample is self.sample:
            self._set_title()
            return
        fresh = self.sample is None or self.sample.name != sample.name
        self.sample = sample
        keep = ALL if fresh else self.chooser.currentData()
        captions = list(sample.labels) if sample.labels is not None else []
        self.chooser.clear()
        self.chooser.addItem("Side by side", ALL)
        for i in range(len(sample.data)):
            text = captions[i] if i < len(captions) else f"tree {i + 1}"
            self.chooser.addItem(f"{i + 1}: {text}", i)
        self.chooser.setCurrentIndex(max(0, self.chooser.findData(keep)))
        self.chooser.setVisible(len(sample.data) > 1)
        self._draw()

    def choose(self, which: int) -> None:
        """Show tree ``which`` alone (0-based), or the trees side by side (``ALL``)."""
        self.chooser.setCurrentIndex(max(0, self.chooser.findData(which)))
        self._draw()

    def _set_title(self) -> None:
        parts = list(self.heading)
        sample = self.sample
        pred, truth = sample.extra.get("predicted"), sample.extra.get("truth")
        if pred is not None and truth is not None and len(pred):
            pred, truth = np.asarray(pred, float), np.asarray(truth, float)
            parts.append(f"{int((pred == truth).sum())} of {len(pred)} right"
                         if sample.extra.get("classes") else
                         f"mean error {_number(float(np.abs(pred - truth).mean()))}")
        n = len(sample.data)
        if self.chooser.currentData() == ALL and 0 < len(self.shown_trees) < n:
            parts.append(f"{len(self.shown_trees)} of {n} trees fit")
        self.title.set(*parts)

    # --- drawing -------------------------------------------------------------------------

    def _layout(self) -> tuple[list[int], tuple[int, float, float, float]]:
        """The trees to draw and their grid: every chosen tree, or the first ones that fit."""
        box = self.plot.getPlotItem().getViewBox()
        width, height = max(1.0, box.width()), max(1.0, box.height())
        which = self.chooser.currentData()
        picked = list(range(len(self.sample.data))) if which in (None, ALL) else [int(which)]
        sizes = [_extent(self.sample.data[i])[2:] for i in picked]
        for k in range(len(picked), 0, -1):
            grid = arrange(sizes[:k], width, height)
            if grid[3] >= 1 or k == 1:
                return picked[:k], grid
        return [], (1, 1.0, 1.0, 1.0)

    def _draw(self, *_) -> None:
        if self.sample is None:
            return
        picked, (cols, cell_w, cell_h, fit) = self._layout()
        self.shown_trees = picked
        points, texts, values, edges, answers = [], [], [], [], []
        extra = self.sample.extra
        pred, truth = extra.get("predicted"), extra.get("truth")
        for k, i in enumerate(picked):
            t = self.sample.data[i]
            left, right = np.asarray(t["left"]), np.asarray(t["right"])
            xs, depth, width, _ = _extent(t)
            ox = (k % cols) * cell_w + (cell_w - GAP - width) / 2  # centred in its cell
            oy = -(k // cols) * cell_h
            node_values = t.get("values")
            for j in np.flatnonzero(~np.isnan(xs)):
                x, y = ox + xs[j], oy - depth[j]
                leaf = not (0 <= left[j] < len(xs) or 0 <= right[j] < len(xs))
                points.append((x, y, leaf))
                texts.append((x, y, str(t["labels"][j])))
                value = None if node_values is None else _number(float(node_values[j]))
                if value is not None and value != t["labels"][j]:  # a digit says it already
                    values.append((x, y, value))
                for c in (left[j], right[j]):
                    if 0 <= c < len(xs) and not np.isnan(xs[c]):
                        edges += [(x, y), (ox + xs[c], oy - depth[c])]
            root = int(t["root"])
            if pred is not None and truth is not None and 0 <= root < len(xs):
                words, right_ = answer_text(float(pred[i]), float(truth[i]),
                                            bool(extra.get("classes")))
                answers.append((ox + xs[root], oy, words, right_))
        if fit < 0.6:  # too cramped for words under the nodes: the answers and texts stay
            values = []
        self._put(points, texts, values, edges, answers, max(10.0, NODE_PX * min(1.0, fit)))
        rows = math.ceil(max(1, len(picked)) / cols)
        box = self.plot.getPlotItem().getViewBox()
        bottom = -rows * cell_h + GAP - 0.3
        # room over the top roots for their answers: ABOVE_PX pixels, however few per unit
        top = max(0.75, ABOVE_PX * -bottom / max(1.0, box.height() - ABOVE_PX))
        box.setRange(xRange=(-0.6, cols * cell_w - GAP - 0.4), yRange=(bottom, top),
                     padding=0.02)
        self._set_title()

    def _pool(self, pool: list[pg.TextItem], n: int, anchor: tuple,
              bold: bool = False) -> list[pg.TextItem]:
        while len(pool) < n:
            item = pg.TextItem(anchor=anchor)
            font = caption_font()
            font.setBold(bold)
            item.setFont(font)
            item.setZValue(3)
            self.plot.getPlotItem().addItem(item)
            pool.append(item)
        for item in pool[n:]:
            item.hide()
        return pool[:n]

    def _put(self, points, texts, values, edges, answers, size: float) -> None:
        t = theme.current()
        if points:
            xy = np.array([(x, y) for x, y, _ in points], float)
            leaf_brush, op_brush = pg.mkBrush(series_color(0)), pg.mkBrush(series_color(1))
            self.nodes.setData(xy[:, 0], xy[:, 1], size=size, pen=pg.mkPen(t.base, width=1.5),
                               brush=[leaf_brush if leaf else op_brush
                                      for *_, leaf in points])
        else:
            self.nodes.setData([], [])
        if edges:
            e = np.array(edges, float)
            self.edges.setData(e[:, 0], e[:, 1], connect="pairs",
                               pen=pg.mkPen(t.dim, width=1.5))
        else:
            self.edges.setData([], [])
        ink = QColor("#ffffff")
        for item, (x, y, text) in zip(self._pool(self.labels, len(texts), (0.5, 0.5), True),
                                      texts):
            item.setText(SHOWN.get(text, text), color=ink)
            item.setPos(x, y)
            item.show()
        under = QColor(t.base)  # edges pass under a value, never through its digits
        for item, (x, y, text) in zip(self._pool(self.values, len(values), (0.5, -0.7)),
                                      values):
            item.setText(text, color=t.dim)
            item.fill = pg.mkBrush(under)
            item.setPos(x, y)
            item.show()
        marks = {True: "#59a14f", False: t.error, None: t.warning}
        for item, (x, y, text, right) in zip(self._pool(self.answers, len(answers),
                                                        (0.5, 1.75)), answers):
            item.setText(text, color=marks[right])
            item.setPos(x, y)
            item.show()
        self.shown_labels = [text for *_, text in texts]
