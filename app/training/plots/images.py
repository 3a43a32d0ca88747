"""Image grids: one numpy picture of all the images (``mosaic``) handed to one
``ImageItem``, with column and row captions on bare axes beside it and a caption under each
image where there is room.  The picture is recomposed only when its sample changed, or
when the panel's shape calls for another arrangement."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFontMetricsF

from app import theme
from app.training.plots.captions import FittedTitle, LabelAxis, caption_font
from app.training.plots.prompt_box import PromptBox, answers_prompts, under_prompt_box
from app.training.plots.style import plot_widget

__all__ = ["mosaic", "Grid", "grid_cols", "blocks_for", "ImagesView", "MAX_IMAGES"]

MAX_IMAGES = 256  # a conditional GAN's class × sample grid fits; more would be unreadable


@dataclass(frozen=True)
class Grid:
    """Where each image of a mosaic goes: ``cols`` a row, the rows split into ``blocks``
    set side by side (a tall column of triplets made wide, so each image is larger), with
    ``below`` pixels of room under each row for captions."""

    n: int
    h: int
    w: int
    cols: int
    blocks: int = 1
    pad: int = 2
    below: int = 0

    @property
    def rows(self) -> int:  # rows of a block
        return max(1, math.ceil(math.ceil(self.n / self.cols) / self.blocks))

    @property
    def block_width(self) -> int:  # with the wider gap that sets blocks apart
        return self.cols * (self.w + self.pad) + (3 * self.pad if self.blocks > 1 else 0)

    @property
    def row_height(self) -> int:
        return self.h + self.pad + self.below

    @property
    def shape(self) -> tuple[int, int]:
        gap = self.block_width - self.cols * (self.w + self.pad)
        return self.rows * self.row_height + self.pad, \
            self.blocks * self.block_width - gap + self.pad

    def origin(self, i: int) -> tuple[int, int]:
        """(y, x) of the top-left pixel of image ``i``."""
        r, k = divmod(i, self.cols)
        b, r = divmod(r, self.rows)
        return self.pad + r * self.row_height, \
            self.pad + b * self.block_width + k * (self.w + self.pad)

    def index_at(self, y: float, x: float) -> int | None:
        """The image under the point (y, x), or None."""
        b, x = divmod(x - self.pad, self.block_width)
        k, r = int(x // (self.w + self.pad)), int((y - self.pad) // self.row_height)
        i = (int(b) * self.rows + r) * self.cols + k
        ok = 0 <= k < self.cols and 0 <= r < self.rows and 0 <= b < self.blocks
        return i if ok and i < self.n else None


def grid_cols(n: int, h: int, w: int, cols: int | None = None, aspect: float = 1.0) -> int:
    """Columns of a grid of ``n`` images: ``cols`` when the recipe says, else as many as
    make the grid about ``aspect`` (width / height) wide."""
    if cols:
        return max(1, int(cols))
    return max(1, min(n, math.ceil(math.sqrt(n * aspect * h / max(1, w)))))


def blocks_for(n: int, h: int, w: int, cols: int, aspect: float) -> int:
    """How many blocks of rows side by side bring the grid closest to ``aspect``
    (width / height), so the images fill a wide panel instead of a thin column of it."""
    rows = max(1, math.ceil(n / cols))
    return min(range(1, rows + 1), key=lambda b: abs(math.log(
        b * cols * w / (math.ceil(rows / b) * h) / aspect)))


def mosaic(images: np.ndarray, pad: int = 2, borders: list | None = None,
           cols: int | None = None, below: int = 0, blocks: int = 1) -> np.ndarray:
    """[N, C, H, W] floats in [0, 1] → one uint8 RGB picture laid out by ``Grid``, ``cols``
    a row (about square when None).  One channel is grey, three are RGB, others show their
    first channel.  ``borders`` gives an RGB colour (or None) per image for its frame."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[:, None]
    n, c, h, w = images.shape
    if c == 3:
        rgb = images.transpose(0, 2, 3, 1)
    else:
        rgb = np.repeat(images[:, 0, :, :, None], 3, axis=3)
    grid = Grid(n, h, w, grid_cols(n, h, w, cols), blocks, pad, below)
    out = np.empty((*grid.shape, 3), dtype=np.uint8)
    out[:] = np.array(QColor(theme.current().base).getRgb()[:3], dtype=np.uint8)
    pixels = (np.clip(np.nan_to_num(rgb), 0, 1) * 255).astype(np.uint8)
    for i in range(n):
        y, x = grid.origin(i)
        if borders is not None and borders[i] is not None and pad:
            out[y - pad:y + h + pad, x - pad:x + w + pad] = borders[i]
        out[y:y + h, x:x + w] = pixels[i]
    return out

