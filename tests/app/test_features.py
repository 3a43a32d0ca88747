"""Summary and CSV, quick fixes, shortcuts list, snapping, networks, themes, screenshot."""

import csv

from gui_helpers import drag, node_view_pos
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from app.canvas.edits import fitting_blocks
from app.screenshot import screenshot
from app.shortcuts_dialog import ShortcutsDialog, shortcut_rows
from app.summary import HEADER, SummaryDialog, summary_rows, write_csv
from builder.commands import SetParams
from builder.problems import Code


def test_summary_table_and_csv_export(window, tmp_path):
    stats = window.model.stats("main")
    rows = summary_rows(stats)
    assert [r[0] for r in rows] == ["x", "hidden1", "relu1", "hidden2", "relu2", "logits", "y"]
    # a flat vector has no receptive field: the column stays blank
    assert rows[1] == ("hidden1", "Linear", "[32]", 96, 96, 2 * 2 * 32, None)
    dialog = SummaryDialog("main", stats, window)
    assert dialog.table.rowCount() == 7
    assert dialog.table.item(1, 3).text() == "96"
    path = write_csv(tmp_path / "summary.csv", rows)
    with path.open() as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == HEADER
    assert table[2][:4] == ["hidden1", "Linear", "[32]", "96"]


def test_quick_fix_inserts_an_embedding_as_one_undoable_step(window):
    m = window.model
    m.do(SetParams("main", "x", {"kind": "tokens", "shape": [12]}))
    problem = next(p for p in m.report("main").problems if p.code == Code.PORT_KIND)
    assert problem.fix["insert"] == "Embedding"
    panel = window.problems
    row = next(i for i in range(panel.tree.topLevelItemCount())
               if panel.tree.topLevelItem(i).data(0, 256) is problem or
               "fix: Insert Embedding" in panel.tree.topLevelItem(i).text(3))
    panel.tree.setCurrentItem(panel.tree.topLevelItem(row))
    assert panel.fix_button.isEnabled() and "Embedding" in panel.fix_button.text()
    panel.fix_button.click()
    net = m.project.networks["main"]
    emb = [n for n in net.nodes.values() if n.block == "Embedding"]
    assert len(emb) == 1
    assert not any(p.code == Code.PORT_KIND for p in m.report("main").problems)
    assert m.document.undo_text == "Insert Embedding"
    m.undo()
    assert not any(n.block == "Embedding" for n in net.nodes.values())


def test_shortcuts_are_listed_from_the_real_actions(window):
    rows = dict(shortcut_rows(window.acts))
    assert rows["Ctrl+Z"].startswith("Undo")
    assert any(k.startswith("Ctrl+Shift+Z") for k in rows)
    assert rows["F"] == "Fit view"
    assert "Tab or Space" in rows
    dialog = ShortcutsDialog(window.acts, window)
    assert dialog.table.rowCount() == len(shortcut_rows(window.acts))


def test_grid_snapping_rounds_dragged_positions(window):
    window.acts["snap"].trigger()
    view = window.current_view()
    assert view.snap
    a = node_view_pos(view, "relu1")
    drag(view, a, a + QPoint(37, 53))
    x, y = window.model.project.networks["main"].nodes["relu1"].pos
    assert x % 20 == 0 and y % 20 == 0
    window.acts["snap"].trigger()
    assert not view.snap


def test_networks_tabs_follow_add_rename_remove_and_paste_between_them(window, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("decoder", True))
    window.acts["add_network"].trigger()
    assert window.tabs.count() == 2 and "decoder" in window.views
    assert window.current_view() is window.views["decoder"]
    main_view = window.views["main"]
    main_view.scene().select_nodes(["hidden1", "relu1"])
    assert main_view.copy()
    pasted = window.views["decoder"].paste()
    assert len(pasted) == 2
    assert set(pasted) <= set(window.model.project.networks["decoder"].nodes)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("dec", True))
    window.acts["rename_network"].trigger()
    assert "dec" in window.views and window.tabs.tabText(window.tabs.currentIndex()) == "dec"
    assert len(window.views["dec"].scene().nodes) == 4
    window.acts["remove_network"].trigger()
    assert list(window.views) == ["main"] and window.tabs.count() == 1
    window.model.undo()
    assert "dec" in window.views


def test_theme_switch_repaints_without_error(window):
    window.acts["theme_light"].trigger()
    window.current_view().viewport().repaint()
    window.acts["theme_dark"].trigger()
    window.current_view().viewport().repaint()


def test_minimap_click_moves_the_view(window, qtbot):
    from big_network import big_project

    window.model.replace(big_project(200))
    view = window.current_view()
    view.resetTransform()
    qtbot.waitUntil(view.minimap.isVisible, timeout=2000)
    mini = view.minimap
    before = view.mapToScene(view.viewport().rect().center())
    target = mini.to_map(view.scene().nodes["y"].sceneBoundingRect().center()).toPoint()
    from gui_helpers import send_mouse
    from PySide6.QtGui import QMouseEvent

    send_mouse(mini, QMouseEvent.Type.MouseButtonPress, target)
    send_mouse(mini, QMouseEvent.Type.MouseButtonRelease, target)
    after = view.mapToScene(view.viewport().rect().center())
    goal = view.scene().nodes["y"].sceneBoundingRect().center()
    assert (after - before).manhattanLength() > 500  # it moved, to where was clicked
    assert abs(after.x() - goal.x()) < 40 and abs(after.y() - goal.y()) < 40


