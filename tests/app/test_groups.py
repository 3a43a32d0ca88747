"""Sub-networks driven as a user does: group, edit inside, ungroup, composite blocks, library."""

from gui_helpers import node_view_pos, send_mouse
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent, QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_canvas import drop_from_palette

from builder.commands import AddNetwork, Connect, Disconnect, SetParams
from builder.document import Edge, Network
from builder.grouping import group_nodes
from builder.problems import Code

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


# --- problems inside groups ------------------------------------------------------------------


def panel_row(window, network, node, text=""):
    """The problems list's row for a problem, as the user reads it."""
    tree = window.problems.tree
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        p = item.data(0, Qt.UserRole)
        if (p.network, p.node) == (network, node) and text in p.message:
            return item
    raise AssertionError(f"no row for {network} {node} in {window.problems.problems}")


def double_click_row(window, item):
    window.docks[2].raise_()  # the Problems dock shares the bottom with Training
    tree = window.problems.tree
    tree.scrollToItem(item)
    at = tree.visualItemRect(item).center()
    # what a real double-click delivers (QTest.mouseDClick sends no first click)
    for kind in (QMouseEvent.Type.MouseButtonPress, QMouseEvent.Type.MouseButtonRelease,
                 QMouseEvent.Type.MouseButtonDblClick, QMouseEvent.Type.MouseButtonRelease):
        send_mouse(tree, kind, at)


def centred_on(view, node_id):
    centre = view.mapToScene(view.viewport().rect().center())
    return view.scene().nodes[node_id].sceneBoundingRect().adjusted(-5, -5, 5, 5).contains(
        centre)


def test_a_problem_inside_a_group_is_badged_and_listed_where_it_is(window):
    gid = group_trio(window)
    path = f"main/{gid}"
    assert window.model.do(Disconnect(path, Edge("relu1", "y", "hidden2", "x")))
    # outside: the group's badge sums up what is wrong inside
    outer = window.views["main"].scene().nodes[gid]
    assert outer.error and outer._badge is not None
    assert outer.problems == (f"5 problems inside {gid}: hidden2: Linear input 'x' is not "
                              "connected",)
    assert outer._badge.toolTip() == outer.problems[0]
    # the list: each problem inside, where it is; not the summary a second time
    panel = window.problems
    assert not any(p.code == Code.IN_GROUP for p in panel.problems)
    assert panel.summary.text() == "1 error, 4 warnings"
    item = panel_row(window, path, "hidden2", "not connected")
    assert (item.text(1), item.text(2)) == (f"main ▸ {gid}", "hidden2")
    assert item.toolTip(1) == f"main ▸ {gid} ▸ hidden2"
    # a double-click on it opens the group's tab and selects and centres the node
    assert path not in window.views
    double_click_row(window, item)
    view = window.current_view()
    assert view is window.views[path] and window.stack.currentWidget() is window.tabs
    assert view.scene().selected_node_ids() == ["hidden2"] and centred_on(view, "hidden2")
    inner = view.scene().nodes["hidden2"]
    assert inner.error and inner._badge is not None and inner._badge.isVisible()
    assert "Linear input 'x' is not connected" in inner._badge.toolTip()
    assert not view.scene().nodes["relu1"].error  # a consequence only: a warning
    window.model.undo()  # wired again: every badge and row goes
    assert not inner.problems and not outer.problems and panel.problems == []


def test_a_problem_in_a_group_inside_a_group_takes_you_to_the_innermost_tab(window):
    gid = group_trio(window)
    assert window.model.do(group_nodes(window.model.network(f"main/{gid}"),
                                       ["relu1", "hidden2"], "pair", path=f"main/{gid}"))
    assert window.model.report("main").ok
    deep = f"main/{gid}/pair"
    assert window.model.do(SetParams(deep, "hidden2", {"units": 0}))
    outer = window.views["main"].scene().nodes[gid]
    assert outer.error and f"inside {gid}: pair ▸ hidden2: " in outer.problems[0]
    item = panel_row(window, deep, "hidden2")
    assert item.text(1) == f"main ▸ {gid} ▸ pair"
    double_click_row(window, item)
    view = window.current_view()
    assert view is window.views[deep] and view.scene().selected_node_ids() == ["hidden2"]
    assert view.scene().nodes["hidden2"].error
    assert window.tabs.tabText(window.tabs.currentIndex()) == f"main ▸ {gid} ▸ pair"


def _group_with_a_padding_problem(window) -> tuple[str, str]:
    """A group (conv → add, with a skip) whose conv shrinks the image: (group id, path)."""
    net = Network("vision")
    net.add("Input", "img", (0, 0), shape=[4, 8, 8], kind="image")
    net.add("Conv2d", "conv", (220, 0), filters=4, kernel=3, padding=1)
    net.add("Add", "add", (440, 0))
    net.add("Output", "out", (660, 0))
    net.chain("img", "conv", "add", "out")
    net.connect("img", "add")
    assert window.model.do(AddNetwork(net))
    view = window.views["vision"]
    view.scene().select_nodes(["conv", "add"])
    window.acts["group"].trigger()
    gid = view.scene().selected_node_ids()[0]
    path = f"vision/{gid}"
    assert window.model.do(SetParams(path, "conv", {"padding": 0}))  # 6×6 + 8×8 cannot add
    return gid, path


