"""The dataset form's augmentation editor in the real main window: add from the menu, reorder,
edit a param, undo, the preview grid redrawing, and the old augment params shown as a list."""

from training_helpers import choose, type_into

from builder.commands import SetProjectField
from builder.document import DatasetConfig


def _editor(window, qtbot):
    s = window.training.settings
    editor = s.dataset.augment
    qtbot.waitUntil(lambda: not editor.loading, timeout=30_000)
    return s, editor


def _add(editor, title: str) -> None:
    action = next(a for a in editor.add_menu.actions() if a.text() == title)
    action.trigger()


def test_edit_reorder_undo_and_preview(window, qtbot):
    model = window.model
    s = window.training.settings
    assert not s.dataset.augment.isVisibleTo(s)  # the spirals are points, not images
    choose(s.dataset.combo, "glyph_digits")
    type_into(s.dataset.fields["n_samples"], "200")
    s, editor = _editor(window, qtbot)
    assert editor.isVisibleTo(s) and "augment" not in s.dataset.fields
    qtbot.waitUntil(lambda: editor.redraws >= 1, timeout=10_000)
    assert not editor.preview.pixmap().isNull()
    assert editor.preview.pixmap().width() > 100

    _add(editor, "Rotate")
    assert model.project.dataset.augment == [{"op": "rotate", "degrees": 15.0, "p": 1.0}]
    assert model.document.undo_text.startswith("Change")
    _add(editor, "Gaussian noise")
    assert [op["op"] for op in model.project.dataset.augment] == ["rotate", "noise"]
    assert editor.list.currentRow() == 1 and editor.list.count() == 2

    editor.up_button.click()  # noise first now
    assert [op["op"] for op in model.project.dataset.augment] == ["noise", "rotate"]
    assert editor.list.currentRow() == 0 and editor.list.item(0).text().startswith("Noise")

    drawn = editor.redraws
    type_into(editor.fields["std"], "0.2")
    assert model.project.dataset.augment[0] == {"op": "noise", "std": 0.2}
    assert "0.2" in editor.list.item(0).text()
    qtbot.waitUntil(lambda: editor.redraws > drawn, timeout=5_000)  # throttled redraw

    model.undo()  # the param edit, in one step
    assert model.project.dataset.augment[0] == {"op": "noise", "std": 0.05}
    assert editor.fields["std"]._value == 0.05
    model.undo()  # the move
    assert [op["op"] for op in model.project.dataset.augment] == ["rotate", "noise"]
    editor.list.setCurrentRow(0)
    editor.remove_button.click()
    assert [op["op"] for op in model.project.dataset.augment] == ["noise"]
    assert model.project.dataset.params == {"n_samples": 200}  # params untouched
    before = editor.redraws
    editor.reroll.click()
    assert editor.redraws == before + 1


def test_old_params_show_as_a_list_and_the_first_edit_replaces_them(window, qtbot, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path))  # no MNIST files there
    model = window.model
    model.do(SetProjectField("dataset", DatasetConfig(
        "mnist", {"augment": True, "crop_padding": 2, "jitter": 0.3, "download": False})))
    s, editor = _editor(window, qtbot)
    assert [op["op"] for op in editor.ops] == ["crop", "flip", "jitter"]
    assert editor.ops[0]["padding"] == 2
    assert not {"augment", "crop_padding", "flip", "jitter"} & set(s.dataset.fields)
    assert "No preview" in editor.status.text()  # the files are not there: says so, no crash
    editor.list.setCurrentRow(1)
    editor.remove_button.click()  # one command: the list replaces the old params
    assert model.project.dataset.params == {"download": False}
    assert [op["op"] for op in model.project.dataset.augment] == ["crop", "jitter"]
    model.undo()
    assert model.project.dataset.params["augment"] is True
    assert model.project.dataset.augment == []
    assert [op["op"] for op in editor.ops] == ["crop", "flip", "jitter"]