def test_minimap_shows_exactly_while_the_graph_does_not_fit(window, qtbot):
    # Before, it appeared from 30 blocks on, whatever the zoom: never for a zoomed-in LeNet.
    view = window.current_view()
    view.fit()
    qtbot.waitUntil(lambda: not view.minimap.isVisible(), timeout=2000)
    view.zoom_by(4.0)
    assert view.minimap.isVisible()
    view.fit()
    assert not view.minimap.isVisible()
    window.acts["minimap"].trigger()  # switched off: never shown
    view.zoom_by(4.0)
    assert not view.minimap.isVisible()
    window.acts["minimap"].trigger()
    assert view.minimap.isVisible()


def test_fitting_blocks_filters_by_kind_and_shape():
    fits = fitting_blocks((3, 32, 32), "tensor")
    assert {"Conv2d", "ReLU", "MaxPool2d", "Flatten"} <= fits
    assert "Embedding" not in fits
    ids = fitting_blocks((12,), "index")
    assert "Embedding" in ids and "Linear" not in ids


def test_screenshot_writes_the_png(tmp_path, qapp):
    out = tmp_path / "shot.png"
    assert screenshot("resources/templates/mlp.loom", str(out), (900, 600)) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


def test_screenshot_of_a_missing_file_fails_with_a_message(tmp_path, qapp, capsys):
    assert screenshot(str(tmp_path / "nope.loom"), str(tmp_path / "x.png"), (800, 600)) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_ctrl_f_finds_a_block_by_name_or_type_and_jumps_to_it(window, qtbot):
    from builder.gallery import template_path
    from builder.serialize import load

    window.model.replace(load(template_path("lenet")), None)
    view = window.current_view()
    view.fit()
    QTest.keyClick(window, Qt.Key_F, Qt.ControlModifier)
    finder = window.finder
    assert finder.isVisible() and finder.list.count() == 14  # every block, before typing
    QTest.keyClicks(finder.search, "pool")  # type names: pool1, pool2 (AvgPool2d)
    assert [finder.list.item(i).text().split()[0] for i in range(finder.list.count())] == [
        "pool1", "pool2"]
    QTest.keyClick(finder.search, Qt.Key_Down)
    QTest.keyClick(finder.search, Qt.Key_Return)
    assert not finder.isVisible()
    assert view.scene().selected_node_ids() == ["pool2"]
    centre = view.mapToScene(view.viewport().rect().center())
    assert view.scene().nodes["pool2"].sceneBoundingRect().adjusted(-80, -80, 80, 80).contains(
        centre)
    window.find_node()
    QTest.keyClicks(finder.search, "nothing like it")
    assert finder.list.count() == 0 and finder.empty.isVisibleTo(finder)
    QTest.keyClick(finder.search, Qt.Key_Escape)
    assert not finder.isVisible()


def _open(window, name):
    from builder.gallery import template_path
    from builder.serialize import load

    window.model.replace(load(template_path(name)), None)
    window.fit_all()
    return window.current_view()


def test_templates_open_with_readable_block_titles(window, qtbot):
    # Before: LeNet in one long row fitted at about 7 px titles, AlexNet unreadable.
    from PySide6.QtGui import QFontInfo

    from app.canvas.node_item import fonts
    from app.canvas.view import TITLE_PX

    title_px = QFontInfo(fonts()["title"]).pixelSize()
    window.resize(1600, 1000)
    for name in ("lenet", "resnet_small", "alexnet"):
        view = _open(window, name)
        assert view.zoom * title_px >= TITLE_PX - 0.01, name
        visible = view.mapToScene(view.viewport().rect()).boundingRect()
        first = view.scene().nodes[next(iter(view.scene().net.nodes))]
        assert visible.contains(first.sceneBoundingRect()), name  # the data's way in shows
        fits = visible.contains(view.scene().nodes_rect())
        assert view.minimap.isVisible() == (not fits), name
    assert fits is False  # AlexNet's 25 blocks: readable start, the minimap for the rest
    view = _open(window, "lenet")
    assert view.scene().nodes_rect().height() > 2 * 100  # wrapped into bands


def test_a_tab_behind_another_is_fitted_when_first_shown(window, qtbot):
    # Before: gan_2d's discriminator tab opened as blank boxes (fitted while hidden).
    from builder.gallery import template_path

    window.resize(1600, 1000)
    assert window.files.open_path(template_path("gan_2d"), confirm=False)
    window.fit_all()
    window.tabs.setCurrentIndex(1)
    view = window.current_view()
    qtbot.waitUntil(lambda: view.zoom > 0.9, timeout=2000)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.scene().nodes_rect())


def test_the_right_docks_take_the_full_height(window, qtbot):
    # Before: the training dock spanned the whole width and left the inspector and the
    # training setup about 40 % of the height, so both scrolled all the time.
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    inspector = next(d for d in window.docks if d.objectName() == "Inspector")
    training = window.training.train_dock
    assert inspector.height() > 0.75 * window.height()
    assert training.geometry().right() < inspector.geometry().left()
