"""The ``tree`` picture: a real TrainingDock fed tree samples draws every node with its text
and value, the edges, the answer at each root; the chooser shows one tree or several; a real
training of the recursive template sends a tree the dock draws."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from training_helpers import open_dock

from app.training.plots.tree import ALL, TreeView, answer_text, arrange, tree_layout
from builder.gallery import template_path
from builder.serialize import load
from runtime.events import Samples
from runtime.trainer import Trainer, Watch

SAMPLES_TAB = 2

# (2+(3-1)) in post-order, and the single digit 7
SUM = {"labels": ["2", "3", "1", "-", "+"], "left": np.array([-1, -1, -1, 1, 0]),
       "right": np.array([-1, -1, -1, 2, 3]), "root": 4,
       "values": np.array([2, 3, 1, 2, 4], np.float32)}
SEVEN = {"labels": ["7"], "left": np.array([-1]), "right": np.array([-1]), "root": 0,
         "values": np.array([7], np.float32)}


def trees(*data, predicted=(3.6, 7.0), truth=(4.0, 7.0), classes=False) -> Samples:
    return Samples(300, 2, "trees", "tree", list(data), ["(2+(3-1))", "7"][:len(data)],
                   {"predicted": np.array(predicted[:len(data)], np.float32),
                    "truth": np.array(truth[:len(data)], np.float32), "classes": classes})


@pytest.fixture
def dock(qtbot):
    return open_dock(qtbot, 1400, 520)


def feed(dock, *events) -> TreeView:
    dock.tabs.setCurrentIndex(SAMPLES_TAB)
    for e in events:
        dock.series.add(e)
    dock.refresh(force=True)
    QApplication.processEvents()
    assert dock.samples.shown == "tree"
    return dock.samples.page("tree")


def visible(pool) -> list[str]:
    return [item.textItem.toPlainText() for item in pool if item.isVisible()]


def test_the_view_draws_every_node_edge_value_and_the_answer(dock):
    page = feed(dock, trees(SUM, SEVEN))
    page.choose(0)
    assert page.shown_trees == [0]
    assert page.nodes.data.shape[0] == 5 and page.shown_labels == SUM["labels"]
    assert visible(page.labels) == ["2", "3", "1", "−", "+"]  # operators as printed
    assert visible(page.values) == ["2", "4"]  # the digits are their own values
    x, y = page.edges.getData()
    assert len(x) == 2 * 4  # four parent–child pairs
    assert visible(page.answers) == ["predicted 3.6 · true 4"]
    title = dock.samples.plot.getPlotItem().titleLabel.text
    assert title.startswith("Trees · epoch 3") and "mean error" in title
    # the root is on top, over the middle of its children
    root = max(range(5), key=lambda i: page.labels[i].pos().y())
    assert root == 4 and page.labels[4].pos().x() == pytest.approx(
        (page.labels[0].pos().x() + page.labels[3].pos().x()) / 2)


def test_side_by_side_draws_both_trees_and_the_chooser_picks_one(dock):
    page = feed(dock, trees(SUM, SEVEN))
    assert page.chooser.isVisible() and page.chooser.currentData() == ALL
    assert page.chooser.itemText(1) == "1: (2+(3-1))"
    assert page.shown_trees == [0, 1] and page.nodes.data.shape[0] == 6
    assert visible(page.answers) == ["predicted 3.6 · true 4", "predicted 7 · true 7"]
    page.choose(1)
    assert page.shown_labels == ["7"] and visible(page.values) == []
    dock.series.add(trees(SUM, SEVEN, predicted=(4.0, 6.0)))  # the next epoch keeps the choice
    dock.refresh(force=True)
    assert page.chooser.currentData() == 1 and visible(page.answers) == ["predicted 6 · true 7"]


def test_a_narrow_panel_shows_the_trees_that_fit_and_says_so(dock):
    dock.resize(420, 300)
    QApplication.processEvents()
    page = feed(dock, trees(*[SUM] * 2, SEVEN, SUM, SUM, predicted=(1,) * 5, truth=(1,) * 5))
    assert 1 <= len(page.shown_trees) < 5
    assert "of 5 trees fit" in dock.samples.plot.getPlotItem().titleLabel.text


def test_layout_arrangement_and_answers():
    xs, depth = tree_layout(SUM["left"], SUM["right"], 4)
    assert depth.tolist() == [1, 2, 2, 1, 0] and xs[4] == (xs[0] + xs[3]) / 2
    assert xs[:3].tolist() == [0, 1, 2]  # the leaves in reading order
    assert arrange([(3, 3)] * 6, 1200, 400)[0] >= 3  # wide: several a row
    assert arrange([(3, 3)] * 6, 150, 900)[0] == 1  # tall: one a row
    assert answer_text(7, 7, True) == ("predicted 7 · true 7", True)
    assert answer_text(3.0, 4.5, False)[1] is None and answer_text(0, 9, False)[1] is False


def test_a_real_training_sends_a_tree_the_dock_draws(dock, tmp_path):
    project = load(template_path("recursive_expressions"))
    project.dataset.params["n_samples"] = 200
    project.training.batch_size = 16
    project.training.samples_unit = "end"
    got = []
    Trainer(project, callback=got.append, device="cpu",
            watch=Watch(samples=True)).fit(epochs=1, max_steps=3)
    (sample,) = [e for e in got if isinstance(e, Samples) and e.kind == "tree"]
    page = feed(dock, sample)
    drawn = sum(len(sample.data[i]["labels"]) for i in page.shown_trees)
    assert page.nodes.data.shape[0] == len(page.shown_labels) == drawn > 0
    path = tmp_path / "trees.png"
    assert dock.samples.grab().save(str(path))
    picture = QImage(str(path))
    assert len({picture.pixel(x, y) for x in range(0, picture.width(), 7)
                for y in range(0, picture.height(), 7)}) > 3
