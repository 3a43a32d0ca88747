"""My blocks in the palette, driven as a user does: save a group, rename it from the right-click
menu, delete it, restore it; broken entry files are shown, not fatal.

(Named apart from tests/builder/test_library.py: the test folders are not packages, so two
test files with one name cannot be collected in the same run.)"""

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox
from test_groups import group_trio

from app.palette import RenameDialog
from builder import library


def save_group(window, name):
    """The app's own path: select a group, "Save group to library…", type the name."""
    net = window.model.project.networks["main"]
    gid = next((n.id for n in net.nodes.values() if n.block == "Group"), None)
    gid = gid or group_trio(window)
    window.views["main"].scene().select_nodes([gid])
    window.ask_library_name = lambda default: name
    window.acts["save_to_library"].trigger()
    return library.entry_path(name)


def action(menu, text):
    for a in menu.actions():
        if a.text() == text:
            return a
    raise AssertionError(f"no {text!r} in {[a.text() for a in menu.actions()]}")


def when_modal(qtbot, answer):
    """Run ``answer(dialog)`` once the next modal dialog is up; close it if ``answer`` failed,
    so a failing check never leaves the test hanging in the dialog's loop."""
    failures = []

    def look():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(10, look)
            return
        try:
            answer(dialog)
        except BaseException as e:
            failures.append(e)
            dialog.reject()

    QTimer.singleShot(0, look)
    return failures


def type_name(dialog, text):
    dialog.edit.selectAll()
    QTest.keyClick(dialog.edit, Qt.Key_Backspace)
    QTest.keyClicks(dialog.edit, text)


