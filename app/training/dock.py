"""The training dock: the run's state and messages on top, live plots in tabs below.

The dock only draws: ``refresh`` redraws the panels of the tab on screen from the
``RunSeries`` the controller fills (the others are redrawn when their tab is opened), so the
cost of a frame does not grow with the number of plots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.links import link_target, linked
from app.training.canvas_heat import MODES
from app.training.plots.confusion import ConfusionPanel
from app.training.plots.curves import LearningRatePanel, MetricsPanel
from app.training.plots.filters import FiltersPanel
from app.training.plots.layers import ActivationPanel, DeadPanel, GradientBars, GradientHistory
from app.training.plots.pictures import PicturePanel
from app.training.plots.weights import SparsityPanel
from app.training.predict_panel import PredictPanel
from app.training.series import RunSeries
from app.training.verdict_panel import VerdictPanel
from builder import pngtext

__all__ = ["TrainingDock", "save_plot"]

# The share of time that redrawing plots may take while a run trains.  The GUI thread shares
# the GIL with the training thread, so every millisecond spent drawing is one that training
# may wait.  Above the budget, redraws are spaced out (up to MAX_PACE×); below half of it
# they speed up again.
# The cost is the CPU time of the panels' updates times PAINT_FACTOR, for the paint each
# update causes later (measured: painting a changed plot costs about twice its update).
BUSY_TARGET = 0.06
MAX_PACE = 5.0  # curves still redraw twice a second, pictures once
PAINT_FACTOR = 3.0
MAX_INTERVAL = 1.0  # however busy: every panel on screen redraws at least once a second

STATE_TEXT = {"idle": "Ready", "loading": "Preparing", "running": "Training",
              "paused": "Paused", "stopping": "Stopping"}


def save_plot(widget, path: str | Path, project: str = "") -> Path:
    """One plot as PNG (pyqtgraph's ImageExporter, at twice the size on screen) or SVG; a PNG
    carries ``project`` (the .loom text) when given, so dropped on the window it opens it.

    SVG goes through Qt's own QSvgGenerator: pyqtgraph 0.14's SVGExporter cannot parse the
    path data Qt >= 6.9 writes (pyqtgraph issue #3485) and raises on every curve."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".svg":
        from PySide6.QtCore import QRectF, QSize
        from PySide6.QtGui import QPainter
        from PySide6.QtSvg import QSvgGenerator

        size = widget.viewport().size()
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(QSize(size.width(), size.height()))
        generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
        generator.setTitle(widget.getPlotItem().titleLabel.text or "Layerloom plot")
        painter = QPainter(generator)
        try:
            widget.scene().render(painter, QRectF(0, 0, size.width(), size.height()),
                                  widget.mapToScene(widget.viewport().rect()).boundingRect())
        finally:
            painter.end()
    else:
        import pyqtgraph.exporters as exporters

        exporter = exporters.ImageExporter(widget.getPlotItem())
        exporter.parameters()["width"] = max(600, int(widget.width() * 2))
        exporter.export(str(path))
        if project:
            pngtext.embed(path, project)
    return path


def _row(*widgets, stretch_at: int | None = None) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(6)
    for i, w in enumerate(widgets):
        if stretch_at == i:
            row.addStretch(1)
        row.addWidget(w)
    return row


class TrainingDock(QWidget):
    canvas_mode_changed = Signal(str)
    details_requested = Signal()
    recipe_setting_changed = Signal(str, object)  # a live recipe setting set in a view
    prompt_requested = Signal(str, int)  # the Samples tab's prompt box: prompt, count
    node_requested = Signal(str, str)  # a block named in a message was clicked

    def __init__(self, runs_panel: QWidget | None = None, parent=None):
        super().__init__(parent)
        self.project_text: Callable[[], str] = lambda: ""  # what saved PNGs carry
        self.node_names: Callable[[], dict[str, str]] = dict  # block id → network (links)
        self.series = RunSeries()
        self._message = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(4)

        self.state_label = QLabel()
        font = self.state_label.font()
        font.setBold(True)
        self.state_label.setFont(font)
        self.detail = QLabel()
        self.detail.setProperty("role", "dim")
        self.detail.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # may be cut
        self.detail.setMinimumWidth(0)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(60)  # the header shrinks with the window
        self.progress.setMaximumWidth(120)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p %")
        self.log_scale = QCheckBox("Log loss")
        self.log_scale.setToolTip("Show the loss on a logarithmic axis")
        self.smoothing = QSlider(Qt.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(60)
        self.smoothing.setMinimumWidth(50)
        self.smoothing.setMaximumWidth(90)
        self.smoothing.setToolTip("Smoothing of the per-step curves (an exponential moving "
                                  "average; the raw values stay visible, faint)")
        self.smoothing_value = QLabel("0.60")
        self.smoothing_value.setProperty("role", "dim")
        self.canvas_mode = QComboBox()
        for key, text in MODES.items():
            self.canvas_mode.addItem(text, key)
        self.canvas_mode.setToolTip("Colour the blocks on the canvas by what the run measures")
        self.canvas_mode.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.canvas_mode.setMinimumContentsLength(10)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the plots of this tab as PNG and SVG files")
        smooth_label = QLabel("Smooth")
        smooth_label.setToolTip(self.smoothing.toolTip())
        canvas_label = QLabel("Canvas")
        canvas_label.setToolTip(self.canvas_mode.toolTip())
        header = _row(self.state_label, self.detail, self.progress, self.log_scale, smooth_label,
                      self.smoothing, self.smoothing_value, canvas_label, self.canvas_mode,
                      self.save_button)
        header.setStretch(1, 1)
        lay.addLayout(header)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.RichText)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse
                                             | Qt.LinksAccessibleByMouse)
        self.message.linkActivated.connect(self._open_link)
        self.details_button = QPushButton("Details…")
        self.details_button.clicked.connect(self.details_requested)
        self.message_box = QWidget()
        mrow = _row(self.message, self.details_button)
        mrow.setStretch(0, 1)
        self.message_box.setLayout(mrow)
        self.message_box.hide()
        lay.addWidget(self.message_box)

        self.loss = MetricsPanel("loss")
        self.metrics = MetricsPanel("metrics")
        self.bars = GradientBars()
        self.picture = PicturePanel("Predictions")
        self.grad_history = GradientHistory()
        self.activations = ActivationPanel()
        self.dead = DeadPanel()
        self.sparsity = SparsityPanel()
        self.lr = LearningRatePanel()
        self.confusion = ConfusionPanel()
        self.filters = FiltersPanel()
        self.samples = PicturePanel("Samples", skip_plane=True, prompts=True)
        for pictures in (self.picture, self.samples):
            pictures.setting_changed.connect(self.recipe_setting_changed)
        self.samples.prompt_requested.connect(self.prompt_requested)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._tab_panels: list[list] = []
        self._add_tab("Live", [self.loss, self.metrics, self.bars, self.picture], [5, 4, 4, 4])
        self._add_tab("Layers", [self.grad_history, self.activations, self.dead, self.sparsity,
                                 self.lr])
        self._add_tab("Samples", [self.confusion, self.filters, self.samples], [2, 2, 3])
        # The verdict (runtime.verdict): it paces itself, and reads the run on every tab.
        self.verdict = VerdictPanel()
        self.tabs.addTab(self.verdict, "Verdict")
        self._tab_panels.append([])
        self.verdict.count_changed.connect(lambda n: self.tabs.setTabText(
            self.tabs.indexOf(self.verdict), f"Verdict ({n})" if n else "Verdict"))
        if runs_panel is not None:
            self.tabs.addTab(runs_panel, "Runs")
            self._tab_panels.append([runs_panel])
            # Predictions of a run's weights on validation samples or the user's own inputs.
            self.predict = PredictPanel(lambda: runs_panel.store)
            self.tabs.addTab(self.predict, "Predict")
            self._tab_panels.append([self.predict])
        self.tabs.addTab(self.log, "Log")
        self._tab_panels.append([])
        self._last_drawn: dict[int, float] = {}
        self.pace = 1.0  # multiplies every panel's min_interval
        self._window, self._spent = time.perf_counter(), 0.0
        self.tabs.currentChanged.connect(lambda _: self.refresh(force=True))
        lay.addWidget(self.tabs, 1)

        self.log_scale.toggled.connect(self._set_log)
        self.smoothing.valueChanged.connect(self._set_smoothing)
        self.canvas_mode.currentIndexChanged.connect(
            lambda _: self.canvas_mode_changed.emit(self.canvas_mode.currentData()))
        self.save_button.clicked.connect(lambda: self.save_plots())
        self.set_state("idle")

    def _add_tab(self, title: str, panels: list, stretch: list[int] | None = None) -> None:
        split = QSplitter(Qt.Horizontal)
        split.setChildrenCollapsible(False)
        for p in panels:
            split.addWidget(p)
        for i, s in enumerate(stretch or [1] * len(panels)):
            split.setStretchFactor(i, s)
        self.tabs.addTab(split, title)
        self._tab_panels.append(panels)

    # --- what is shown ---------------------------------------------------------------------
    def fit_to(self, confusion: bool, filters: bool) -> None:
        """Show only the panels this project can fill: a confusion matrix where a recipe
        classifies, first-layer filters where a network starts with a convolution."""
        self.confusion.setVisible(confusion)
        self.filters.setVisible(filters)

    def all_panels(self) -> list:
        return [p for panels in self._tab_panels for p in panels]

    def visible_panels(self) -> list:
        if not self.isVisible():
            return []
        return self._tab_panels[self.tabs.currentIndex()]

    def set_series(self, series: RunSeries) -> None:
        """Show ``series`` (a new run): every panel starts empty."""
        self.series = series
        for panel in self.all_panels():
            panel.reset()
        self.refresh(force=True)
        self._window, self._spent = time.perf_counter(), 0.0  # not the start's cost

    def refresh(self, force: bool = False) -> None:
        """Redraw the panels on screen, each at most as often as its ``min_interval`` allows
        (curves ten times a second, pictures twice) times the current pace (see
        ``BUSY_TARGET``), and at least once a second; a panel whose data did not change
        skips its redraw itself."""
        now = time.perf_counter()
        self._adapt(now)
        last = self._last_drawn
        cpu = time.thread_time()
        for panel in self.visible_panels():
            interval = min(getattr(panel, "max_interval", MAX_INTERVAL),
                           getattr(panel, "min_interval", 0.033) * self.pace)
            if force or now - last.get(id(panel), -1.0) >= interval:
                panel.refresh(self.series)
                last[id(panel)] = now
        self.verdict.refresh(self.series, force)  # at most every few seconds, any tab
        self._spent += time.thread_time() - cpu

    def _adapt(self, now: float) -> None:
        if now - self._window < 0.5:
            return
        busy = PAINT_FACTOR * self._spent / (now - self._window)
        if busy > BUSY_TARGET:
            self.pace = min(MAX_PACE, self.pace * 1.5)
        elif busy < BUSY_TARGET / 2:
            self.pace = max(1.0, self.pace / 1.5)
        self._window, self._spent = now, 0.0

    def apply_theme(self) -> None:
        """Restyle every plot for the current theme (pictures follow on their next draw)."""
        import pyqtgraph as pg

        from app.training.plots.style import style_plot

        for widget in self.findChildren(pg.PlotWidget):
            style_plot(widget)
        self.set_state(self.state_label.property("state") or "idle")

    def settle(self) -> None:
        """The run ended: every plot's x axis ends at the last step."""
        self.refresh(force=True)
        for panel in self.all_panels():
            keeper = getattr(panel, "range", None)
            if keeper is not None and hasattr(keeper, "set_tight"):
                keeper.set_tight(True)

    def plots(self) -> dict[str, object]:
        """The pyqtgraph plot widgets of the current tab, by a file-friendly name."""
        out = {}
        for panel in self._tab_panels[self.tabs.currentIndex()]:
            plot = getattr(panel, "plot", None)
            if plot is not None and hasattr(plot, "getPlotItem"):
                title = plot.getPlotItem().titleLabel.text or type(panel).__name__
                name = "".join(c if c.isalnum() else "_" for c in title.split("·")[0].strip())
                out[name.strip("_").lower() or f"plot{len(out)}"] = plot
        return out

    def save_plots(self, folder: str | Path | None = None) -> list[Path]:
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save the plots of this tab to")
            if not folder:
                return []
        written, project = [], self.project_text()
        for name, plot in self.plots().items():
            for suffix in (".png", ".svg"):
                written.append(save_plot(plot, Path(folder) / f"{name}{suffix}", project))
        self.note(f"saved {len(written)} plot files to {folder}")
        return written

    def _set_log(self, on: bool) -> None:
        self.loss.set_log(on)
        self.refresh(force=True)

    def _set_smoothing(self, value: int) -> None:
        weight = value / 100
        self.smoothing_value.setText(f"{weight:.2f}")
        self.loss.set_smoothing(weight)
        self.metrics.set_smoothing(weight)
        self.refresh(force=True)

    # --- state and messages ----------------------------------------------------------------
    def set_state(self, state: str, detail: str = "", text: str = "") -> None:
        """The run's state in words (``text`` overrides the state's own word)."""
        self.state_label.setProperty("state", state)
        t = theme.current()
        color = {"running": t.accent, "paused": t.warning, "loading": t.dim,
                 "stopping": t.dim, "failed": t.error}.get(state, t.text)
        self.state_label.setText(f"<span style='color:{color}'>●</span> "
                                 f"{text or STATE_TEXT.get(state, state.capitalize())}")
        if detail:
            self.detail.setText(detail)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, max(1, total)))

    def show_message(self, text: str, level: str = "warning", details: bool = False) -> None:
        """A sentence above the plots: ``error`` (red), ``warning`` (amber) or ``info``."""
        color = {"error": theme.current().error, "warning": theme.current().warning}.get(
            level, theme.current().accent)
        self._message = text
        self.message.setText(f"<b style='color:{color}'>●</b> {linked(text, self.node_names())}")
        self.message_box.setVisible(bool(text))
        self.details_button.setVisible(details)
        self.note(text)

    def _open_link(self, link: str) -> None:
        target = link_target(link)
        if target is not None:
            self.node_requested.emit(*target)

    def clear_message(self) -> None:
        self._message = ""
        self.message.setText("")
        self.message_box.hide()

    @property
    def message_text(self) -> str:
        return self._message if self.message_box.isVisibleTo(self) else ""

    def note(self, text: str) -> None:
        if text:
            self.log.appendPlainText(text)


if __name__ == "__main__":
    from app.preview import run_preview

    def make():
        from builder.gallery import template_path
        from builder.serialize import load
        from runtime.trainer import Trainer

        dock = TrainingDock()
        series = RunSeries()
        dock.set_series(series)
        Trainer(load(template_path("mlp")), callback=series.add).fit(max_steps=300)
        dock.settle()
        return dock

    run_preview(make, size=(1400, 420))
