"""The inspector's generated form edits the document; the canvas follows."""

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from builder.document import Edge


def select(window, node_id):
    window.current_view().scene().select_nodes([node_id])
    assert window.inspector.node_id == node_id


def type_into(qtbot, field, text):
    editor = field.editor
    editor.setFocus()
    editor.selectAll()
    QTest.keyClicks(editor, text)
    QTest.keyClick(editor, Qt.Key_Return)


def test_edit_param_changes_the_shape_on_the_wire(window, qtbot):
    view = window.current_view()
    wire = view.scene().edges[Edge("hidden1", "y", "relu1", "x")]
    assert wire.label == "32"
    select(window, "hidden1")
    type_into(qtbot, window.inspector.fields["units"], "48")
    assert window.model.project.networks["main"].nodes["hidden1"].params["units"] == 48
    assert wire.label == "48"
    assert view.scene().edges[Edge("relu1", "y", "hidden2", "x")].label == "48"
    assert "48" in window.inspector.shapes.text()
    assert "48·" in window.inspector.formula.text() or "48" in window.inspector.formula.text()
    window.acts["undo"].trigger()
    assert wire.label == "32"
    assert window.inspector.fields["units"].editor.text() == "32"
    window.acts["redo"].trigger()
    assert wire.label == "48"


def test_invalid_value_is_refused_with_the_params_message(window, qtbot):
    select(window, "hidden1")
    field = window.inspector.fields["units"]
    undo_before = window.model.document.undo_text
    type_into(qtbot, field, "-3")
    assert window.model.project.networks["main"].nodes["hidden1"].params["units"] == 32
    assert field.error.isVisible() or not field.error.isHidden()
    assert "units must be" in field.error.text() and "-3" in field.error.text()
    assert window.model.document.undo_text == undo_before
    type_into(qtbot, field, "abc")
    assert "units must be a whole number" in field.error.text()
    type_into(qtbot, field, "16")
    assert field.error.text() == ""
    assert window.model.project.networks["main"].nodes["hidden1"].params["units"] == 16


def test_choice_bool_and_tuple_params(window, qtbot):
    view = window.current_view()
    select(window, "x")
    field = window.inspector.fields["shape"]
    type_into(qtbot, field, "3x32x32")
    node = window.model.project.networks["main"].nodes["x"]
    assert tuple(node.params["shape"]) == (3, 32, 32)
    assert view.scene().edges[Edge("x", "y", "hidden1", "x")].label == "3×32×32"
    kind = window.inspector.fields["kind"].editor
    kind.setCurrentIndex(kind.findText("image"))
    kind.activated.emit(kind.currentIndex())
    assert node.params["kind"] == "image"
    select(window, "hidden1")
    window.inspector.fields["bias"].editor.setChecked(False)
    assert window.model.project.networks["main"].nodes["hidden1"].params["bias"] is False


def test_trainable_switch_freezes_the_node(window):
    select(window, "hidden2")
    item = window.current_view().scene().nodes["hidden2"]
    assert not item.look.frozen
    window.inspector.trainable.setChecked(False)
    node = window.model.project.networks["main"].nodes["hidden2"]
    assert node.trainable is False
    assert item.look.frozen
    assert "frozen" in window.inspector.cost.text()
    window.inspector.init.setCurrentIndex(window.inspector.init.findText("he"))
    window.inspector.init.activated.emit(window.inspector.init.currentIndex())
    assert node.init == "he"


def test_rename_keeps_the_node_selected(window, qtbot):
    select(window, "hidden1")
    edit = window.inspector.name_edit
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "encoder")
    QTest.keyClick(edit, Qt.Key_Return)
    net = window.model.project.networks["main"]
    assert "encoder" in net.nodes and "hidden1" not in net.nodes
    assert window.current_view().scene().selected_node_ids() == ["encoder"]
    edit.selectAll()
    QTest.keyClicks(edit, "relu1")
    QTest.keyClick(edit, Qt.Key_Return)
    assert "already exists" in window.inspector.name_error.text()


def test_nothing_selected_shows_the_network_overview(window):
    window.current_view().scene().clearSelection()
    assert window.inspector.node_id is None
    text = window.inspector.overview.text()
    assert "Parameters" in text and "1,251" in text


def test_problems_click_selects_and_centres_the_node(window, qtbot):
    net = window.model.project.networks["main"]
    window.model.do(__import__("builder.commands", fromlist=["Disconnect"]).Disconnect(
        "main", Edge("relu1", "y", "hidden2", "x")))
    panel = window.problems
    rows = [i for i in range(panel.tree.topLevelItemCount())
            if panel.tree.topLevelItem(i).text(2) == "hidden2"]
    assert rows
    item = panel.tree.topLevelItem(rows[0])
    panel.tree.itemClicked.emit(item, 0)
    view = window.current_view()
    assert view.scene().selected_node_ids() == ["hidden2"]
    centre = view.mapToScene(view.viewport().rect().center())
    assert view.scene().nodes["hidden2"].sceneBoundingRect().adjusted(-5, -5, 5, 5).contains(
        centre)
    assert "hidden2" in net.nodes
