"""What the model does, drawn: every picture a recipe sends, one view per ``Samples`` name,
with a picker above the plot to choose among them.

The panel only picks and titles; drawing is one class per kind (``images``: image grids,
``plane``: heatmaps and points, ``charts``: curves, bars, histograms and text), each created
the first time its kind is shown and fed only when its sample changed.  The confusion
matrix and the filters have their own panels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QStackedWidget, QVBoxLayout, QWidget

from app.training.plots.charts import BarsView, CurveView, HistogramView, TextView
from app.training.plots.images import ImagesView, mosaic
from app.training.plots.matrix import MatrixView
from app.training.plots.plane import PlaneView, boundary_image
from app.training.plots.projector import ProjectorView
from app.training.plots.prompt_box import Answer
from app.training.plots.style import Panel
from app.training.plots.tree import TreeView
from app.training.series import RunSeries

__all__ = ["PicturePanel", "ViewPicker", "View", "views_of", "mosaic", "boundary_image"]

# How each kind of sample is drawn: a heatmap leads a "plane" view (points on it join it).
PAGES = {
    "plane": PlaneView,
    "points": PlaneView,
    "images": ImagesView,
    "curve": CurveView,
    "bars": BarsView,
    "histogram": HistogramView,
    "text": TextView,
    "tree": TreeView,
    "matrix": MatrixView,
    "embedding": ProjectorView,
}
ON_PLANE = 0.9  # the share of points inside a heatmap's extent that puts them over it


@dataclass
class View:
    """One entry of the picker: a sample, or a heatmap with the points that lie on it."""

    key: str  # the sample's name (the heatmap's, for a plane): what the picker keeps
    kind: str  # a key of PAGES
    samples: list


def _on(points, heat) -> bool:
    """Whether ``points`` lie on ``heat``'s plane (so the heatmap is drawn under them)."""
    x0, x1, y0, y1 = heat.extra.get("extent", [0, 1, 0, 1])
    data = np.asarray(points.data, dtype=np.float64).reshape(-1, 2)
    inside = ((data[:, 0] >= min(x0, x1)) & (data[:, 0] <= max(x0, x1))
              & (data[:, 1] >= min(y0, y1)) & (data[:, 1] <= max(y0, y1)))
    return not len(data) or inside.mean() >= ON_PLANE


def views_of(samples: dict) -> list[View]:
    """The views of the latest samples in the order their names first arrived.  Points that
    lie on a heatmap join it (the validation points on the decision boundary, a GAN's fakes
    on the discriminator's belief); kinds nothing can draw are left out."""
    items = [s for s in samples.values() if s.kind in PAGES or s.kind == "heatmap"]
    heats = [s for s in items if s.kind == "heatmap"]
    views: dict[str, View] = {}
    for s in items:
        host = next((h for h in heats if _on(s, h)), None) if s.kind == "points" else None
        if host is not None:
            views.setdefault(host.name, View(host.name, "plane", [host])).samples.append(s)
        elif s.name not in views:  # a heatmap whose points came first is there already
            views[s.name] = View(s.name, "plane" if s.kind == "heatmap" else s.kind, [s])
    return list(views.values())


