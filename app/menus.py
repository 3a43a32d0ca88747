"""The main window's actions and menus, in one table-like place.

Canvas actions (delete, copy, fit, …) are scoped to the canvas tabs, so that Delete or Ctrl+C
in a text field of the inspector edits the text, not the graph.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from app import theme

__all__ = ["build_actions", "build_menus", "CANVAS_GESTURES"]

# Gestures without an action, listed with the shortcuts in Help ▸ Keyboard shortcuts.
CANVAS_GESTURES = (
    ("Tab or Space", "Quick-add a block at the cursor"),
    ("Double-click empty canvas", "Quick-add a block there"),
    ("Drag from a port", "Draw a wire; it snaps to compatible ports only"),
    ("Drop a wire on empty canvas", "Quick-add a block that fits, already wired"),
    ("Drag a wired input", "Pick the wire up; drop it on nothing to remove it"),
    ("Drag on empty canvas", "Box select"),
    ("Mouse wheel", "Zoom to the cursor"),
    ("Middle-drag", "Pan"),
    ("Escape", "Cancel the wire being drawn"),
    ("Double-click a group", "Edit its inside in a tab of its own"),
    ("Right-click a group", "Open inside, ungroup, or save it to My blocks"),
)


def _action(w, key: str, text: str, slot, shortcut=None, canvas: bool = False,
            checkable: bool = False, tip: str = "") -> QAction:
    act = QAction(text, w)
    if shortcut is not None:
        keys = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
        act.setShortcuts([QKeySequence(k) for k in keys])
    if canvas:
        act.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        w.tabs.addAction(act)
    act.setCheckable(checkable)
    if tip:
        act.setStatusTip(tip)
    act.triggered.connect(slot)
    w.acts[key] = act
    return act


def _show_conv_variants(w) -> None:
    from app.conv_variants_dialog import ConvVariantsDialog  # imported when first opened

    ConvVariantsDialog.open_for(w)


def build_actions(w) -> None:
    K = QKeySequence.StandardKey
    v = w.with_view
    a = _action
    a(w, "new", "&New…", w.show_start_page, K.New, tip="Start from an example or a blank canvas")
    a(w, "open", "&Open…", w.files.open_dialog, K.Open)
    a(w, "save", "&Save", w.files.save, K.Save)
    a(w, "save_as", "Save &As…", lambda: w.files.save_as(), "Ctrl+Shift+S")
    a(w, "quit", "&Quit", w.close, K.Quit)
    a(w, "undo", "&Undo", w.model.undo, "Ctrl+Z")
    a(w, "redo", "&Redo", w.model.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
    a(w, "cut", "Cu&t", v("cut"), K.Cut, canvas=True)
    a(w, "copy", "&Copy", v("copy"), K.Copy, canvas=True)
    a(w, "paste", "&Paste", v("paste"), K.Paste, canvas=True)
    a(w, "duplicate", "D&uplicate", v("duplicate"), "Ctrl+D", canvas=True)
    a(w, "delete", "&Delete", v("delete_selection"), ["Delete", "Backspace"], canvas=True)
    a(w, "dissolve", "Delete and &reconnect", v("dissolve_selection"), "Ctrl+Backspace",
      canvas=True, tip="Remove the selected blocks and join the wires through them")
    a(w, "freeze", "&Freeze selected", v("set_selection_trainable", False), "Ctrl+K",
      tip="Make the selected blocks' weights not trainable (transfer learning)")
    a(w, "unfreeze", "U&nfreeze selected", v("set_selection_trainable", True), "Ctrl+Shift+K")
    a(w, "bypass", "&Bypass selected", v("toggle_bypass_selection"), "Ctrl+B", canvas=True,
      tip="Skip the selected blocks: each passes its input through unchanged (an ablation)")
    a(w, "select_all", "Select &all", v("select_all"), K.SelectAll, canvas=True)
    a(w, "quick_add", "Add &block…", v("open_quick_add"), tip="Also Tab or Space on the canvas")
    a(w, "find", "&Find block…", w.find_node, K.Find,
      tip="Jump to a block of any network by its name or type")
    a(w, "fit", "&Fit view", v("fit"), "F", canvas=True)
    a(w, "zoom_in", "Zoom &in", v("zoom_by", 1.25), K.ZoomIn)
    a(w, "zoom_out", "Zoom &out", v("zoom_by", 0.8), K.ZoomOut)
    a(w, "zoom_reset", "&Actual size", v("resetTransform"), "Ctrl+0")
    a(w, "snap", "&Snap to grid", w.set_snap, "G", canvas=True, checkable=True)
    a(w, "minimap", "&Minimap", w.set_minimap, "M", canvas=True, checkable=True)
    a(w, "layout", "&Auto-layout", v("auto_layout"), "Ctrl+L")
    a(w, "summary", "&Summary…", w.show_summary, "Ctrl+I",
      tip="Layers, output shapes, parameters and FLOPs; export as CSV")
    a(w, "conv_variants", "Convolution &variants…", lambda _=False: _show_conv_variants(w),
      tip="Seven kinds of convolution side by side: parameters, FLOPs, receptive field")
    a(w, "group", "&Group selection", w.group_selection, "Ctrl+G",
      tip="Replace the selected blocks by one group block (a sub-network)")
    a(w, "ungroup", "&Ungroup", w.ungroup_selection, "Ctrl+Shift+G",
      tip="Put the selected group's blocks back in its place")
    a(w, "edit_group", "&Edit group", w.edit_selected_group, "Ctrl+Return",
      tip="Open the selected group's inside in a tab (also: double-click it)")
    a(w, "open_composite", "&Open as editable group", w.open_composite_selection,
      "Ctrl+Shift+O", tip="Turn a residual, dense, inception or MobileNet block into a group")
    a(w, "save_to_library", "Save group to &library…", w.save_group_to_library,
      tip="Keep the selected group in My blocks, for any network or project")
    a(w, "add_network", "Add &network…", w.add_network)
    a(w, "rename_network", "&Rename network…", w.rename_network)
    a(w, "remove_network", "Re&move network", w.remove_network)
    a(w, "shortcuts", "&Keyboard shortcuts", w.show_shortcuts, "F1")
    a(w, "about", "&About Layerloom", w.show_about)
    group = QActionGroup(w)
    for name in theme.THEMES:
        act = a(w, f"theme_{name}", f"{name.capitalize()} theme",
                lambda _=False, n=name: w.set_theme(n), checkable=True)
        group.addAction(act)


def build_menus(w) -> None:
    bar = w.menuBar()
    A = w.acts
    m = bar.addMenu("&File")
    for key in ("new", "open"):
        m.addAction(A[key])
    w.recent_menu = m.addMenu("Open &recent")
    w.recent_menu.aboutToShow.connect(w.fill_recent_menu)
    m.addSeparator()
    for key in ("save", "save_as"):
        m.addAction(A[key])
    m.addSeparator()
    m.addAction(A["quit"])
    m = bar.addMenu("&Edit")
    for key in ("undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete", "dissolve",
                None, "freeze", "unfreeze", "bypass", None, "select_all", "quick_add", "find"):
        m.addSeparator() if key is None else m.addAction(A[key])
    m = bar.addMenu("&View")
    for key in ("fit", "zoom_in", "zoom_out", "zoom_reset", None, "snap", "minimap", None,
                "theme_dark", "theme_light", None):
        m.addSeparator() if key is None else m.addAction(A[key])
    for dock in w.docks:
        m.addAction(dock.toggleViewAction())
    m = bar.addMenu("&Network")
    for key in ("layout", "summary", "conv_variants", None, "group", "ungroup", "edit_group",
                "open_composite", "save_to_library", None, "add_network", "rename_network",
                "remove_network"):
        m.addSeparator() if key is None else m.addAction(A[key])
    m = w.help_menu = bar.addMenu("&Help")
    m.addAction(A["shortcuts"])
    m.addAction(A["about"])
