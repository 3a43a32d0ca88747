"""The lesson dock follows the open project; the start page's search filters its cards."""

from PySide6.QtCore import Qt

from app.lesson_panel import EMPTY, in_front
from builder.lessons import PARTS


def test_an_example_from_the_start_page_shows_its_lesson(window, qtbot):
    window.acts["new"].trigger()
    window.start_page.cards["lenet"].click()
    assert "conv1" in window.model.project.networks["main"].nodes
    assert window.lesson.shown is not None and window.lesson.shown.name == "lenet"
    text = window.lesson.text()
    for head in PARTS:
        assert head in text
    assert "61,706" in text  # the formula with this project's numbers
    # A tab beside the Inspector: the lesson in front now, the Inspector once a block is chosen.
    assert in_front(window.lesson) and not in_front(window.inspector)
    window.current_view().scene().select_nodes(["conv2"])
    assert in_front(window.inspector) and not in_front(window.lesson)


def test_a_saved_copy_keeps_its_lesson_and_a_blank_project_has_none(window, tmp_path):
    assert window.lesson.shown.name == "mlp"  # the window starts on the MLP example
    window.files.save_as(tmp_path / "mine.loom")
    window.files.open_path(tmp_path / "mine.loom", confirm=False)
    assert window.lesson.shown.name == "mlp"  # known by the title the copy keeps
    window.lesson_dock.raise_()
    window.files.new_blank(confirm=False)
    assert window.lesson.shown is None
    assert window.lesson.text() == EMPTY
    assert in_front(window.inspector)  # nothing to read: the Inspector comes forward


def test_the_search_filters_cards_and_hides_empty_sections(window, qtbot):
    page = window.start_page
    window.show_start_page()
    assert page.headings["GANs"].isVisibleTo(page)
    qtbot.keyClicks(page.search, "spirals")
    shown = {n for n, card in page.cards.items() if card.isVisibleTo(page)}
    assert "mlp" in shown and "lenet" not in shown and "dcgan" not in shown
    assert page.headings["First networks"].isVisibleTo(page)
    assert not page.headings["GANs"].isVisibleTo(page)
    # A word only a lesson says finds the card too ("wedges" is in the MLP's lesson).
    page.search.setText("wedges")
    assert page.cards["mlp"].isVisibleTo(page) and not page.cards["vae"].isVisibleTo(page)
    # Every word must match; the cards left close up into the first row.
    page.search.setText("glyph_digits gan")
    shown = {n for n, card in page.cards.items() if card.isVisibleTo(page)}
    assert "dcgan" in shown and "lenet" not in shown
    grid = page._grids[[h for *_, h in page._grids].index(page.headings["GANs"])][0]
    places = sorted(grid.getItemPosition(grid.indexOf(card))[:2]
                    for card in page.cards.values()
                    if card.isVisibleTo(page) and grid.indexOf(card) >= 0)
    columns = max(c for _, c in places) + 1
    assert [r * columns + c for r, c in places] == list(range(len(places)))  # no gaps
    page.search.setText("zebra quokka xylophone")
    assert page.no_match.isVisibleTo(page)
    assert not any(h.isVisibleTo(page) for h in page.headings.values())
    page.search.clear()
    assert all(card.isVisibleTo(page) for card in page.cards.values())
    page.refresh()  # a rebuilt page keeps the search
    qtbot.keyClick(page.search, Qt.Key_A)
    assert page.search.text() == "a"
    page.search.clear()