class ViewPicker(QComboBox):
    """The views to choose from.  The wheel turns it only once it has focus (a click or
    Tab; the application's WheelGuard): scrolling never flips the picture under the mouse."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.setToolTip("Which of the recipe's pictures to show")

    def keys(self) -> list[str]:
        return [self.itemData(i) for i in range(self.count())]

    def set_views(self, keys: list[str], current: str | None) -> None:
        if keys != self.keys():
            self.clear()
            for key in keys:
                self.addItem(key[:1].upper() + key[1:], key)
        self.setCurrentIndex(self.findData(current))


class PicturePanel(QWidget):
    """The recipe's pictures, one at a time, chosen with the picker above them (shown while
    there are two or more).  The default is the plane (the decision boundary, the GAN's
    landscape, a latent space) when there is one, else the first view; with ``skip_plane``
    (the Samples tab, when the plane is on screen in the Live tab) the first other view.
    The user's choice is kept while a view of that name arrives.  With ``prompts`` (the
    Samples tab), a grid that answers prompts has the prompt box above it; what it asks
    goes up as ``prompt_requested`` and the answer comes back to ``show_answer``, a view of
    its own (the latest answer only) picked at once."""

    min_interval = 0.5  # seconds between redraws (the dock asks)
    # However busy the GUI: a picture that changes every epoch of a fast run must not fall
    # far behind it (the decision boundary lagged 24 epochs at the dock's slowest pace).
    max_interval = 0.35
    setting_changed = Signal(str, object)  # a live recipe setting set in a view (the dock)
    prompt_requested = Signal(str, int)  # the prompt box's prompt and count (the dock)

    def __init__(self, title: str = "Predictions", skip_plane: bool = False,
                 prompts: bool = False, parent=None):
        super().__init__(parent)
        self.title = title
        self.skip_plane = skip_plane
        self.prompts = prompts
        self.answer: Answer | None = None  # the prompt box's latest answer
        self._samples: dict = {}  # the run's latest samples (RunSeries.samples)
        self.picker = ViewPicker()
        self.picker.activated.connect(self._picked)
        self.header = QWidget()
        row = QHBoxLayout(self.header)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.picker)
        row.addStretch(1)
        self.header.hide()
        self.stack = QStackedWidget()
        self.panel = Panel(self.stack, "Pictures of what the model does appear here as often "
                                       "as the training setup says (every epoch by default).")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.header)
        lay.addWidget(self.panel, 1)
        self.pages: dict[type, object] = {}
        self._on_screen = self.page("images")
        self.views: list[View] = []
        self._chosen: str | None = None
        self._stamps: dict[str, tuple[int, int]] = {}  # key → (epoch, step) last seen
        self._by_step: set[str] = set()  # views sent more than once an epoch
        self._stage_step = 0  # the current stage's first step (RunSeries.stage_step)
        self._seen = -1
        self.shown = ""  # the kind on screen: a key of PAGES, or ""
        self.panel.set_empty(True)

    def page(self, kind: str):
        """The drawing of ``kind`` (created on first use; plane and points share one)."""
        cls = PAGES[kind]
        page = self.pages.get(cls)
        if page is None:
            prompts = cls is ImagesView and self.prompts
            page = self.pages[cls] = cls(self.title, prompts=True) if prompts else cls(self.title)
            if isinstance(page, TextView):  # its live settings go to the run
                page.setting_changed.connect(self.setting_changed)
            if prompts:
                page.prompt.generate.connect(self.prompt_requested)
            self.stack.addWidget(page.widget)
            page.clear(self.title)
        return page

    @property
    def plot(self):
        """The pyqtgraph plot on screen (None for text): what the dock saves."""
        return self._on_screen.plot

    @property
    def current(self) -> str | None:
        return self.picker.currentData()

    def reset(self) -> None:
        """A new run: no views, no choice, no titles from the last one."""
        for page in self.pages.values():
            page.clear(self.title)
        self.picker.clear()
        self.header.hide()
        self.views, self._chosen, self._stamps, self._by_step = [], None, {}, set()
        self.answer, self._samples = None, {}
        self._stage_step = 0
        self._seen, self.shown = -1, ""
        self._on_screen = self.page("images")
        self.stack.setCurrentWidget(self._on_screen.widget)
        self.panel.set_empty(True)

    def refresh(self, series: RunSeries) -> None:
        if series.stamp("samples") == self._seen:
            return
        self._seen = series.stamp("samples")
        self._samples, self._stage_step = series.samples, series.stage_step
        self._rebuild()

    def show_answer(self, answer: Answer) -> None:
        """The prompt box's images: a view of their own, on screen at once."""
        self.answer, self._chosen = answer, answer.samples.name
        self._rebuild()
        # What the recipe measured of its answer (prompt accuracy), in the row's dim line.
        figures = answer.samples.extra.get("figures") or {}
        self.page("images").prompt.say(" · ".join(
            f"{name} {value:.0%}" for name, value in figures.items() if value == value))

    def prompt_failed(self, text: str) -> None:
        """Why the prompt box's request was refused, in its row."""
        self.page("images").prompt.say(text, "error")

    def _rebuild(self) -> None:
        self.views = views_of(self._samples)
        for view in self.views:
            s = view.samples[0]
            last = self._stamps.get(view.key)
            if last is not None and last[0] == s.epoch and last[1] != s.step:
                self._by_step.add(view.key)
            self._stamps[view.key] = (s.epoch, s.step)
        if self.answer is not None:
            self.views.append(View(self.answer.samples.name, "images", [self.answer.samples]))
        keys = [v.key for v in self.views]
        if self._chosen not in keys:
            self._chosen = None
        self.picker.set_views(keys, self._chosen or self._default())
        self.header.setVisible(len(keys) > 1)
        self._draw()

    def _default(self) -> str | None:
        # A picture the current stage no longer draws (the pre-training's) is not the default.
        views = [v for v in self.views if v.samples[0].step >= self._stage_step] or self.views
        planes = [v.key for v in views if v.kind in ("plane", "points")]
        others = [v.key for v in views if v.kind not in ("plane", "points")]
        first = (others or planes) if self.skip_plane else (planes or others)
        return first[0] if first else None

    def _picked(self, index: int) -> None:
        self._chosen = self.picker.itemData(index)
        self._draw()

    def _heading(self, view: View) -> list[str]:
        s = view.samples[0]
        if self.answer is not None and s is self.answer.samples:
            return [view.key[:1].upper() + view.key[1:], self.answer.note]
        when = f"step {s.step}" if view.key in self._by_step else f"epoch {s.epoch + 1}"
        return [view.key[:1].upper() + view.key[1:], when]

    def _draw(self) -> None:
        view = next((v for v in self.views if v.key == self.current), None)
        if view is None:
            self.shown = ""
            self.panel.set_empty(True)
            return
        page = self.page(view.kind)
        if page is not self._on_screen:
            self._on_screen = page
            self.stack.setCurrentWidget(page.widget)
        page.show(view, self._heading(view))
        self.shown = view.kind
        self.panel.set_empty(False)
