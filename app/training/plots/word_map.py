"""The projector's map pieces: the 2-D projections of word vectors (PCA, t-SNE) and the word
labels, placed so that no two overlap."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen

from app import theme
from app.training.plots.captions import CAPTION_PT

__all__ = ["pca", "tsne", "Worker", "WordLabels", "RINGS"]

RINGS = {"query": (13, 1.5), "near": (11, 1.0), "answer": (17, 2.5)}  # size, pen width


def pca(x: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """[N, 2]: the two main axes; each axis's sign follows ``previous`` so that the map
    does not flip from one sample to the next."""
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T if len(vt) >= 2 else np.c_[x @ vt[:1].T, np.zeros(len(x))]
    if previous is not None and previous.shape == out.shape:
        out *= np.where((out * previous).sum(0) < 0, -1.0, 1.0)
    return out


def tsne(x: np.ndarray, start: np.ndarray) -> np.ndarray:
    """[N, 2] by t-SNE on cosine distances, started from ``start`` (the picture on screen)
    so that the map moves rather than jumps."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    start = (start - start.mean(0)) / (start[:, 0].std() + 1e-12) * 1e-4
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    # One thread: OpenMP's spinning threads beside training took 40 s here instead of 2 s.
    with threadpool_limits(1):
        return TSNE(2, perplexity=perplexity, init=start.astype(np.float32), metric="cosine",
                    random_state=0).fit_transform(x)


class Worker(QObject):
    done = Signal(object, object)  # (the data it was for, [N, 2] or an error message)


def _cells(rect: QRectF, h: float) -> set[tuple[int, int]]:
    """The cells of a 24 px × one line grid that ``rect`` covers: overlap in O(1)."""
    return {(x, y) for x in range(int(rect.left() // 24), int(rect.right() // 24) + 1)
            for y in range(int(rect.top() // h), int(rect.bottom() // h) + 1)}


class WordLabels(pg.GraphicsObject):
    """Every word beside its point, in screen pixels, none over another: the marked words
    first, then the rest in frequency order, each drawn only where it finds room."""

    def __init__(self):
        super().__init__()
        self.font, self.bold = QFont(), QFont()
        self.font.setPointSizeF(CAPTION_PT)
        self.bold.setPointSizeF(CAPTION_PT)
        self.bold.setBold(True)
        self.words: list[str] = []
        self.xy = np.zeros((0, 2))
        self.marks: dict[int, str] = {}  # word → its part in the query (RINGS)
        self.drawn: list[tuple[int, QRectF]] = []  # words written at the last paint, where

    def set(self, words, xy, marks) -> None:
        self.words, self.xy, self.marks = list(words), np.asarray(xy, float), dict(marks)
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        vb = self.getViewBox()
        return vb.viewRect() if vb is not None else QRectF()

    def viewTransformChanged(self) -> None:
        self.prepareGeometryChange()

    def paint(self, painter, *args) -> None:
        to_screen = painter.transform()
        painter.resetTransform()
        taken: set[tuple[int, int]] = set()
        metrics = QFontMetricsF(self.bold)
        h = metrics.height()
        dim, text = QColor(theme.current().dim), QColor(theme.current().text)
        self.drawn = []
        order = [*self.marks, *(i for i in range(len(self.words)) if i not in self.marks)]
        for i in order:
            p = to_screen.map(QPointF(*self.xy[i]))
            w = metrics.horizontalAdvance(self.words[i])
            gap = RINGS[self.marks[i]][0] / 2 + 2 if i in self.marks else 5  # clear of rings
            # Right of the point, else left, above, below; a marked word is always written.
            spots = [QRectF(p.x() + gap, p.y() - h / 2, w, h),
                     QRectF(p.x() - gap - w, p.y() - h / 2, w, h),
                     QRectF(p.x() - w / 2, p.y() - gap - h, w, h),
                     QRectF(p.x() - w / 2, p.y() + gap, w, h)]
            rect = cells = None
            for spot in spots:
                cells = _cells(spot, h)
                if not cells & taken:
                    rect = spot
                    break
            if rect is None and i not in self.marks:
                continue
            rect = rect or spots[0]
            taken |= _cells(rect, h)
            painter.setFont(self.bold if i in self.marks else self.font)
            painter.setPen(QPen(text if i in self.marks else dim))
            painter.drawText(rect, Qt.AlignLeft | Qt.AlignVCenter, self.words[i])
            self.drawn.append((i, rect))
