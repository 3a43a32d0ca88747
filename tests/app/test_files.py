"""Files: untitled start, save, reopen and compare, dirty marker, close prompt, autosave and
recovery, recent files, dropping a .loom file on the window, the start page."""

from pathlib import Path

from gui_helpers import drag, port_view_pos
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app import settings
from app.autosave import Autosaver, leftovers
from builder.commands import SetParams
from builder.document import Edge
from builder.serialize import load, to_dict


def test_starts_as_an_untitled_copy_of_the_mlp_example(window):
    assert window.model.path is None
    # Named after the example it copies, and saying it is not saved anywhere yet.
    assert window.windowTitle().startswith("Multilayer perceptron on spirals (unsaved copy)")
    assert not window.isWindowModified()
    assert set(window.model.project.networks["main"].nodes) >= {"x", "hidden1", "y"}


def test_save_asks_for_a_name_then_reopen_compares_equal(window, tmp_path):
    view = window.current_view()
    drag(view, port_view_pos(view, "x", "y", False), port_view_pos(view, "hidden2", "x", True))
    window.model.do(SetParams("main", "hidden1", {"units": 20}))
    assert window.isWindowModified()
    target = tmp_path / "mine"
    asked = []
    window.files.ask_save_path = lambda: asked.append(1) or str(target)
    window.acts["save"].trigger()
    assert asked  # untitled: Save behaves as Save As
    saved = tmp_path / "mine.loom"
    assert saved.is_file()
    assert window.model.path == saved.resolve()
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("mine.loom")
    window.go_to("main", "x")
    window.current_view().scene().select_nodes([])  # the inspector shows the network
    assert window.inspector.subtitle.text().startswith("mine.loom · ")  # named everywhere
    assert str(saved.resolve()) == settings.recent_files()[0]
    before = to_dict(window.model.project)
    window.model.do(SetParams("main", "hidden1", {"units": 7}))
    window.files.ask_save = lambda: "discard"
    assert window.files.open_path(saved)
    assert to_dict(window.model.project) == before
    assert to_dict(load(saved)) == before
    assert Edge("x", "y", "hidden2", "x") in window.current_view().scene().edges
    window.model.do(SetParams("main", "hidden1", {"units": 9}))
    window.acts["save"].trigger()  # has a name now: no question
    assert load(saved).networks["main"].nodes["hidden1"].params["units"] == 9


def test_close_with_unsaved_changes_asks_and_cancel_keeps_the_window(window):
    window.model.do(SetParams("main", "hidden1", {"units": 5}))
    answers = []
    window.files.ask_save = lambda: answers.append("asked") or "cancel"
    event = QCloseEvent()
    window.closeEvent(event)
    assert answers and not event.isAccepted()
    window.files.ask_save = lambda: "discard"
    event = QCloseEvent()
    window.closeEvent(event)
    assert event.isAccepted()


def test_clean_close_does_not_ask(window):
    window.files.ask_save = lambda: (_ for _ in ()).throw(AssertionError("asked"))
    event = QCloseEvent()
    window.closeEvent(event)
    assert event.isAccepted()


def test_open_a_broken_file_shows_the_error_and_keeps_the_project(window, tmp_path):
    bad = tmp_path / "bad.loom"
    bad.write_text("{ not json")
    before = to_dict(window.model.project)
    assert not window.files.open_path(bad)
    assert "not valid JSON" in window.errors[-1]
    assert to_dict(window.model.project) == before


def test_drop_a_loom_file_on_the_window_opens_it(window, tmp_path):
    path = tmp_path / "dropped.loom"
    project = load(Path("resources/templates/mlp.loom"))
    project.networks["main"].nodes["hidden1"].params["units"] = 11
    from builder.serialize import save

    save(project, path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(QPointF(50, 50), Qt.CopyAction, mime,
                                              Qt.LeftButton, Qt.NoModifier))
    assert window.model.path == path.resolve()
    assert window.model.project.networks["main"].nodes["hidden1"].params["units"] == 11


