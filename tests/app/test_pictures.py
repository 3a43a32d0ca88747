"""The dock's pictures: every kind of the ``Samples`` contract drawn by the real panels of a
real TrainingDock, fed real events through its RunSeries; the view picker; titles."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFontMetricsF, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication
from training_helpers import open_dock

from app.training.plots.captions import caption_font
from app.training.plots.images import Grid, mosaic
from app.training.series import RunSeries
from runtime.events import Samples

NAMES = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
         "bag", "boot"]
SAMPLES_TAB = 2


def images(n: int, size: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.2, (n, 1, size, size)).astype(np.float32)
    for i in range(n):
        x[i, 0, 2:size - 2, 2 + i % 4:5 + i % 4] = 1
    return x


def event(name, kind, data, labels=None, epoch=2, step=300, **extra) -> Samples:
    return Samples(step, epoch, name, kind, data, labels, extra)


@pytest.fixture
def dock(qtbot):
    return open_dock(qtbot, 1400, 420)


def feed(dock, *events, tab: int = SAMPLES_TAB) -> None:
    dock.tabs.setCurrentIndex(tab)
    for e in events:
        dock.series.add(e)
    dock.refresh(force=True)
    QApplication.processEvents()


def ticks(axis) -> list[str]:
    """The names an axis writes at its current size (what is on screen)."""
    length = axis.width() if axis.orientation in ("top", "bottom") else axis.height()
    values = axis.tickValues(*axis.range, length)
    shown = [v for _, level in values for v in level]
    return axis.tickStrings(shown, 1.0, 1.0)


def test_a_grid_with_columns_has_every_column_captioned_above_the_images(dock):
    recon = event("reconstructions", "images", images(24), cols=3,
                  columns=["input", "reconstruction", "target"])
    feed(dock, recon)
    panel = dock.samples
    page = panel.page("images")
    assert panel.shown == "images" and page.grid.cols == 3
    assert page.image.image.shape[:2] == mosaic(recon.data, cols=3,
                                                blocks=page.grid.blocks).shape[:2]
    written = ticks(page.top)
    assert len(written) == 3 * page.grid.blocks  # each block's columns, none thinned out
    assert written[0] == "input" and written[2] == "target"
    assert written[1].startswith("rec")  # elided to its column when narrow, never dropped
    metrics = QFontMetricsF(caption_font())
    pitch = (page.grid.w + page.grid.pad) / page.plot.getPlotItem().vb.viewPixelSize()[0]
    assert all(metrics.horizontalAdvance(t) < pitch for t in written)  # no overlaps
    top = page.top.sceneBoundingRect()
    assert page.top.isVisible() and not page.left.isVisible()
    assert page.image.sceneBoundingRect().top() >= top.bottom() - 1  # never on the images
    assert panel.plot.getPlotItem().titleLabel.text == "Reconstructions · epoch 3"


def test_row_captions_name_every_row_of_a_conditional_grid(dock):
    feed(dock, event("generated images", "images", images(100, 8), cols=10, rows=NAMES))
    page = dock.samples.page("images")
    assert page.image.image.shape[:2] == mosaic(images(100, 8), cols=10).shape[:2]
    assert page.grid.blocks == 1  # named rows are never wrapped
    assert ticks(page.left) == NAMES
    assert page.left.sceneBoundingRect().right() <= page.image.sceneBoundingRect().left() + 1


def test_per_image_captions_and_wrong_predictions(dock):
    labels = [f"{i % 10} / {(3 * i) % 10}" for i in range(16)]
    correct = np.array([i % 3 != 0 for i in range(16)])
    feed(dock, event("predictions", "images", images(16, 28), labels, correct=correct))
    page = dock.samples.page("images")
    shown = [c for c in page.captions if c.isVisible()]
    assert [c.toPlainText() for c in shown] == labels
    assert all(c.opacity() == 1 for c in shown)
    assert "6 of 16 wrong (red)" in page.plot.getPlotItem().titleLabel.text


def test_captions_too_long_for_their_images_move_to_the_tooltip(dock):
    labels = [f"{NAMES[i % 10]} / {NAMES[(3 * i) % 10]}" for i in range(32)]
    feed(dock, event("predictions", "images", images(32, 8), labels))
    page = dock.samples.page("images")
    assert all(c.opacity() == 0 for c in page.captions[:32])  # hidden, never overlapping
    y, x = page.grid.origin(5)
    vb = page.plot.getPlotItem().vb
    page._hover(vb.mapViewToScene(QPointF(x + 1, y + 1)))
    assert page.plot.toolTip() == labels[5]


def test_grid_positions_round_trip():
    grid = Grid(n=22, h=8, w=6, cols=3, blocks=2, pad=2, below=3)
    for i in range(grid.n):
        y, x = grid.origin(i)
        assert grid.index_at(y + 1, x + 1) == i
    assert mosaic(images(22, 8)[:, :, :, :6], cols=3, below=3, blocks=2).shape[:2] == grid.shape


def test_points_are_coloured_by_class_with_the_names_beside_the_plot(dock):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 20)
    feed(dock, event("latent space", "points", rng.normal(size=(200, 2)), labels,
                     names=NAMES))
    page = dock.samples.page("points")
    assert dock.samples.shown == "points"
    for k in range(10):
        assert len(page.scatters[f"latent space#{k}"].data) == 20
    assert page.legend.names == NAMES
    vb = page.plot.getPlotItem().vb
    assert page.legend.item.sceneBoundingRect().left() >= vb.sceneBoundingRect().right() - 1


def test_the_plane_keeps_its_points_on_the_heatmap(dock):
    xs = np.random.default_rng(2).uniform(-1, 1, (50, 2))
    classes = (np.add.outer(np.arange(32), np.arange(32)) > 32).astype(int)
    feed(dock, event("decision boundary", "heatmap", classes, extent=[-1.2, 1.2, -1.2, 1.2],
                     classes=2, confidence=np.full((32, 32), 0.9)),
         event("validation points", "points", xs, (xs.sum(1) > 0).astype(int)), tab=0)
    panel = dock.picture
    assert panel.shown == "plane" and panel.picker.keys() == ["decision boundary"]
    page = panel.page("plane")
    assert page.image.image.shape[:2] == (32, 32)
    assert sum(len(page.scatters[f"validation points#{k}"].data) for k in (0, 1)) == 50


def test_a_curve_with_its_axis_names(dock):
    history = np.stack([np.arange(1, 6) * 100.0, 300 / np.arange(1, 6)], 1)
    feed(dock, event("Fréchet distance", "curve", history, x_label="step", y_label="FID"))
    page = dock.samples.page("curve")
    x, y = page.curve.getData()
    assert np.allclose(x, history[:, 0]) and np.allclose(y, history[:, 1])
    item = page.plot.getPlotItem()
    assert item.getAxis("bottom").labelText == "step"
    assert item.getAxis("left").labelText == "FID"


def test_bars_name_every_bar_and_draw_the_reference(dock):
    values = np.linspace(0.01, 0.1, 12)
    feed(dock, event("unit activation vs ρ", "bars", values, [str(i) for i in range(12)],
                     reference=0.05))
    page = dock.samples.page("bars")
    assert page.upright and np.allclose(page.bars.opts["height"], values)
    assert ticks(page.axes["bottom"]) == [str(i) for i in range(12)]  # every bar named
    assert page.line.isVisible() and page.line.value() == pytest.approx(0.05)
    assert page.line.pen.style() == Qt.DashLine
    assert ticks(page.axes["right"]) == ["ρ = 0.05"]  # written outside the bars


def test_many_bars_thin_their_names_out_instead_of_overlapping(dock):
    feed(dock, event("unit activation vs ρ", "bars", np.ones(64), [str(i) for i in range(64)]))
    page = dock.samples.page("bars")
    written = ticks(page.axes["bottom"])
    assert 2 <= len(written) < 64 and written[0] == "0"
    pitch = page.axes["bottom"].width() / 64 * (64 // len(written))
    metrics = QFontMetricsF(caption_font())
    assert all(metrics.horizontalAdvance(t) < pitch for t in written)
    assert not page.line.isVisible()


def test_long_names_lay_the_bars_down_and_every_class_is_named(dock):
    shares = np.random.default_rng(3).dirichlet(np.ones(10))
    feed(dock, event("generated classes", "bars", shares, NAMES, reference=0.1))
    page = dock.samples.page("bars")
    assert not page.upright and np.allclose(page.bars.opts["width"], shares)
    assert sorted(ticks(page.axes["left"])) == sorted(NAMES)
    assert ticks(page.axes["top"]) == ["reference = 0.1"]
    assert page.line.angle == 90


def test_histogram_outlines_one_group_each_with_the_highlight_standing_out(dock):
    rng = np.random.default_rng(4)
    groups = [rng.gamma(2 + 3 * (i == 3), 0.01, 100 + 10 * i) for i in range(10)]
    feed(dock, event("reconstruction error by class", "histogram", groups, NAMES,
                     highlight=3))
    page = dock.samples.page("histogram")
    drawn = [c for c in page.curves if c.getData()[0] is not None and len(c.getData()[0])]
    assert len(drawn) == 10 and len(page.shares) == 10
    assert all(s.sum() == pytest.approx(1.0) for s in page.shares)  # the tail is kept
    assert drawn[0].opts["stepMode"] == "center"
    widths = [c.opts["pen"].widthF() for c in drawn]
    assert widths[3] > max(w for i, w in enumerate(widths) if i != 3)
    assert page.legend.names[3] == "<b>dress</b>" and page.legend.names[0] == "T-shirt"
    vb = page.plot.getPlotItem().vb
    assert page.legend.item.sceneBoundingRect().left() >= vb.sceneBoundingRect().right() - 1


def test_text_samples_mark_right_and_wrong(dock):
    feed(dock, event("greedy decoding", "text", ["abc → cba (cba)", "ab → ab (ba)"],
                     correct=np.array([True, False])))
    text = dock.samples.page("text").widget.toPlainText()
    assert dock.samples.shown == "text" and dock.samples.plot is None
    assert text.splitlines() == ["— Greedy decoding · epoch 3 —", "✓ abc → cba (cba)",
                                 "✗ ab → ab (ba)"]
    # Lines the recipe marked itself (tokens.text_line) get no second mark: "✓ ✓" before.
    feed(dock, event("greedy decoding", "text", ["✓ abc → cba (cba)", "✗ ab → ab (ba)"],
                     correct=np.array([True, False]), step=400))
    text = dock.samples.page("text").widget.toPlainText()
    assert text.splitlines()[1:] == ["✓ abc → cba (cba)", "✗ ab → ab (ba)"]


def autoencoder_views(epoch: int = 2, step: int = 300) -> list[Samples]:
    rng = np.random.default_rng(5)
    return [
        event("reconstructions", "images", images(9), cols=3, epoch=epoch, step=step),
        event("latent space", "points", rng.normal(size=(30, 2)),
              np.arange(30) % 3, names=["a", "b", "c"], epoch=epoch, step=step),
        event("unit activation vs ρ", "bars", np.ones(4), ["0", "1", "2", "3"],
              reference=0.05, epoch=epoch, step=step),
    ]


def test_the_picker_lists_every_view_and_keeps_the_users_choice(dock):
    feed(dock, *autoencoder_views())
    panel = dock.samples
    assert panel.header.isVisible()
    assert panel.picker.keys() == ["reconstructions", "latent space", "unit activation vs ρ"]
    assert panel.current == "reconstructions" and panel.shown == "images"
    live = dock.picture
    feed(dock, tab=0)
    assert live.current == "latent space" and live.shown == "points"  # the plane first

    dock.tabs.setCurrentIndex(SAMPLES_TAB)
    index = panel.picker.findData("unit activation vs ρ")
    panel.picker.setCurrentIndex(index)
    panel.picker.activated.emit(index)
    assert panel.shown == "bars"
    assert "Unit activation vs ρ" in panel.plot.getPlotItem().titleLabel.text
    feed(dock, *autoencoder_views(epoch=3, step=400))  # the next epoch's pictures
    assert panel.current == "unit activation vs ρ" and panel.shown == "bars"
    assert panel.plot.getPlotItem().titleLabel.text == "Unit activation vs ρ · epoch 4"


def test_a_new_stage_shows_its_own_picture_not_the_last_stages(dock):
    from runtime.events import StageStarted

    feed(dock, event("source predictions", "images", images(4), step=100, epoch=0))
    panel = dock.samples
    assert panel.current == "source predictions"
    feed(dock, StageStarted(120, 1, 1, "fine-tune", {"main": ["logits"]}, 2, 2, "fine_tune"),
         event("predictions", "images", images(4), step=130, epoch=1))
    assert panel.picker.keys() == ["source predictions", "predictions"]
    assert panel.current == "predictions"  # the pre-training's picture is the past
    # the stage's mark on the plots: what trains, and in which batches when it has its own
    feed(dock, StageStarted(200, 2, 2, "denoisers", {"base": ["unet"]}, 2, 3, "imagen", 16))
    marks = dock.series.marks
    assert marks[-2][2] == "stage 2 of 2 (fine_tune) trains main: logits"
    assert marks[-1][1:] == ("stage 3: denoisers",
                             "stage 3 of 3 (imagen) trains base: unet in batches of 16")


def test_a_new_run_clears_the_picker_and_the_titles(dock):
    feed(dock, *autoencoder_views())
    panel = dock.samples
    panel.picker.activated.emit(2)
    dock.set_series(RunSeries())
    assert panel.picker.count() == 0 and not panel.header.isVisible()
    assert panel.shown == "" and panel.panel.hint.isVisible()
    for kind in ("images", "points", "bars"):
        assert panel.page(kind).title.text == "Samples"
    feed(dock, event("generated images", "images", images(4)))
    assert panel.picker.keys() == ["generated images"] and panel.current == "generated images"
    assert not panel.header.isVisible()  # one view: nothing to choose


def test_the_wheel_leaves_an_unfocused_picker_alone(dock):
    feed(dock, *autoencoder_views())
    picker = dock.samples.picker
    assert not picker.hasFocus() and picker.focusPolicy() == Qt.StrongFocus
    before = picker.currentIndex()
    wheel = QWheelEvent(QPointF(5, 5), QPointF(picker.mapToGlobal(QPoint(5, 5))), QPoint(0, 0),
                        QPoint(0, -120), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(picker, wheel)
    assert picker.currentIndex() == before and dock.samples.shown == "images"


def test_pictures_sent_more_than_once_an_epoch_are_titled_by_step(dock):
    curve = np.array([[0.0, 1.0], [1.0, 2.0]])
    feed(dock, event("fit", "curve", curve, epoch=0, step=50))
    title = dock.samples.plot.getPlotItem().titleLabel
    assert title.text == "Fit · epoch 1"
    feed(dock, event("fit", "curve", curve, epoch=0, step=100))
    assert title.text == "Fit · step 100"


def test_a_long_title_fits_a_narrow_panel(dock):
    name = "reconstruction error by class, held-out digit"
    feed(dock, event(name, "histogram", [np.ones(5), np.zeros(5)], ["a", "b"], highlight=0))
    dock.resize(520, 420)
    QApplication.processEvents()
    plot = dock.samples.plot.getPlotItem()
    text = plot.titleLabel.text
    assert QFontMetricsF(caption_font()).horizontalAdvance(text) <= plot.vb.width()
    assert "epoch 3" in text or text.startswith("Reconstruction")


def test_an_unchanged_picture_is_not_drawn_again(dock, monkeypatch):
    feed(dock, event("generated images", "images", images(4)))
    page = dock.samples.page("images")
    calls = []
    monkeypatch.setattr(page.image, "setImage", lambda *a, **k: calls.append(a))
    dock.refresh(force=True)
    dock.series.add(event("loss curve", "curve", np.zeros((2, 2))))  # another view arrives
    dock.refresh(force=True)
    assert calls == [] and dock.samples.min_interval == 0.5


@pytest.mark.parametrize("kind", ["images", "points", "curve", "bars", "histogram", "text"])
def test_every_kind_renders(dock, kind, tmp_path):
    rng = np.random.default_rng(6)
    data = {"images": (images(6), None, {"cols": 3, "columns": ["a", "b", "c"]}),
            "points": (rng.normal(size=(40, 2)), np.arange(40) % 2, {"names": ["x", "y"]}),
            "curve": (np.stack([np.arange(5.0), np.arange(5.0) ** 2], 1), None, {}),
            "bars": (np.arange(1.0, 6.0), list("abcde"), {"reference": 2.5}),
            "histogram": ([rng.normal(size=50), rng.normal(1, 1, 50)], ["p", "q"],
                          {"highlight": 1}),
            "text": (["one", "two"], None, {})}[kind]
    feed(dock, event(f"a {kind} view", kind, data[0], data[1], **data[2]))
    path = tmp_path / f"pictures_{kind}.png"
    assert dock.samples.grab().save(str(path))
    picture = QImage(str(path))
    assert len({picture.pixel(x, y) for x in range(0, picture.width(), 7)
                for y in range(0, picture.height(), 7)}) > 3  # something was drawn


def test_pictures_keep_up_with_a_fast_run_however_busy_the_dock(dock):
    # Before: at the dock's slowest pace a picture redrew once a second, and the decision
    # boundary of a fast run lagged 24 epochs behind it.
    import time

    from app.training.dock import MAX_PACE

    dock.show()
    dock.tabs.setCurrentIndex(0)  # the Live tab: the predictions picture
    drawn, start, epoch = set(), time.perf_counter(), 0
    while time.perf_counter() - start < 1.2:
        dock.pace = MAX_PACE  # as slow as the dock ever gets
        dock.series.add(event("decision boundary", "heatmap", np.zeros((4, 4)),
                              extent=(0, 1, 0, 1), epoch=epoch, step=epoch * 10))
        dock.refresh()
        drawn.add(dock.picture._stamps.get("decision boundary"))
        epoch += 1
        time.sleep(0.02)
    assert len(drawn - {None}) >= 3


def test_a_legend_moves_off_the_curves_to_the_emptiest_corner(dock):
    # A metric that falls from the top left to the bottom right: the metrics legend starts
    # bottom right, on the curve's end, and moves to the top right, where no curve is.
    from runtime.events import StepMetrics

    dock.show()
    dock.tabs.setCurrentIndex(0)
    panel = dock.metrics
    assert panel._corner == (1, 0)
    for step in range(1, 200):
        dock.series.add(StepMetrics(step, 0, {"loss": 1.0, "mse": 2.0 / step}))
    dock.refresh(force=True)
    QApplication.processEvents()
    dock.refresh(force=True)  # the legend's size is known once it is drawn
    assert panel._corner == (1, 1)
    legend = panel.plot.getPlotItem().legend.sceneBoundingRect()
    view = panel.plot.getPlotItem().vb.sceneBoundingRect()
    assert legend.top() < view.center().y()  # drawn in the upper half now
