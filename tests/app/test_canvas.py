"""Driving the canvas as a user does: drop blocks, wire ports, move, select, delete, undo."""

from gui_helpers import drag, node_view_pos, port_view_pos, send_mouse
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.canvas.view import MIME_BLOCK
from builder.commands import Connect
from builder.document import Edge
from builder.problems import Code


def drop_from_palette(window, view, block: str, at: QPoint) -> QMimeData:
    """Drag a block out of the palette: the palette's own mime data, dropped on the canvas."""
    palette = window.palette
    mime = palette.tree.mimeData([palette.items[block]])
    vp = view.viewport()
    pos = QPointF(at)
    for cls in (QDragEnterEvent, QDragMoveEvent):
        event = cls(at, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(vp, event)
        assert event.isAccepted()
    drop = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, drop)
    assert drop.isAccepted()
    return mime


def net(window):
    return window.model.project.networks["main"]


def test_drop_block_from_palette_adds_a_node_at_the_cursor(window, view):
    before = set(net(window).nodes)
    at = QPoint(300, 500)
    mime = drop_from_palette(window, view, "Conv2d", at)
    assert bytes(mime.data(MIME_BLOCK)).decode() == "Conv2d"
    added = set(net(window).nodes) - before
    assert len(added) == 1
    node = net(window).nodes[added.pop()]
    assert node.block == "Conv2d"
    item = view.scene().nodes[node.id]
    assert item.sceneBoundingRect().contains(view.mapToScene(at))
    assert item.isSelected()
    assert window.inspector.node_id == node.id
    window.model.undo()
    assert set(net(window).nodes) == before
    assert node.id not in view.scene().nodes


def test_double_click_in_palette_adds_block(window, view):
    n = len(net(window).nodes)
    window.palette.tree.itemActivated.emit(window.palette.items["Dropout"], 0)
    assert len(net(window).nodes) == n + 1


def test_connect_two_ports_by_dragging(window, view):
    drop_from_palette(window, view, "Linear", QPoint(300, 560))
    new = view.scene().selected_node_ids()[0]
    start = port_view_pos(view, "relu2", "y", False)
    end = port_view_pos(view, new, "x", True) + QPoint(5, 4)  # near enough: it snaps
    drag(view, start, end)
    assert Edge("relu2", "y", new, "x") in net(window).edges
    edge_item = view.scene().edges[Edge("relu2", "y", new, "x")]
    assert edge_item.label == "32"
    window.model.undo()
    assert Edge("relu2", "y", new, "x") not in net(window).edges
    window.model.redo()
    assert Edge("relu2", "y", new, "x") in view.scene().edges


def test_wire_snaps_only_to_compatible_ports(window, view):
    m = window.model
    drop_from_palette(window, view, "Embedding", QPoint(300, 560))
    emb = view.scene().selected_node_ids()[0]
    edges = list(net(window).edges)
    # A float tensor may not enter an Embedding (it takes integer ids): no snap, no wire.
    drag(view, port_view_pos(view, "relu1", "y", False), port_view_pos(view, emb, "ids", True))
    assert net(window).edges == edges
    assert not m.document.can_redo
    # An output never snaps to another output.
    drag(view, port_view_pos(view, "relu1", "y", False), port_view_pos(view, "relu2", "y", False))
    assert net(window).edges == edges


def test_a_wire_that_would_close_a_loop_is_refused_with_a_message(window, view, qtbot):
    # Before: the wire went in behind the blocks and silently replaced x → hidden1.
    edges = list(net(window).edges)
    with qtbot.waitSignal(window.model.refused) as said:
        drag(view, port_view_pos(view, "relu2", "y", False),
             port_view_pos(view, "hidden1", "x", True))
    assert net(window).edges == edges and not window.model.document.can_redo
    assert "loop (hidden1 → relu1 → hidden2 → relu2 → hidden1)" in said.args[0]
    assert "loop" in window.status_text.text()
    assert "href='node:main/hidden1'" in window.status_text.text()  # each named block links
    window.status_text.linkActivated.emit("node:main/relu2")
    assert view.scene().selected_node_ids() == ["relu2"]
    assert not view.quick_add.isVisible()  # refused, not dropped on nothing


def test_a_cycle_read_from_a_file_shows_a_problem_and_does_not_crash(window, view):
    window.model.do(Connect("main", Edge("relu2", "y", "hidden1", "x")))
    problems = window.model.report("main").problems
    assert any(p.code == Code.CYCLE for p in problems)
    assert view.scene().nodes["hidden1"].problems  # red badge
    assert view.scene().nodes["hidden1"]._badge.toolTip()
    assert any(p.code == Code.CYCLE for p in window.problems.problems)
    view.viewport().repaint()  # painting a cyclic graph is fine too
    window.model.undo()
    assert not any(p.code == Code.CYCLE for p in window.model.report("main").problems)
    assert not view.scene().nodes["hidden1"].problems


