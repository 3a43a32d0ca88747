"""The projector: word vectors (``embedding`` samples) as a labelled 2-D map, PCA or t-SNE,
with a query box: a word lists and marks its nearest neighbours, ``king - man + woman``
the analogy's answer with its two arrows.  Neighbours are found in the full vectors (cosine),
never in the 2-D picture.  t-SNE runs on a worker thread and lands through a queued signal;
the map shows PCA meanwhile, so the GUI never waits."""

from __future__ import annotations

import html
import threading

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.training.plots.captions import FittedTitle, SideLegend
from app.training.plots.style import plot_widget, series_color
from app.training.plots.word_map import RINGS, WordLabels, Worker, pca, tsne
from runtime.recipes.skipgram import nearest, parse_query

__all__ = ["ProjectorView"]

PROJECTIONS = ("PCA", "t-SNE")
NEIGHBOURS = 8
EXAMPLES = 4  # analogies offered per family


class ProjectorView:
    """Word vectors as a map (``embedding`` samples): one point per word coloured by its
    family (``extra["groups"]``), the query box and the answers beside the map."""

    plot: pg.PlotWidget

    def __init__(self, title: str):
        self.widget = QWidget()
        self.projection = QComboBox()
        self.projection.addItems(PROJECTIONS)
        self.projection.setToolTip("How the vectors are laid flat: PCA keeps the two main "
                                   "directions; t-SNE keeps neighbours together")
        self.query = QLineEdit()
        self.query.setPlaceholderText("a word, or king - man + woman")
        self.query.setClearButtonEnabled(True)
        self.query.setMinimumWidth(120)
        self.examples = QComboBox()
        self.examples.setToolTip("Analogies of the data to try")
        self.examples.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.examples.setMinimumContentsLength(14)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setMaximumWidth(200)
        self.answers = QListWidget()
        self.answers.setMaximumWidth(200)
        self.plot = plot_widget(title, "", x_label="", grid=False)
        self.plot.getPlotItem().setAspectLocked(True)
        self.title = FittedTitle(self.plot)
        self.legend = SideLegend(self.plot)
        self.scatters: dict[str, pg.ScatterPlotItem] = {}
        self.marked = pg.ScatterPlotItem(pxMode=True, size=11)
        self.marked.setZValue(3)
        self.labels = WordLabels()
        self.labels.setZValue(4)
        self.plot.addItem(self.marked)
        self.plot.addItem(self.labels, ignoreBounds=True)
        self.arrows: list[tuple[pg.PlotDataItem, pg.ArrowItem]] = []
        top = QHBoxLayout()
        for w, stretch in ((QLabel("Projection"), 0), (self.projection, 0),
                           (self.query, 1), (self.examples, 0)):
            top.addWidget(w, stretch)
        self.side = QWidget()  # the answers, shown while there are some
        side = QVBoxLayout(self.side)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.message)
        side.addWidget(self.answers, 1)
        body = QHBoxLayout()
        body.addWidget(self.plot, 1)
        body.addWidget(self.side)
        lay = QVBoxLayout(self.widget)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(body, 1)
        self._worker = Worker()
        self._worker.done.connect(self._projected, Qt.QueuedConnection)
        self._thread: threading.Thread | None = None
        self.projection.currentIndexChanged.connect(lambda _: self._layout())
        self.query.returnPressed.connect(self.ask)
        self.examples.activated.connect(
            lambda row: row > 0 and self.ask(self.examples.itemText(row)))
        self.answers.itemActivated.connect(
            lambda item: self.ask(item.data(Qt.UserRole)))
        self.clear(title)

    # --- data ----------------------------------------------------------------------------

    def clear(self, title: str) -> None:
        self.sample, self.words, self.index = None, [], {}
        self.vectors = self.unit = None
        self.xy = np.zeros((0, 2))
        self._pending = False
        for item in self.scatters.values():
            item.setData([], [])
        self.legend.set([])
        self.examples.clear()
        self._mark({}, [])
        self._say("", "dim")
        self.title.set(title)

    def show(self, view, heading: list[str]) -> None:
        self.title.set(*heading)
        sample = view.samples[0]
        if sample is self.sample:
            return
        fresh = self.sample is None
        self.sample = sample
        self.words = [str(w) for w in sample.labels]
        self.index = {w: i for i, w in enumerate(self.words)}
        self.vectors = np.asarray(sample.data, dtype=np.float32).reshape(len(self.words), -1)
        self.unit = torch.nn.functional.normalize(torch.from_numpy(self.vectors), dim=1)
        self._set_examples(sample.extra.get("analogies", []))
        self._layout()
        if fresh:  # the map grows as it trains: follow it until the user zooms or asks
            self.plot.getPlotItem().getViewBox().enableAutoRange()

    def _set_examples(self, analogies) -> None:
        groups = self.sample.extra.get("groups") or [""] * len(self.words)
        per: dict[str, list[str]] = {}
        for a, b, c, _ in analogies:
            family = groups[self.index[a]] if a in self.index else ""
            per.setdefault(family, []).append(f"{c} - {a} + {b}")
        picks = [q for qs in per.values() for q in qs[:: max(1, len(qs) // EXAMPLES)][:EXAMPLES]]
        if picks != [self.examples.itemText(i) for i in range(1, self.examples.count())]:
            self.examples.clear()
            self.examples.addItem("Try an analogy…")
            self.examples.addItems(picks)
        self.examples.setVisible(bool(picks))

    def _set_points(self, xy: np.ndarray) -> None:
        self.xy = np.asarray(xy, dtype=np.float64)
        groups = self.sample.extra.get("groups") or [""] * len(self.words)
        names = list(dict.fromkeys(g for g in groups if g)) + [""]
        entries = []
        for k, name in enumerate(names):
            item = self.scatters.get(name)
            if item is None:
                item = self.scatters[name] = pg.ScatterPlotItem(pxMode=True, size=6, pen=None)
                item.setZValue(2)
                self.plot.addItem(item)
            color = QColor(series_color(k)) if name else QColor(theme.current().dim)
            mask = np.array([g == name for g in groups], dtype=bool)
            item.setData(self.xy[mask, 0], self.xy[mask, 1], brush=pg.mkBrush(color))
            if name:
                entries.append((item, html.escape(name)))
        for name, item in self.scatters.items():
            if name not in names:
                item.setData([], [])
        self.legend.set(entries if len(entries) > 1 else [])
        self.ask(self.query.text(), quiet=True)  # the marks follow the words

    # --- projections -----------------------------------------------------------------------

    def _layout(self) -> None:
        """PCA at once (also while t-SNE has no picture of these words yet); t-SNE on the
        worker, one at a time: the newest sample goes next."""
        if self.vectors is None:
            return
        tsne_on = self.projection.currentText() == "t-SNE"
        if not tsne_on or len(self.xy) != len(self.words):
            self._set_points(pca(self.vectors, self.xy))
        if not tsne_on:
            return
        if self._thread is not None:
            self._pending = True
            return
        self._say("Computing t-SNE…", "dim")
        sample, vectors, start = self.sample, self.vectors, self.xy.copy()

        def work():
            try:
                result = tsne(vectors, start)
            except Exception as e:  # noqa: BLE001 - shown in the view as it is
                result = f"t-SNE failed: {type(e).__name__}: {e}"
            self._worker.done.emit(sample, result)

        self._thread = threading.Thread(target=work, name="layerloom-tsne", daemon=True)
        self._thread.start()

    @property
    def computing(self) -> bool:
        return self._thread is not None

    def _projected(self, sample, result) -> None:
        self._thread = None
        if isinstance(result, str):
            self._say(result, "error")
        elif sample is self.sample and self.projection.currentText() == "t-SNE":
            self._say("", "dim")
            self._set_points(result)
        if self._pending or (sample is not self.sample and self.sample is not None):
            self._pending = False
            self._layout()

    # --- queries ---------------------------------------------------------------------------

    def ask(self, text: str | None = None, quiet: bool = False) -> None:
        """Answer the query box (or ``text``): a word's neighbours, or an analogy."""
        if text is not None and text != self.query.text():
            self.query.setText(text)
        text = self.query.text().strip()
        self.answers.clear()
        if not text or self.unit is None:
            self._mark({}, [])
            if not quiet:
                self._say("", "dim")
            return
        try:
            terms = parse_query(text)
        except ValueError as e:
            return self._fail(str(e))
        unknown = [w for _, w in terms if w not in self.index]
        if unknown:
            return self._fail(f"Not among the {len(self.words)} words shown: "
                              f"{', '.join(unknown)}")
        ids = [self.index[w] for _, w in terms]
        query = sum(sign * self.unit[i] for (sign, _), i in zip(terms, ids))
        scores, found = nearest(self.unit, query[None], torch.tensor([ids]), NEIGHBOURS)
        found = [i for s, i in zip(scores[0].tolist(), found[0].tolist()) if np.isfinite(s)]
        for s, i in zip(scores[0].tolist(), found):
            self.answers.addItem(f"{self.words[i]}   {s:.2f}")
            self.answers.item(self.answers.count() - 1).setData(Qt.UserRole, self.words[i])
        marks = {i: "near" for i in found}
        marks.update({i: "query" for i in ids})
        if found:
            marks[found[0]] = "answer"
        # c - a + b → d: the offset a → b drawn again from c to the answer d
        pattern = [s for s, _ in terms] == [1, -1, 1] and found
        arrows = [(ids[1], ids[2]), (ids[0], found[0])] if pattern else []
        self._mark(marks, arrows)
        self._say(f"{text} → {self.words[found[0]]}" if pattern else
                  f"Nearest to {text}" if len(terms) == 1 else "", "dim")
        if not quiet:  # close in on the answer; the A button zooms back out
            pts = self.xy[list(marks)]
            lo, hi = pts.min(0), pts.max(0)
            self.plot.getPlotItem().getViewBox().setRange(
                QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]), padding=0.25)

    def _fail(self, message: str) -> None:
        self._mark({}, [])
        self._say(message, "error")

    def _say(self, text: str, role: str) -> None:
        self.side.setVisible(bool(text) or self.answers.count() > 0)
        self.message.setText(text)
        self.message.setProperty("role", role)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)

    def _mark(self, marks: dict[int, str], arrows: list[tuple[int, int]]) -> None:
        """Rings round the marked words (not colours: those tell the families apart),
        their names in bold, and the analogy's arrows."""
        self.marks = marks
        xy = self.xy[list(marks)] if marks else np.zeros((0, 2))
        color = theme.current().text
        self.marked.setData(xy[:, 0], xy[:, 1], brush=None,
                            size=[RINGS[m][0] for m in marks.values()],
                            pen=[pg.mkPen(color, width=RINGS[m][1]) for m in marks.values()])
        self.labels.set(self.words, self.xy, marks)
        while len(self.arrows) < len(arrows):
            line, head = pg.PlotDataItem(), pg.ArrowItem(headLen=14, pen=None)
            for item in (line, head):
                item.setZValue(2.5)
                self.plot.addItem(item, ignoreBounds=True)
            self.arrows.append((line, head))
        pen = pg.mkPen(theme.current().text, width=1.5)
        for k, (line, head) in enumerate(self.arrows):
            if k >= len(arrows):
                line.setData([], [])
                head.hide()
                continue
            (x0, y0), (x1, y1) = self.xy[arrows[k][0]], self.xy[arrows[k][1]]
            line.setData([x0, x1], [y0, y1], pen=pen)
            head.setStyle(angle=float(np.degrees(np.arctan2(y1 - y0, x0 - x1))),
                          brush=pg.mkBrush(theme.current().text))
            head.setPos(x1, y1)
            head.show()
