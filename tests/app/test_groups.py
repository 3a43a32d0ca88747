"""Sub-networks driven as a user does: group, edit inside, ungroup, composite blocks, library."""

from gui_helpers import node_view_pos, send_mouse
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_canvas import drop_from_palette

from builder.commands import AddNetwork, Connect
from builder.document import Edge, Network

TRIO = ("hidden1", "relu1", "hidden2")


def main(window):
    return window.model.project.networks["main"]


def group_trio(window):
    view = window.views["main"]
    view.scene().select_nodes(TRIO)
    assert window.acts["group"].isEnabled()
    window.acts["group"].trigger()
    group = view.scene().selected_node_ids()
    assert len(group) == 1
    return group[0]


def out_edge(net, node_id):
    return next(e for e in net.edges if e.src == node_id)


def double_click(view, node_id):
    send_mouse(view, QMouseEvent.Type.MouseButtonDblClick, node_view_pos(view, node_id))


def type_into(field, text):
    field.editor.setFocus()
    field.editor.selectAll()
    QTest.keyClicks(field.editor, text)
    QTest.keyClick(field.editor, Qt.Key_Return)


def test_group_three_nodes_is_one_undo_step(window):
    before_nodes, before_edges = set(main(window).nodes), list(main(window).edges)
    assert not window.acts["ungroup"].isEnabled()
    gid = group_trio(window)
    net = main(window)
    assert net.nodes[gid].block == "Group"
    assert not set(TRIO) & set(net.nodes) and set(net.nodes) == before_nodes - set(TRIO) | {gid}
    scene = window.views["main"].scene()
    assert scene.nodes[gid].look.group and scene.nodes[gid].look.title == "Group"
    edge = out_edge(net, gid)
    assert edge.dst == "relu2" and scene.edges[edge].label == "32"  # shapes unchanged
    assert window.model.report("main").shapes.outputs["logits"]["y"] == (3,)
    assert window.acts["ungroup"].isEnabled() and window.acts["save_to_library"].isEnabled()
    window.model.undo()
    assert set(main(window).nodes) == before_nodes and main(window).edges == before_edges
    assert set(scene.nodes) == before_nodes


def test_edit_inside_a_group_updates_the_outside(window):
    gid = group_trio(window)
    outer = window.views["main"]
    double_click(outer, gid)
    path = f"main/{gid}"
    inside = window.current_view()
    assert inside is window.views[path]
    assert window.tabs.tabText(window.tabs.currentIndex()) == f"main ▸ {gid}"
    assert {"hidden1", "relu1", "hidden2"} <= set(inside.scene().nodes)
    inside.scene().select_nodes(["hidden2"])
    assert (window.inspector.net_name, window.inspector.node_id) == (path, "hidden2")
    type_into(window.inspector.fields["units"], "48")
    sub = main(window).nodes[gid].subnet
    assert sub.nodes["hidden2"].params["units"] == 48
    wire = outer.scene().edges[out_edge(main(window), gid)]
    assert wire.label == "48"  # the outer network was re-checked
    window.model.undo()
    assert wire.label == "32"
    # a palette drop inside adds to the sub-network, one undo step
    drop_from_palette(window, inside, "Dropout", QPoint(200, 200))
    added = inside.scene().selected_node_ids()[0]
    assert main(window).nodes[gid].subnet.nodes[added].block == "Dropout"
    window.model.undo()
    assert added not in main(window).nodes[gid].subnet.nodes
    # ungroup (expand in place) closes the inside's tab; undo brings the group back
    window.tabs.setCurrentWidget(outer)
    outer.scene().select_nodes([gid])
    window.acts["ungroup"].trigger()
    assert path not in window.views and set(TRIO) <= set(main(window).nodes)
    assert outer.scene().edges[Edge("hidden2", "y", "relu2", "x")].label == "32"
    window.model.undo()
    assert main(window).nodes[gid].block == "Group"