def test_pick_up_a_wire_from_an_input_and_drop_it_on_nothing_removes_it(window, view):
    start = port_view_pos(view, "relu1", "x", True)
    drag(view, start, start + QPoint(0, 200))
    assert not any(e.dst == "relu1" for e in net(window).edges)
    assert window.model.report("main").problems
    window.model.undo()
    assert Edge("hidden1", "y", "relu1", "x") in net(window).edges


def test_move_a_node_by_dragging_is_one_undoable_command(window, view):
    old = net(window).nodes["relu1"].pos
    a = node_view_pos(view, "relu1")
    drag(view, a, a + QPoint(40, 80))
    new = net(window).nodes["relu1"].pos
    assert new != old and new[1] > old[1]
    item = view.scene().nodes["relu1"]
    assert (item.x(), item.y()) == new
    window.model.undo()
    assert net(window).nodes["relu1"].pos == old
    assert (item.x(), item.y()) == old


def test_box_select_then_delete_key_then_undo(window, view):
    scene = view.scene()
    a = scene.nodes["relu1"].sceneBoundingRect().topLeft() - QPointF(10, 10)
    b = scene.nodes["hidden2"].sceneBoundingRect().bottomRight() + QPointF(10, 10)
    drag(view, view.mapFromScene(a), view.mapFromScene(b))
    assert set(scene.selected_node_ids()) == {"relu1", "hidden2"}
    view.setFocus()
    QTest.keyClick(view.viewport(), Qt.Key_Delete)
    assert "relu1" not in net(window).nodes and "hidden2" not in net(window).nodes
    assert "relu1" not in scene.nodes
    assert window.model.dirty and window.isWindowModified()
    window.acts["undo"].trigger()
    assert {"relu1", "hidden2"} <= set(net(window).nodes)
    assert Edge("relu1", "y", "hidden2", "x") in scene.edges
    window.acts["redo"].trigger()
    assert "relu1" not in scene.nodes


def test_tab_opens_quick_add_at_cursor_and_enter_adds_the_block(window, view):
    view.setFocus()
    QTest.mouseMove(view.viewport(), QPoint(400, 520))
    QTest.keyClick(view, Qt.Key_Tab)
    quick = view.quick_add
    assert quick.isVisible()
    QTest.keyClicks(quick.search, "batchn")
    assert quick.visible_types()[0] == "BatchNorm"
    QTest.keyClick(quick.search, Qt.Key_Return)
    assert not quick.isVisible()
    added = view.scene().selected_node_ids()
    assert net(window).nodes[added[0]].block == "BatchNorm"


def test_releasing_a_wire_on_empty_canvas_offers_only_blocks_that_fit(window, view):
    start = port_view_pos(view, "x", "y", False)
    drag(view, start, start + QPoint(60, 260))
    quick = view.quick_add
    assert quick.isVisible()
    shown = set(quick.visible_types())
    assert "Linear" in shown and "ReLU" in shown
    assert "Conv2d" not in shown  # a [2] vector is not an image
    assert "Embedding" not in shown  # floats are not ids
    quick.choose("Tanh")
    tanh = view.scene().selected_node_ids()[0]
    assert Edge("x", "y", tanh, "x") in net(window).edges
    window.model.undo()  # one step removes the block and its wire
    assert tanh not in net(window).nodes


def test_middle_drag_pans_and_wheel_zooms(window, view):
    view.resetTransform()
    before = view.mapToScene(view.viewport().rect().center())
    drag(view, QPoint(400, 400), QPoint(300, 350), button=Qt.MiddleButton)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.x() > before.x() and after.y() > before.y()
    zoom = view.zoom
    view.zoom_by(1.5)
    assert abs(view.zoom - zoom * 1.5) < 1e-6
    window.acts["fit"].trigger()
    assert view.zoom <= 1.25


def test_copy_paste_and_duplicate(window, view):
    scene = view.scene()
    scene.select_nodes(["hidden1", "relu1"])
    assert view.copy()
    pasted = view.paste()
    assert len(pasted) == 2 and set(pasted).isdisjoint({"hidden1", "relu1"})
    a, b = pasted
    assert any(e.src in pasted and e.dst in pasted for e in net(window).edges)
    assert set(scene.selected_node_ids()) == set(pasted)
    dup = view.duplicate()
    assert len(dup) == 2
    window.model.undo()
    window.model.undo()
    assert not set(pasted) & set(net(window).nodes)


