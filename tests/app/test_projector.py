"""The projector: ``embedding`` samples drawn by the real training dock as one point and one
name per word, the query box answering neighbours and analogies on hand-made vectors,
unknown words told in the view, and t-SNE computed off the GUI thread."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from training_helpers import open_dock

from app.training.plots.word_map import pca
from runtime.events import Samples

SAMPLES_TAB = 2
# gender, royalty, youth: king = male + royal, and so on; fillers lie in other directions.
PEOPLE = {"man": (1, 0, 0), "woman": (-1, 0, 0), "king": (1, 1, 0), "queen": (-1, 1, 0),
          "boy": (1, 0, 1), "girl": (-1, 0, 1), "prince": (1, 1, 1), "princess": (-1, 1, 1)}
FILLERS = [f"word{i}" for i in range(32)]


def words_sample(step: int = 100) -> Samples:
    rng = np.random.default_rng(0)
    people = np.array(list(PEOPLE.values()), dtype=np.float32)
    vectors = np.zeros((len(PEOPLE) + len(FILLERS), 8), dtype=np.float32)
    vectors[:len(PEOPLE), :3] = people
    vectors[len(PEOPLE):, 3:] = rng.normal(size=(len(FILLERS), 5))
    words = [*PEOPLE, *FILLERS]
    return Samples(step, 0, "word vectors", "embedding", vectors, words,
                   {"analogies": [("man", "woman", "king", "queen"),
                                  ("boy", "girl", "prince", "princess")],
                    "groups": ["gender"] * len(PEOPLE) + [""] * len(FILLERS)})


@pytest.fixture
def dock(qtbot):
    return open_dock(qtbot, 1400, 520)


@pytest.fixture
def view(dock):
    feed(dock, words_sample())
    return dock.samples.page("embedding")


def feed(dock, *events) -> None:
    dock.tabs.setCurrentIndex(SAMPLES_TAB)
    for e in events:
        dock.series.add(e)
    dock.refresh(force=True)
    QApplication.processEvents()


def ask(qtbot, view, text: str) -> None:
    view.query.clear()
    qtbot.keyClicks(view.query, text)
    qtbot.keyClick(view.query, Qt.Key_Return)


def answers(view) -> list[str]:
    return [view.answers.item(i).data(Qt.UserRole) for i in range(view.answers.count())]


def test_a_sample_draws_one_point_and_one_name_per_word(dock, view):
    assert dock.samples.shown == "embedding"
    drawn = {name: len(item.data) for name, item in view.scatters.items()}
    assert drawn == {"gender": len(PEOPLE), "": len(FILLERS)}
    assert view.labels.words == [*PEOPLE, *FILLERS] and view.xy.shape == (40, 2)
    view.widget.grab()  # paint: names are written where they find room, none over another
    rects = [r for _, r in view.labels.drawn]
    assert len(rects) >= 10
    assert not any(a.intersects(b) for k, a in enumerate(rects) for b in rects[k + 1:])
    assert [view.examples.itemText(i) for i in range(1, view.examples.count())] == [
        "king - man + woman", "prince - boy + girl"]
    # A newer sample of the same words moves the points without flipping the map.
    before = view.xy.copy()
    later = words_sample(200)
    later.data[:] *= -1
    feed(dock, later)
    assert view.sample is later and np.allclose(view.xy, before, atol=1e-5)


def test_a_word_lists_and_marks_its_nearest_neighbours(qtbot, view):
    ask(qtbot, view, "King")
    near = answers(view)
    assert near[0] == "prince" and "king" not in near and len(near) == 8
    assert view.message.text() == "Nearest to King"
    assert view.marks[view.index["king"]] == "query"
    assert view.marks[view.index["prince"]] == "answer"
    assert all(view.marks[view.index[w]] in ("near", "answer") for w in near)
    assert len(view.marked.data) == 9
    view.widget.grab()
    named = {i for i, _ in view.labels.drawn}
    assert {view.index[w] for w in [*near, "king"]} <= named  # marked words: always named
    # Choosing an answer asks about it.
    view.answers.itemActivated.emit(view.answers.item(1))
    assert view.query.text() == near[1] and answers(view)[0] != "prince"


def test_an_analogy_gives_its_answer_and_draws_both_arrows(qtbot, view):
    ask(qtbot, view, "king - man + woman")
    assert answers(view)[0] == "queen"
    assert view.message.text() == "king - man + woman → queen"
    shown = [(line, head) for line, head in view.arrows if head.isVisible()]
    assert len(shown) == 2
    for (line, head), (start, end) in zip(shown, [("man", "woman"), ("king", "queen")]):
        x, y = line.getData()
        assert np.allclose([x[0], y[0]], view.xy[view.index[start]])
        assert np.allclose([x[1], y[1]], view.xy[view.index[end]])
        assert np.allclose([head.pos().x(), head.pos().y()], view.xy[view.index[end]])
    # The examples box asks too; a word alone takes the arrows away.
    view.examples.activated.emit(2)
    assert view.query.text() == "prince - boy + girl" and answers(view)[0] == "princess"
    ask(qtbot, view, "girl")
    assert not any(head.isVisible() for _, head in view.arrows)


def test_unknown_words_and_bad_queries_are_told_in_the_view(qtbot, view):
    ask(qtbot, view, "kingz - man")
    assert view.message.text() == "Not among the 40 words shown: kingz"
    assert view.message.property("role") == "error" and view.side.isVisibleTo(view.widget)
    assert answers(view) == [] and view.marks == {}
    ask(qtbot, view, "king man")
    assert "put + or - between words" in view.message.text()
    ask(qtbot, view, "queen")
    assert view.message.property("role") == "dim" and answers(view)


def test_tsne_is_computed_off_the_gui_thread(qtbot, view):
    pca_xy = view.xy.copy()
    view.projection.setCurrentText("t-SNE")
    assert view.computing and view.message.text() == "Computing t-SNE…"
    assert np.allclose(view.xy, pca_xy)  # the map stays while t-SNE works
    qtbot.waitUntil(lambda: not view.computing, timeout=60_000)
    assert view.message.text() == "" and view.xy.shape == (40, 2)
    assert not np.allclose(view.xy, pca_xy)
    # Pairs stay together: every person is nearer a person than any filler word.
    d = np.linalg.norm(view.xy[:, None] - view.xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (d[:8].argmin(1) < 8).all()
    view.projection.setCurrentText("PCA")  # at once; each axis turned to fit the t-SNE map
    assert not view.computing and np.allclose(np.abs(view.xy), np.abs(pca_xy))


def test_pca_keeps_its_orientation():
    x = np.random.default_rng(1).normal(size=(50, 6))
    first = pca(x)
    assert first.shape == (50, 2)
    assert np.allclose(pca(-x, first), first)