def test_a_fix_inside_a_group_applied_from_the_list_edits_the_inside(window):
    gid, path = _group_with_a_padding_problem(window)
    panel = window.problems
    item = panel_row(window, path, "add")
    assert item.text(3).endswith("[fix: Set padding = same]")
    panel.tree.setCurrentItem(item)
    assert panel.fix_button.isEnabled() and panel.fix_button.text() == "Fix: Set padding = same"
    panel.fix_button.click()
    inside = window.model.network(path)
    assert inside.nodes["conv"].params["padding"] == "same"
    assert "padding" not in window.model.network("vision").nodes[gid].params
    assert window.model.report("vision").ok and panel.problems == []
    assert window.model.report("vision").shapes.outputs[gid] == {"add_out": (4, 8, 8)}
    window.model.undo()  # one step
    assert window.model.network(path).nodes["conv"].params["padding"] == 0


def test_the_inspector_fixes_an_inner_node_in_the_group_tab(window):
    from PySide6.QtWidgets import QPushButton

    gid, path = _group_with_a_padding_problem(window)
    window.go_to(path, "add")  # opens the group's tab and selects the node
    assert window.current_view() is window.views[path]
    inspector = window.inspector
    buttons = [inspector.problems_box.itemAt(i).widget()
               for i in range(inspector.problems_box.count())]
    fix = next(b for b in buttons if isinstance(b, QPushButton))
    assert fix.text() == "Fix: Set padding = same"
    fix.click()
    assert window.model.network(path).nodes["conv"].params["padding"] == "same"
    assert window.model.report(path).problems == [] and window.model.report("vision").ok


# --- the canvas menu of a group ---------------------------------------------------------------


def entries(menu):
    return {a.text().split("\t")[0]: a for a in menu.actions() if not a.isSeparator()}


GROUP_ENTRIES = ["Open inside", "Ungroup", "Save to library…"]


def test_the_menu_of_a_group_opens_ungroups_and_saves_it(window, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_LIBRARY", str(tmp_path / "lib"))
    gid = group_trio(window)
    view = window.views["main"]
    view.scene().select_nodes(["relu2"])
    at = node_view_pos(view, gid)
    menu = view.canvas_menu(at)
    assert view.scene().selected_node_ids() == [gid]  # what was right-clicked is what it acts on
    found = entries(menu)
    assert [a.text().split("\t")[0] for a in menu.actions()][:3] == GROUP_ENTRIES
    assert all(found[t].isEnabled() for t in GROUP_ENTRIES)
    assert found["Ungroup"].text() == "Ungroup\tCtrl+Shift+G"  # the window's action's keys
    assert not set(GROUP_ENTRIES) & set(entries(view.canvas_menu(node_view_pos(view, "relu2"))))
    found["Open inside"].trigger()  # as a double-click
    assert window.current_view() is window.views[f"main/{gid}"]
    window.tabs.setCurrentWidget(view)
    window.ask_library_name = lambda default: "trunk"
    entries(view.canvas_menu(at))["Save to library…"].trigger()
    assert (tmp_path / "lib" / "trunk.loom").exists() and "trunk" in window.palette.library_items
    # a real right-click, then Ungroup picked with the keyboard
    picked = []

    def pick():
        popup = QApplication.activePopupWidget()
        picked.append([a.text().split("\t")[0] for a in popup.actions()] if popup else None)
        if popup:
            popup.setActiveAction(entries(popup)["Ungroup"])
            QTest.keyClick(popup, Qt.Key_Return)

    QTimer.singleShot(50, pick)
    event = QContextMenuEvent(QContextMenuEvent.Mouse, at, view.viewport().mapToGlobal(at))
    QApplication.sendEvent(view.viewport(), event)
    assert picked and picked[0][:3] == GROUP_ENTRIES
    net = main(window)
    assert gid not in net.nodes and set(TRIO) <= set(net.nodes)
    assert not any(n.block == "Group" for n in net.nodes.values())
    assert f"main/{gid}" not in window.views  # its tab closed with it
    window.model.undo()
    assert main(window).nodes[gid].block == "Group"


def test_the_menu_follows_what_the_window_allows(window):
    gid = group_trio(window)
    view = window.views["main"]
    window.model.set_locked("Training uses this graph")
    found = entries(view.canvas_menu(node_view_pos(view, gid)))
    assert found["Open inside"].isEnabled() and found["Save to library…"].isEnabled()
    assert not found["Ungroup"].isEnabled()
    window.model.set_locked("")
    image_network(window)
    vision = window.views["vision"]
    found = entries(vision.canvas_menu(node_view_pos(vision, "res")))
    assert "Open inside" not in found and found["Open as editable group"].isEnabled()
    found["Open as editable group"].trigger()
    assert window.model.project.networks["vision"].nodes["res"].block == "Group"