def test_auto_layout_moves_nodes_in_one_step(window, view):
    m = window.model
    for node in net(window).nodes.values():
        node.pos = (0.0, 0.0)  # simulate a file with every node piled up
    view.scene().rebuild()
    view.auto_layout()
    spots = [n.pos for n in net(window).nodes.values()]
    assert len(set(spots)) == len(spots)  # none piled up any more
    assert m.document.undo_text == "Auto-layout"


def test_release_outside_any_port_does_not_connect(window, view):
    edges = list(net(window).edges)
    send_mouse(view, QMouseEvent.Type.MouseButtonPress, port_view_pos(view, "x", "y", False))
    send_mouse(view, QMouseEvent.Type.MouseMove, QPoint(5, 5), Qt.NoButton, Qt.LeftButton)
    QTest.keyClick(view, Qt.Key_Escape)
    send_mouse(view, QMouseEvent.Type.MouseButtonRelease, QPoint(5, 5))
    assert net(window).edges == edges


def test_select_a_wire_and_delete_it(window, view):
    scene = view.scene()
    edge = Edge("relu1", "y", "hidden2", "x")
    scene.clearSelection()
    scene.edges[edge].setSelected(True)
    view.setFocus()
    QTest.keyClick(view.viewport(), Qt.Key_Delete)
    assert edge not in net(window).edges and edge not in scene.edges
    assert "relu1" in net(window).nodes


def test_f_key_fits_the_view(window, view):
    view.resetTransform()
    view.scale(0.1, 0.1)
    view.setFocus()
    QTest.keyClick(view.viewport(), Qt.Key_F)
    assert view.zoom > 0.3
    rect = view.mapToScene(view.viewport().rect()).boundingRect()
    assert rect.contains(view.scene().nodes_rect())


def test_palette_search_filters_and_enter_adds_the_first_match(window, view):
    palette = window.palette
    QTest.keyClicks(palette.search, "lstm")
    assert palette.visible_types() == ["LSTM"]
    n = len(net(window).nodes)
    QTest.keyClick(palette.search, Qt.Key_Return)
    assert len(net(window).nodes) == n + 1
    palette.search.clear()
    assert len(palette.visible_types()) == len(palette.items)


def test_double_clicking_blocks_with_one_selected_builds_a_wired_chain(window, view):
    window.files.new_blank(confirm=False)
    view = window.current_view()
    view.scene().select_nodes(["input1"])
    for block in ("Linear", "ReLU", "Linear"):
        window.palette.tree.itemActivated.emit(window.palette.items[block], 0)
    n = net(window)
    assert {(e.src, e.dst) for e in n.edges} == {
        ("input1", "linear1"), ("linear1", "relu1"), ("relu1", "linear2")}
    assert n.nodes["relu1"].pos[0] - n.nodes["linear1"].pos[0] == 220
    assert view.scene().selected_node_ids() == ["linear2"]
    # Wire the chain to the Output by dragging; the blank project becomes valid.
    drag(view, port_view_pos(view, "linear2", "y", False), port_view_pos(view, "output1", "x",
                                                                          True))
    assert not [p for p in window.model.report("main").problems if p.severity == "error"]


def test_delete_and_reconnect_keeps_the_flow(window, view):
    view.scene().select_nodes(["relu1", "hidden2"])
    window.acts["dissolve"].trigger()
    n = net(window)
    assert "relu1" not in n.nodes and "hidden2" not in n.nodes
    assert Edge("hidden1", "y", "relu2", "x") in n.edges
    assert not window.model.report("main").problems
    assert window.model.document.undo_text == "Delete and reconnect"
    window.model.undo()
    assert Edge("relu1", "y", "hidden2", "x") in n.edges


def test_freeze_and_unfreeze_selection(window, view):
    view.scene().select_nodes(["hidden1", "hidden2", "relu1"])
    window.acts["freeze"].trigger()
    n = net(window)
    assert not n.nodes["hidden1"].trainable and not n.nodes["hidden2"].trainable
    assert view.scene().nodes["hidden1"].look.frozen
    assert not view.scene().nodes["relu1"].look.frozen  # nothing to freeze in a ReLU
    assert window.model.stats("main").frozen == 96 + 1056
    window.acts["unfreeze"].trigger()
    assert n.nodes["hidden1"].trainable