class ImagesView:
    """An image grid: ``extra["cols"]`` images a row, column captions on a bare top axis and
    row captions on a bare left axis (outside the images, so never on them), a caption per
    image under it while the grid is large enough on screen to hold them (else in the
    tooltip), red frames round the wrong ones (``extra["correct"]``).  With ``prompts``, a
    grid that answers prompts (``prompt_box.answers_prompts``) has the prompt box above it."""

    def __init__(self, title: str, prompts: bool = False):
        self.top, self.left = LabelAxis("top", bare=True), LabelAxis("left", bare=True)
        self.plot = plot_widget(title, "", x_label="", grid=False,
                                axis_items={"top": self.top, "left": self.left})
        self.widget = self.plot
        self.prompt: PromptBox | None = None
        if prompts:
            self.widget, self.prompt = under_prompt_box(self.plot)
        item = self.plot.getPlotItem()
        item.setAspectLocked(True)
        item.getViewBox().invertY(True)
        for name in ("left", "bottom", "top"):
            item.hideAxis(name)
        self.title = FittedTitle(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        item.addItem(self.image)
        self.captions: list[pg.TextItem] = []
        self.grid: Grid | None = None
        self.labels: list[str] = []
        self._pictures: dict[str, tuple] = {}  # name → (sample, picture, grid)
        self._drawn: tuple | None = None
        self._room = (0.0, 0.0)  # (width, height) the widest caption needs, in pixels
        vb = item.getViewBox()
        self._follow = True  # frame the grid until the user zooms or pans
        vb.sigResized.connect(self._relayout)
        vb.sigResized.connect(self._frame)
        vb.sigResized.connect(self._fit_captions)
        vb.sigRangeChangedManually.connect(lambda *_: setattr(self, "_follow", False))
        vb.sigRangeChanged.connect(self._fit_captions)
        self.plot.scene().sigMouseMoved.connect(self._hover)

    def clear(self, title: str) -> None:
        self.image.clear()
        self._pictures.clear()
        self._drawn = None
        self._set_captions(None, None)
        self.title.set(title)
        if self.prompt is not None:
            self.prompt.hide()
            self.prompt.say("")

    def show(self, view, heading: list[str]) -> None:
        sample = view.samples[0]
        if self.prompt is not None:
            self.prompt.setVisible(answers_prompts(sample))
            if answers_prompts(sample):
                self.prompt.follow(sample.extra["prompt"], sample.extra.get("prompt_hint"))
        wrong = self._wrong(sample)
        self.title.set(*heading, f"{wrong[0]} of {wrong[1]} wrong (red)" if wrong else "")
        entry = self._pictures.get(sample.name)
        if entry is None or entry[0] is not sample:
            entry = self._pictures[sample.name] = (sample, *self._compose(sample))
        self._put(entry)

    def _put(self, entry: tuple) -> None:
        if entry is self._drawn:
            return
        fresh = self._drawn is None or self._drawn[1].shape != entry[1].shape
        self._drawn = entry
        sample, picture, grid = entry
        self.image.setImage(picture, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(0, 0, picture.shape[1], picture.shape[0]))
        self._set_captions(sample, grid)
        if fresh:
            self._follow = True
            self._frame()

    def _frame(self, *_) -> None:
        """Fit the grid, against its captions: top-aligned under column captions, left-
        aligned beside row captions, centred otherwise (until the user zooms or pans)."""
        if self._drawn is None or not self._follow:
            return
        vb = self.plot.getPlotItem().getViewBox()
        height, width = self._drawn[1].shape[:2]
        m = 0.02 * max(height, width)
        x, y = (-m, width + m), (-m, height + m)
        if vb.width() > 0 and vb.height() > 0:
            aspect = vb.width() / vb.height()
            extra = self._drawn[0].extra
            if (x[1] - x[0]) / (y[1] - y[0]) > aspect:  # room to spare below or around
                span = (x[1] - x[0]) / aspect
                top = 0 if extra.get("columns") is not None else (height - span) / 2
                y = (top, top + span)
            else:
                span = (y[1] - y[0]) * aspect
                left = 0 if extra.get("rows") is not None else (width - span) / 2
                x = (left, left + span)
        vb.setRange(xRange=x, yRange=y, padding=0)

    def _relayout(self, *_) -> None:
        """A panel that changed shape gets the arrangement that fills it best."""
        if self._drawn is not None and self._arrange(self._drawn[0]) != self._drawn[2]:
            sample = self._drawn[0]
            self._pictures[sample.name] = entry = (sample, *self._compose(sample))
            self._put(entry)

    @staticmethod
    def _wrong(sample) -> tuple[int, int] | None:
        correct = sample.extra.get("correct")
        if correct is None:
            return None
        ok = np.asarray(correct, dtype=bool)[:MAX_IMAGES]
        return int((~ok).sum()), len(ok)

    def _arrange(self, sample) -> Grid:
        """Columns as the recipe says, or as many as fill the panel; rows of a grid with
        fixed columns (and no row names) wrapped into blocks side by side to fill it."""
        n, h, w = np.shape(sample.data)[0], *np.shape(sample.data)[-2:]
        n = min(n, MAX_IMAGES)
        below = max(2, math.ceil(0.5 * h)) if sample.labels is not None else 0
        vb = self.plot.getPlotItem().getViewBox()
        aspect = min(3.0, max(0.7, vb.width() / vb.height() if vb.height() > 0 else 1.5))
        cols = grid_cols(n, h + below, w, sample.extra.get("cols"), aspect)
        blocks = 1
        if sample.extra.get("cols") and sample.extra.get("rows") is None:
            blocks = blocks_for(n, h + below, w, cols, aspect)
        return Grid(n, h, w, cols, blocks, 2, below)

    def _compose(self, sample) -> tuple[np.ndarray, Grid]:
        grid = self._arrange(sample)
        data = np.asarray(sample.data, dtype=np.float32)[:MAX_IMAGES]
        borders = None
        correct = sample.extra.get("correct")
        if correct is not None:
            red = QColor(theme.current().error).getRgb()[:3]
            borders = [None if ok else red for ok in np.asarray(correct, dtype=bool)[:grid.n]]
        picture = mosaic(data, borders=borders, cols=grid.cols, below=grid.below,
                         blocks=grid.blocks)
        return picture, grid

    def _set_captions(self, sample, grid: Grid | None) -> None:
        item = self.plot.getPlotItem()
        extra = sample.extra if sample is not None else {}
        columns, rows = extra.get("columns"), extra.get("rows")
        self.grid = grid
        if grid is not None and columns is not None:
            names = [str(c) for c in columns][:grid.cols] * grid.blocks
            self.top.set_names(names, [grid.origin(b * grid.rows * grid.cols + k)[1]
                                       + grid.w / 2 for b in range(grid.blocks)
                                       for k in range(min(grid.cols, len(columns)))])
        if grid is not None and rows is not None:
            self.left.set_names(rows, [grid.origin(r * grid.cols)[0] + grid.h / 2
                                       for r in range(min(grid.rows, len(rows)))])
        item.showAxis("top", columns is not None)
        item.showAxis("left", rows is not None)
        self.labels = [] if sample is None or sample.labels is None else \
            [str(t) for t in list(sample.labels)[:grid.n]]
        while len(self.captions) < len(self.labels):
            text = pg.TextItem("", anchor=(0.5, 0))
            text.setFont(caption_font())
            item.addItem(text, ignoreBounds=True)
            self.captions.append(text)
        correct = extra.get("correct")
        t = theme.current()
        for i, text in enumerate(self.captions):
            text.setVisible(i < len(self.labels))
            if i < len(self.labels):
                wrong = correct is not None and i < len(correct) and not correct[i]
                text.setText(self.labels[i], color=t.error if wrong else t.dim)
                y, x = grid.origin(i)
                text.setPos(x + grid.w / 2, y + grid.h)
        metrics = QFontMetricsF(caption_font())
        self._room = (max((metrics.horizontalAdvance(s) for s in self.labels), default=0.0),
                      metrics.height())
        self._fit_captions()

    def _fit_captions(self, *_) -> None:
        """Per-image captions only while each has room under its image: no overlaps."""
        if not self.labels:
            return
        g = self.grid
        px = self.plot.getPlotItem().getViewBox().viewPixelSize()[0]
        fits = px > 0 and self._room[0] + 4 <= (g.w + g.pad) / px \
            and self._room[1] <= (g.below + g.pad) / px
        for text in self.captions[:len(self.labels)]:
            text.setOpacity(1.0 if fits else 0.0)

    def _hover(self, pos) -> None:
        """The caption of the image under the mouse as the tooltip (small grids hide them)."""
        vb = self.plot.getPlotItem().getViewBox()
        i = None
        if self.labels and vb.sceneBoundingRect().contains(pos):
            p = vb.mapSceneToView(pos)
            i = self.grid.index_at(p.y(), p.x())
        self.plot.setToolTip(self.labels[i] if i is not None and i < len(self.labels) else "")