def test_undoing_the_group_closes_its_tab(window):
    gid = group_trio(window)
    window.views["main"].scene().select_nodes([gid])
    window.acts["edit_group"].trigger()
    assert f"main/{gid}" in window.views
    window.model.undo()
    assert f"main/{gid}" not in window.views
    assert window.current_view() is window.views["main"]


def image_network(window):
    net = Network("vision")
    net.add("Input", "img", (0, 0), shape=[8, 16, 16], kind="image")
    net.add("ResidualBlock", "res", (220, 0), filters=8)
    net.add("Output", "out", (440, 0))
    net.chain("img", "res", "out")
    assert window.model.do(AddNetwork(net))
    return window.views["vision"]


def test_open_a_residual_block_as_a_group_and_edit_inside(window):
    view = image_network(window)
    view.scene().select_nodes(["res"])
    assert window.acts["open_composite"].isEnabled() and not window.acts["ungroup"].isEnabled()
    window.acts["open_composite"].trigger()
    node = window.model.project.networks["vision"].nodes["res"]
    assert node.block == "Group" and view.scene().nodes["res"].look.group
    assert window.model.report("vision").shapes.outputs["res"] == {"y": (8, 16, 16)}
    double_click(view, "res")
    inside = window.current_view()
    assert window.views["vision/res"] is inside and "conv2" in inside.scene().nodes
    inside.scene().select_nodes(["conv2"])
    assert window.inspector.node_id == "conv2"
    type_into(window.inspector.fields["filters"], "16")  # no longer matches the skip path
    outer = view.scene().nodes["res"]
    assert outer.error and "inside res" in outer.problems[0]  # the badge outside
    assert inside.scene().nodes["add"].error
    window.model.undo()
    assert not outer.problems
    window.model.undo()  # back to the opaque block: the inside's tab goes
    assert "vision/res" not in window.views
    assert window.model.project.networks["vision"].nodes["res"].block == "ResidualBlock"


def test_save_a_group_to_the_library_and_use_it_elsewhere(window, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_LIBRARY", str(tmp_path / "lib"))
    window.palette.refresh_library()
    gid = group_trio(window)
    window.views["main"].scene().select_nodes([gid])
    window.ask_library_name = lambda default: "mlp_trunk"
    window.acts["save_to_library"].trigger()
    assert (tmp_path / "lib" / "mlp_trunk.loom").exists()
    assert "mlp_trunk" in window.palette.library_items
    # the same name again: never overwritten silently
    text = (tmp_path / "lib" / "mlp_trunk.loom").read_text()
    window.ask_library_clash = lambda name: "cancel"
    assert window.save_group_to_library() is None
    window.ask_library_clash = lambda name: "rename"
    assert window.save_group_to_library().name == "mlp_trunk1.loom"
    assert (tmp_path / "lib" / "mlp_trunk.loom").read_text() == text
    # another network: double-click in My blocks, then a drag from it
    net = Network("other")
    net.add("Input", "x", (0, 0), shape=[2], kind="vector")
    assert window.model.do(AddNetwork(net))
    view = window.views["other"]
    item = window.palette.library_items["mlp_trunk"]
    window.palette.tree.itemActivated.emit(item, 0)
    added = view.scene().selected_node_ids()
    other = window.model.project.networks["other"]
    assert len(added) == 1 and other.nodes[added[0]].block == "Group"
    window.model.undo()
    mime = window.palette.tree.mimeData([item])
    at = QPointF(300, 300)
    enter = QDragEnterEvent(at.toPoint(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(at, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(view.viewport(), drop)
    assert drop.isAccepted()
    gid2 = view.scene().selected_node_ids()[0]
    group = other.nodes[gid2]
    assert group.block == "Group" and {"hidden1", "hidden2"} <= set(group.subnet.nodes)
    port = next(n for n in group.subnet.nodes.values() if n.block == "Input").id
    assert window.model.do(Connect("other", Edge("x", "y", gid2, port)))
    assert list(window.model.report("other").shapes.outputs[gid2].values()) == [(32,)]
