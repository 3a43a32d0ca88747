"""The main window: canvas tabs (one per network), palette, inspector, problems, menus.

All views follow the one ``DocumentModel``; this window only routes its change notifications
to them, in a fixed order (tabs, scenes, inspector, problems), and wires gestures to commands.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import settings, theme
from app.application import freeze_startup_heap, make_app, offer_recovery
from app.autosave import Autosaver
from app.canvas.scene import NetworkScene
from app.canvas.view import CanvasView
from app.document_model import DocumentModel
from app.file_ops import FileController
from app.find_node import FindNode
from app.groups import GroupActions, is_group_tab, tab_title
from app.inspector.panel import Inspector
from app.lesson_panel import place_lesson_dock, step_aside
from app.links import link_target, linked, node_names
from app.menus import build_actions, build_menus
from app.palette import Palette
from app.problems_panel import ProblemsPanel
from app.quick_fix import fix_command
from app.start_page import StartPage
from app.training.controller import TrainingController
from app.window_dialogs import WindowDialogs

__all__ = ["MainWindow", "run_app", "make_app", "freeze_startup_heap"]

WIDE = 1200  # pixels of window width from which the right docks take the full height


class MainWindow(GroupActions, WindowDialogs, QMainWindow):
    def __init__(self, model: DocumentModel | None = None, autosave: bool = True):
        super().__init__()
        self.model = model or DocumentModel()
        self.files = FileController(self, self.model)
        self.acts: dict = {}
        self.views: dict[str, CanvasView] = {}
        self.snap = settings.store().value("snap", False, type=bool)
        self.minimap_on = settings.store().value("minimap", True, type=bool)
        self.resize(1400, 860)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(lambda _: self._selection_changed())
        self.tabs.tabBarDoubleClicked.connect(lambda _: self.rename_network())
        self.tabs.setTabsClosable(True)  # only the tabs of group insides keep the button
        self.tabs.tabCloseRequested.connect(self.close_group_tab)
        self.start_page = StartPage()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.tabs)
        self.stack.setCurrentWidget(self.tabs)
        self.banner = QLabel()  # "Training — the graph is read-only…" while a run uses it
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.palette = Palette()
        self.inspector = Inspector(self.model)
        self.problems = ProblemsPanel(self.model)
        self.docks = [
            self.add_dock("Blocks", self.palette, Qt.LeftDockWidgetArea),
            self.add_dock("Inspector", self.inspector, Qt.RightDockWidgetArea),
            self.add_dock("Problems", self.problems, Qt.BottomDockWidgetArea),
        ]
        self._tall_right: bool | None = None
        self._fit_corners()
        self.resizeDocks(self.docks[:2], [230, 320], Qt.Horizontal)
        self.resizeDocks(self.docks[2:], [120], Qt.Vertical)
        self.lesson_dock = place_lesson_dock(self)  # a tab beside the Inspector
        self.lesson = self.lesson_dock.widget()
        self.stats_label = QLabel()
        self.statusBar().addPermanentWidget(self.stats_label)
        # Messages, with every block they name a link to it (say); QStatusBar's own
        # messages are plain text.
        self.status_text = QLabel()
        self.status_text.setTextFormat(Qt.RichText)
        self.status_text.linkActivated.connect(self._follow_link)
        self.statusBar().addWidget(self.status_text, 1)
        self._said = QTimer(self)
        self._said.setSingleShot(True)
        self._said.timeout.connect(self.status_text.clear)

        build_actions(self)
        build_menus(self)
        self.training = TrainingController(self)
        self.training.place_docks()
        self.acts["snap"].setChecked(self.snap)
        self.acts["minimap"].setChecked(self.minimap_on)
        self.acts[f"theme_{theme.current().name}"].setChecked(True)

        self.model.changed.connect(self._on_change)
        self.model.replaced.connect(self._rebuild_tabs)
        self.model.state_changed.connect(self._update_state)
        self.model.refused.connect(lambda m: self.say(m, 6000))
        self.palette.add_requested.connect(self._add_from_palette)
        self.palette.library_requested.connect(self.insert_library_block)
        self.palette.message.connect(lambda text: self.say(text, 8000))
        self.inspector.fix_requested.connect(self.apply_fix)
        self.inspector.renamed.connect(lambda net, old, new: self.go_to(net, new, center=False))
        self.problems.node_requested.connect(self.go_to)
        self.finder = FindNode(self)
        self.finder.chosen.connect(self.go_to)
        self.problems.fix_requested.connect(self.apply_fix)
        self.files.opened.connect(self._opened)
        sp = self.start_page
        sp.template_chosen.connect(lambda name: self.files.new_from_template(name))
        sp.blank_chosen.connect(lambda: self.files.new_blank())
        sp.file_chosen.connect(lambda path: self.files.open_path(path))
        sp.open_requested.connect(self.files.open_dialog)
        sp.back_requested.connect(lambda: self.stack.setCurrentWidget(self.tabs))
        self.setAcceptDrops(True)
        self.autosaver = Autosaver(self.model, self) if autosave else None
        self._rebuild_tabs()
        self._update_state()

    def set_size(self, width: int, height: int) -> None:
        """Resize, with the dock corners for the new width first (they set the minimum)."""
        self._fit_corners(width)
        self.layout().activate()  # the minimum size follows the corners now, not later
        self.resize(width, height)

    def say(self, text: str, ms: int = 6000) -> None:
        """A message in the status bar for ``ms``; the blocks it names are links."""
        self.status_text.setText(linked(text, node_names(self.model.project)))
        self._said.start(ms)

    def _follow_link(self, link: str) -> None:
        target = link_target(link)
        if target is not None:
            self.go_to(*target)

    def _fit_corners(self, width: int | None = None) -> None:
        """In a wide window the inspector and training setup take the full height (long forms
        fit without scrolling) and the training dock the rest of the width below the canvas;
        in a narrow one the training dock keeps the full width its plots need."""
        tall = (self.width() if width is None else width) >= WIDE
        if tall != self._tall_right:
            self._tall_right = tall
            area = Qt.RightDockWidgetArea if tall else Qt.BottomDockWidgetArea
            self.setCorner(Qt.BottomRightCorner, area)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit_corners()

    def add_dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable
                         | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    # --- canvases ---------------------------------------------------------------------------
    def current_view(self) -> CanvasView | None:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, CanvasView) else None

    def with_view(self, method: str, *args):
        def call(*_):
            view = self.current_view()
            if view is not None and self.stack.currentWidget() is self.tabs:
                return getattr(view, method)(*args)
            return None
        return call

    def _make_view(self, name: str) -> CanvasView:
        view = CanvasView(NetworkScene(self.model, name))
        view.snap = self.snap
        view.minimap.enabled = self.minimap_on
        view.scene().selectionChanged.connect(self._selection_changed)
        view.open_file_requested.connect(lambda path: self.files.open_path(path))
        view.message.connect(lambda m: self.say(m, 5000))
        view.open_group_requested.connect(self.open_group)
        view.library_dropped.connect(lambda path, at: self.insert_library_block(path, view, at))
        view.minimap.schedule()
        return view

    def _rebuild_tabs(self) -> None:
        current = self.tabs.tabText(self.tabs.currentIndex())
        self.tabs.blockSignals(True)
        while self.tabs.count():
            widget = self.tabs.widget(0)
            self.tabs.removeTab(0)
            widget.deleteLater()
        self.views.clear()
        for name in self.model.project.networks:
            self.views[name] = self._make_view(name)
            self.tabs.addTab(self.views[name], name)
        if current in self.views:
            self.tabs.setCurrentWidget(self.views[current])
        self._mark_closable()
        self.tabs.blockSignals(False)
        self._selection_changed()
        self.problems.refresh()

    def _sync_tabs(self) -> None:
        names = list(self.model.project.networks)
        gone = [n for n in self.views if n not in names and not is_group_tab(n)]
        new = [n for n in names if n not in self.views]
        if len(gone) == 1 and len(new) == 1:  # a rename: keep the view and its zoom
            view = self.views.pop(gone[0])
            view.scene().net_name = new[0]
            self.views[new[0]] = view
            view.scene().rebuild()
            self.tabs.setTabText(self.tabs.indexOf(view), tab_title(new[0]))
            return
        for name in gone:
            view = self.views.pop(name)
            self.tabs.removeTab(self.tabs.indexOf(view))
            view.deleteLater()
        for name in new:
            self.views[name] = self._make_view(name)
            self.tabs.insertTab(names.index(name), self.views[name], name)
            self.tabs.setCurrentWidget(self.views[name])
        self._mark_closable()

    def _on_change(self, change) -> None:
        if change.project:
            self._sync_tabs()
        self.close_vanished_groups()
        for view in self.views.values():
            view.scene().on_change(change)
            view.minimap.schedule()
        self.inspector.refresh()
        self.problems.refresh()
        self._update_stats()

    def _selection_changed(self) -> None:
        self.update_group_actions()
        view = self.current_view()
        if view is None:
            self.inspector.show_node(None, None)
            return
        ids = view.scene().selected_node_ids()
        self.inspector.show_node(view.scene().net_name, ids[0] if len(ids) == 1 else None,
                                 len(ids))
        if ids:
            step_aside(self)
        self._update_stats()

    def go_to(self, net_name: str, node_id: str, center: bool = True) -> None:
        """Show ``node_id`` of a network or of a group's inside (its tab opened if need be)."""
        view = self.views.get(net_name) or (self.open_group(net_name) if is_group_tab(net_name)
                                            else None)
        if view is None:
            return
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentWidget(view)
        view.scene().select_nodes([node_id])
        if center:
            view.center_on_node(node_id)

    def _add_from_palette(self, block: str) -> None:
        view = self.current_view()
        if view is not None:
            self.stack.setCurrentWidget(self.tabs)
            view.append_block(block)

    def apply_fix(self, problem) -> None:
        command = fix_command(self.model.project, problem)
        if command is not None and self.model.do(command):
            self.say(f"Applied: {command.text}", 5000)

    # --- window state -----------------------------------------------------------------------
    def _update_state(self) -> None:
        doc = self.model.document
        title = f"{self.model.display_name}[*] — Layerloom"
        if title != self.windowTitle():
            self.setWindowTitle(title)
            self.inspector.refresh()  # it names the project too
        self.setWindowModified(self.model.dirty)
        for key, can, text in (("undo", doc.can_undo, doc.undo_text),
                               ("redo", doc.can_redo, doc.redo_text)):
            act = self.acts[key]
            act.setEnabled(can)
            act.setText(f"&{key.capitalize()} {text}".rstrip())
        self.update_group_actions()

    def _update_stats(self) -> None:
        view = self.current_view()
        if view is None:
            self.stats_label.setText("")
            return
        name = view.scene().net_name
        net, report = self.model.network(name), self.model.report(name)
        if net is None or report is None:
            return
        errors = sum(p.severity == "error" for p in report.problems)
        state = "valid" if not errors else f"{errors} error{'s' * (errors != 1)}"
        self.stats_label.setText(f"{tab_title(name)} · {len(net.nodes)} blocks · {state}")

    def _opened(self) -> None:
        self.stack.setCurrentWidget(self.tabs)
        QTimer.singleShot(0, self.fit_all)
        if self.model.origin:  # a gallery example: say what to do first
            self.say(
                f"{self.model.origin}: press Train (F5) to train it and watch the Training "
                "dock; click a block to read and change it.", 15000)

    def fit_all(self) -> None:
        for view in self.views.values():
            view.fit()

    def show_start_page(self) -> None:
        self.start_page.refresh()
        self.stack.setCurrentWidget(self.start_page)

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in settings.recent_files():
            self.recent_menu.addAction(path, lambda p=path: self.files.open_path(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("No recent files").setEnabled(False)

    def set_snap(self, on: bool) -> None:
        self.snap = bool(on)
        settings.store().setValue("snap", self.snap)
        for view in self.views.values():
            view.snap = self.snap

    def set_minimap(self, on: bool) -> None:
        self.minimap_on = bool(on)
        settings.store().setValue("minimap", self.minimap_on)
        for view in self.views.values():
            view.minimap.enabled = self.minimap_on
            view.minimap.refit()

    def set_theme(self, name: str) -> None:
        theme.apply(QApplication.instance(), name)
        settings.store().setValue("theme", name)
        self.acts[f"theme_{name}"].setChecked(True)
        for view in self.views.values():
            for item in view.scene().items():
                item.update()  # drops each item's cached pixmap
            view.resetCachedContent()
            view.minimap.refit()
        self.palette._populate()
        self.problems._shown = None
        self.problems.refresh()
        self.training.dock.apply_theme()

    # --- closing and file drops -------------------------------------------------------------
    def closeEvent(self, event):
        if self.files.confirm_discard():
            self.training.shutdown()  # a run stops and keeps its checkpoint and weights
            if self.autosaver is not None:
                self.autosaver.discard()
            store = settings.store()
            store.setValue("geometry", self.saveGeometry())
            store.setValue("window_state", self.saveState())
            event.accept()
        else:
            event.ignore()

    def dragEnterEvent(self, event):
        if any(u.toLocalFile().lower().endswith((".loom", ".png"))
               for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if path.endswith(".loom"):
                event.acceptProposedAction()
                self.files.open_path(path)
                return
            if path.lower().endswith(".png"):  # a picture Layerloom made holds its project
                event.acceptProposedAction()
                self.files.open_picture(path)
                return


def run_app(path: str | None = None) -> int:
    app = make_app()
    window = MainWindow()
    store = settings.store()
    if store.value("geometry") is not None:  # where the user left the window and its docks
        window.restoreGeometry(store.value("geometry"))
        window.restoreState(store.value("window_state"))
    if not (path and window.files.open_path(path, confirm=False)):
        window.show_start_page()  # the gallery, recent files and a blank project to choose
    freeze_startup_heap()
    window.show()
    offer_recovery(window)
    QTimer.singleShot(0, window.fit_all)
    return app.exec()