def wire_mid(view, edge):
    return view.mapFromScene(view.scene().edges[edge]._mid)


def test_dropping_a_block_on_a_wire_inserts_it(window, view):
    edge = Edge("hidden1", "y", "relu1", "x")
    view.resetTransform()
    view.centerOn(view.scene().edges[edge]._mid)
    drop_from_palette(window, view, "Dropout", wire_mid(view, edge))
    new = view.scene().selected_node_ids()[0]
    n = net(window)
    assert Edge("hidden1", "y", new, "x") in n.edges and Edge(new, "y", "relu1", "x") in n.edges
    assert edge not in n.edges
    assert window.model.document.undo_text == "Insert Dropout"
    window.model.undo()
    assert edge in n.edges and new not in n.nodes


def test_dragging_a_loose_block_onto_a_wire_inserts_it(window, view):
    view.resetTransform()
    edge = Edge("relu1", "y", "hidden2", "x")
    drop_from_palette(window, view, "BatchNorm", QPoint(200, 120))
    new = view.scene().selected_node_ids()[0]
    assert not any(new in (e.src, e.dst) for e in net(window).edges)
    view.centerOn(view.scene().edges[edge]._mid)
    start = node_view_pos(view, new)
    drag(view, start, wire_mid(view, edge))
    n = net(window)
    assert Edge("relu1", "y", new, "x") in n.edges and Edge(new, "y", "hidden2", "x") in n.edges
    window.model.undo()  # one step: the move and both wires
    assert edge in n.edges


def test_typing_in_the_quick_add_or_inspector_never_edits_the_graph(window, view):
    view.scene().select_nodes(["relu1"])
    view.open_quick_add(QPoint(300, 300))
    QTest.keyClicks(view.quick_add.search, "re")
    QTest.keyClick(view.quick_add.search, Qt.Key_Backspace)
    assert view.quick_add.search.text() == "r"
    QTest.keyClick(view.quick_add.search, Qt.Key_Escape)
    assert not view.quick_add.isVisible()
    assert "relu1" in net(window).nodes
    edit = window.inspector.name_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key_End)
    QTest.keyClick(edit, Qt.Key_Backspace)
    QTest.keyClick(edit, Qt.Key_Delete)
    assert "relu1" in net(window).nodes


def test_ctrl_b_bypasses_the_selection_dimmed_in_one_undo_step(window, view, qtbot):
    scene = view.scene()
    scene.select_nodes(["relu1"])
    view.setFocus()
    QTest.keyClick(view, Qt.Key_B, Qt.ControlModifier)
    assert net(window).nodes["relu1"].bypass and scene.nodes["relu1"].look.bypassed
    assert not window.model.report("main").problems  # ReLU keeps the shape: allowed
    view.viewport().repaint()
    window.model.undo()
    assert not net(window).nodes["relu1"].bypass and not scene.nodes["relu1"].look.bypassed
    window.model.redo()
    window.acts["bypass"].trigger()  # all selected are bypassed: switch it off
    assert not net(window).nodes["relu1"].bypass
    # An Input has nothing to pass on: refused, and said why.
    scene.select_nodes(["x"])
    with qtbot.waitSignal(window.model.refused) as said:
        window.acts["bypass"].trigger()
    assert "nothing to pass on" in said.args[0]


def test_double_clicking_a_wire_adds_a_reroute_point_to_route_it_by(window, view, qtbot):
    scene = view.scene()
    before = list(net(window).edges)
    wire = scene.edges[Edge("relu1", "y", "hidden2", "x")]
    at = view.mapFromScene(wire._mid)
    QTest.mouseDClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, at)
    (knot,) = [i for i, n in net(window).nodes.items() if n.block == "Reroute"]
    assert Edge("relu1", "y", knot, "x") in net(window).edges
    assert Edge(knot, "y", "hidden2", "x") in net(window).edges
    assert scene.nodes[knot].look.dot and scene.nodes[knot].boundingRect().width() < 30
    assert not window.model.report("main").problems  # the shape passes on
    # Drag it: the wire follows, the network computes the same.
    a = view.mapFromScene(scene.nodes[knot].sceneBoundingRect().center())
    y0 = net(window).nodes[knot].pos[1]
    drag(view, a, a + QPoint(0, 120))
    assert net(window).nodes[knot].pos[1] > y0 + 50
    wire = scene.edges[Edge(knot, "y", "hidden2", "x")]
    assert wire.sceneBoundingRect().bottom() > scene.nodes["hidden2"].sceneBoundingRect().bottom()
    window.model.undo()
    window.model.undo()
    assert net(window).edges == before