def test_autosave_writes_a_recovery_file_offered_after_a_crash(window, tmp_path):
    saver = Autosaver(window.model, window, folder=tmp_path, interval_ms=60_000)
    assert saver.timer.interval() == 60_000
    assert not saver.save_now()  # nothing unsaved: nothing written
    window.model.do(SetParams("main", "hidden1", {"units": 13}))
    assert saver.save_now()
    assert saver.file.is_file()
    # Pretend the file was left by a process that died: rename it to a dead pid.
    dead = tmp_path / "autosave-999999999.loom"
    saver.file.rename(dead)
    saver.file.with_suffix(".json").rename(dead.with_suffix(".json"))
    found = leftovers(tmp_path)
    assert [r.file for r in found] == [dead]
    window.files.new_blank(confirm=False)
    assert window.files.recover(found[0])
    assert window.model.project.networks["main"].nodes["hidden1"].params["units"] == 13
    assert window.model.dirty  # recovered work is unsaved work
    assert not dead.exists()


def test_start_page_cards_and_blank_project(window):
    window.acts["new"].trigger()
    assert window.stack.currentWidget() is window.start_page
    assert "mlp" in window.start_page.cards
    window.start_page.blank_chosen.emit()
    assert window.stack.currentWidget() is window.tabs
    assert {n.block for n in window.model.project.networks["main"].nodes.values()} == {
        "Input", "Output"}
    assert any("not connected" in p.message for p in window.problems.problems)
    window.acts["new"].trigger()
    window.start_page.cards["mlp"].click()
    assert "hidden1" in window.model.project.networks["main"].nodes
    assert window.model.path is None
    assert "press Train (F5)" in window.status_text.text()  # what to do first


def test_start_page_groups_the_gallery_with_a_thumbnail_per_example(window):
    from PySide6.QtWidgets import QLabel

    from app.start_page import section_of, thumbnail
    from builder.gallery import templates

    gallery = {t.name: t for t in templates()}
    assert section_of(gallery["mlp"]) == "First networks"
    assert section_of(gallery["lenet"]) == "Images and CNNs"
    assert section_of(gallery["dcgan"]) == "GANs"
    assert section_of(gallery["vae"]) == "Autoencoders"
    headings = [w.text() for w in window.start_page.findChildren(QLabel)
                if w.property("role") == "heading"]
    assert any(h.startswith("GANs") for h in headings)
    assert set(window.start_page.cards) == set(gallery)
    # The thumbnail draws the blocks: LeNet's 14 leave many pixels unlike the background.
    image = thumbnail(gallery["lenet"]).toImage()
    background = image.pixelColor(0, 0)
    drawn = sum(image.pixelColor(x, y) != background
                for x in range(0, image.width(), 2) for y in range(0, image.height(), 2))
    assert drawn > 60


def _drop_file(window, path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(200, 200), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    return event


def test_a_screenshot_dropped_on_the_window_opens_its_project(window, tmp_path, monkeypatch):
    from PIL import Image

    from app.screenshot import screenshot
    from builder.gallery import template_path
    from builder.serialize import load

    out = tmp_path / "shot.png"
    assert screenshot(str(template_path("lenet")), str(out), (900, 600)) == 0
    window.files.ask_save = lambda: "discard"
    assert _drop_file(window, out).isAccepted()
    assert to_dict(window.model.project) == to_dict(load(template_path("lenet")))
    assert window.model.path is None  # an unsaved copy: saving asks for a name
    assert "the project in shot.png" in window.windowTitle()
    # A picture Layerloom did not make: said so, nothing changes.
    errors = []
    monkeypatch.setattr(window.files, "show_error", lambda t, m: errors.append(m))
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    before = to_dict(window.model.project)
    _drop_file(window, tmp_path / "plain.png")
    assert "holds no Layerloom project" in errors[0]
    assert to_dict(window.model.project) == before