def test_rename_delete_and_restore_a_library_entry(window, qtbot, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    monkeypatch.setenv("LAYERLOOM_LIBRARY", str(lib))
    palette = window.palette
    palette.refresh_library()
    said = []
    palette.message.connect(said.append)
    assert save_group(window, "mlp_trunk").exists()
    other = save_group(window, "other")
    other_bytes = other.read_bytes()
    assert {"mlp_trunk", "other"} <= set(palette.library_items)

    # Rename…: the dialog says why a name will not do while typing, then renames
    menu = palette.context_menu(palette.library_items["mlp_trunk"])
    assert [a.text() for a in menu.actions() if a.text()] == [
        "Rename…", "Delete…", "Restore deleted"]
    seen = {}

    def rename(dialog):
        assert isinstance(dialog, RenameDialog)
        assert "New name for “mlp_trunk” in My blocks:" in [
            label.text() for label in dialog.findChildren(QLabel)]
        for typed, why in [("2nd", "does not start with a digit"),
                           ("OTHER", "already has “other”"), ("", "cannot be empty")]:
            type_name(dialog, typed)
            seen[typed] = dialog.hint.text()
            assert why in dialog.hint.text() and not dialog.ok.isEnabled()
        type_name(dialog, "encoder")
        assert dialog.ok.isEnabled()
        QTest.mouseClick(dialog.ok, Qt.LeftButton)

    failures = when_modal(qtbot, rename)
    action(menu, "Rename…").trigger()
    assert not failures, failures
    assert "Cannot rename “mlp_trunk” to “OTHER”" in seen["OTHER"]
    assert "encoder" in palette.library_items and "mlp_trunk" not in palette.library_items
    assert palette.tree.currentItem() is palette.library_items["encoder"]
    assert (lib / "encoder.loom").exists() and not (lib / "mlp_trunk.loom").exists()
    assert library.load_entry(lib / "encoder.loom").name == "encoder"
    assert other.read_bytes() == other_bytes
    assert said[-1] == "Renamed “mlp_trunk” to “encoder” in My blocks"
    encoder_bytes = (lib / "encoder.loom").read_bytes()

    # the renamed entry is a working block: double-click adds a copy to the canvas
    palette.tree.itemActivated.emit(palette.library_items["encoder"], 0)
    added = window.views["main"].scene().selected_node_ids()
    assert window.model.project.networks["main"].nodes[added[0]].block == "Group"

    # Delete…, cancelled: nothing happens
    when_modal(qtbot, lambda box: box.button(QMessageBox.Cancel).click())
    action(palette.context_menu(palette.library_items["encoder"]), "Delete…").trigger()
    assert (lib / "encoder.loom").exists() and "encoder" in palette.library_items

    # Delete…, confirmed: the question names the entry and says how to get it back
    asked = {}

    def confirm(box):
        asked["text"], asked["more"] = box.text(), box.informativeText()
        next(b for b in box.buttons() if b.text() == "Delete").click()

    for name in ("encoder", "other"):
        failures = when_modal(qtbot, confirm)
        action(palette.context_menu(palette.library_items[name]), "Delete…").trigger()
        assert not failures, failures
        assert name not in palette.library_items and not library.entry_path(name).exists()
    assert asked["text"] == "Delete “other” from My blocks?"
    assert "Restore deleted" in asked["more"] and "Restore deleted" in said[-1]

    # the library is empty, yet My blocks stays so its menu can bring entries back
    head = palette.tree.topLevelItem(0)
    assert head.text(0) == "My blocks" and not head.isHidden() and head.childCount() == 0
    restore = action(palette.context_menu(head), "Restore deleted").menu()
    texts = [a.text() for a in restore.actions()]
    assert [t.split()[0] for t in texts] == ["other", "encoder"]  # newest first
    restore.actions()[1].trigger()
    assert "encoder" in palette.library_items
    assert (lib / "encoder.loom").read_bytes() == encoder_bytes
    assert said[-1] == "Restored “encoder” to My blocks"
    assert [t.name for t in library.trashed()] == ["other"]


def test_a_real_right_click_opens_the_menu_only_on_my_blocks(window, qtbot, tmp_path,
                                                              monkeypatch):
    monkeypatch.setenv("LAYERLOOM_LIBRARY", str(tmp_path / "lib"))
    save_group(window, "trunk")
    palette = window.palette
    tree = palette.tree
    shown = []

    def right_click(item):
        tree.scrollToItem(item)
        pos = tree.visualItemRect(item).center()
        event = QContextMenuEvent(QContextMenuEvent.Mouse, pos, tree.viewport().mapToGlobal(pos))

        def look():
            popup = QApplication.activePopupWidget()
            shown.append([a.text() for a in popup.actions()] if popup else None)
            if popup:
                popup.close()

        QTimer.singleShot(50, look)
        QApplication.sendEvent(tree.viewport(), event)
        qtbot.wait(120)

    right_click(palette.library_items["trunk"])
    assert shown[-1][:2] == ["Rename…", "Delete…"]
    # built-in blocks and their categories cannot be renamed or deleted: no menu at all
    assert palette.context_menu(palette.items["Linear"]) is None
    assert palette.context_menu(palette.items["Linear"].parent()) is None
    right_click(palette.items["Linear"])
    assert shown[-1] is None
    assert palette.context_menu(None) is None


def test_broken_entry_files_are_listed_with_the_reason(window, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    monkeypatch.setenv("LAYERLOOM_LIBRARY", str(lib))
    save_group(window, "good")
    (lib / "half.loom").write_text('{"format": "layerloom", ')
    (lib / "binary.loom").write_bytes(b"\x00\xff<b>")
    (lib / "folder.loom").mkdir()
    palette = window.palette
    palette.refresh_library()
    items = palette.library_items
    assert set(items) == {"good", "half", "binary", "folder"}
    assert items["good"].flags() & Qt.ItemIsDragEnabled
    for name, why in [("half", "not valid JSON"), ("binary", "not a text file"),
                      ("folder", "is a folder")]:
        item = items[name]
        assert not item.flags() & Qt.ItemIsDragEnabled and not item.icon(0).isNull()
        assert "cannot be used" in item.toolTip(0) and why in item.toolTip(0)
    # still renamable and deletable from the menu
    assert palette.context_menu(items["half"]) is not None
    # a double-click says why in the status bar instead of failing
    palette.tree.itemActivated.emit(items["half"], 0)
    assert "Cannot use that block" in window.status_text.text()
