"""Transfer learning in the editor: the node menu's "Freeze everything up to here" and "New
output layer for N classes…", and the inspector's learning-rate factor shown on the block."""

from gui_helpers import node_view_pos
from PySide6.QtWidgets import QInputDialog
from test_groups import entries


def main(window):
    return window.model.project.networks["main"]


def test_freeze_everything_up_to_here_from_the_node_menu(window):
    view = window.views["main"]
    found = entries(view.canvas_menu(node_view_pos(view, "hidden2")))
    found["Freeze everything up to here"].trigger()
    nodes = main(window).nodes
    assert not nodes["hidden1"].trainable and not nodes["hidden2"].trainable
    assert nodes["logits"].trainable
    assert view.scene().nodes["hidden1"].look.frozen  # the canvas shows it
    window.model.undo()
    assert all(n.trainable for n in main(window).nodes.values())


def test_a_new_output_layer_asks_how_many_classes(window, monkeypatch):
    view = window.views["main"]
    assert "New output layer for N classes…" not in entries(
        view.canvas_menu(node_view_pos(view, "relu1")))
    asked = []

    def get_int(parent, title, label, value, lo, hi):
        asked.append(value)
        return 7, True
    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(get_int))
    entries(view.canvas_menu(node_view_pos(view, "logits")))[
        "New output layer for N classes…"].trigger()
    nodes = main(window).nodes
    assert asked == [3]  # the current count is offered
    assert "logits" not in nodes and nodes["logits_new"].params["units"] == 7
    assert "logits_new" in view.scene().nodes


def test_the_learning_rate_factor_is_set_in_the_inspector_and_shown_on_the_block(window, qtbot):
    view = window.views["main"]
    view.scene().select_nodes(["hidden1"])
    box = window.inspector.lr_scale
    assert box.isVisibleTo(window.inspector) and box.value() == 1.0
    box.setValue(0.1)
    box.editingFinished.emit()
    assert main(window).nodes["hidden1"].lr_scale == 0.1
    assert "learning rate ×0.1" in view.scene().nodes["hidden1"].look.lines
    view.scene().select_nodes(["relu1"])  # no weights, no factor
    assert not box.isVisibleTo(window.inspector)


def test_one_learning_rate_factor_for_a_group_of_selected_blocks(window, monkeypatch):
    view = window.views["main"]
    view.scene().select_nodes(["hidden1", "relu1", "hidden2"])
    monkeypatch.setattr(QInputDialog, "getDouble",
                        staticmethod(lambda *args: (0.25, True)))
    entries(view.canvas_menu(node_view_pos(view, "hidden1")))["Learning-rate factor…"].trigger()
    nodes = main(window).nodes
    assert (nodes["hidden1"].lr_scale, nodes["hidden2"].lr_scale) == (0.25, 0.25)
    assert nodes["relu1"].lr_scale == 1.0 and nodes["logits"].lr_scale == 1.0
    window.model.undo()
    assert nodes["hidden1"].lr_scale == 1.0
