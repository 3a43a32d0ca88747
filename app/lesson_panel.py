"""The lesson dock: what to look at, change and expect in the open gallery example, and the
formula with its numbers. It follows the document model: a project made from a template (known
by the title its description keeps) shows that template's lesson."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QTextBrowser, QVBoxLayout, QWidget

from app.document_model import DocumentModel
from builder.lessons import Lesson, LessonError, lesson, template_of

__all__ = ["LessonPanel", "place_lesson_dock", "step_aside", "in_front", "EMPTY"]

EMPTY = ("No lesson for this project. The examples on the start page (File ▸ New…) come "
         "with one.")


class LessonPanel(QWidget):
    def __init__(self, model: DocumentModel, parent=None):
        super().__init__(parent)
        self.model = model
        self.shown: Lesson | None = None
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setObjectName("lesson")
        # A narrow dock: lists indented by a little, not by Qt's 40 pixels.
        self.browser.document().setIndentWidth(12)
        self.browser.document().setDocumentMargin(6)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.browser)
        model.replaced.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """The lesson of the template the open project came from, or the empty message."""
        name = template_of(self.model.project.description)
        error = None
        try:
            found = lesson(name) if name else None
        except LessonError as e:  # a broken lesson file must not take the window down
            found, error = None, str(e)
        self.shown = found
        self.browser.setMarkdown(found.markdown() if found else f"*{error or EMPTY}*")

    def text(self) -> str:
        return self.browser.toPlainText()


def in_front(widget) -> bool:
    """Shown to the user: a dock behind another's tab stays "visible" to Qt, only off-screen."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def place_lesson_dock(window) -> QDockWidget:
    """The Lesson dock as a tab beside the Inspector (both keep the column's full height): in
    front when the user picks an example on the start page, behind the Inspector once a block
    is chosen."""
    panel = LessonPanel(window.model)
    dock = window.add_dock("Lesson", panel, Qt.RightDockWidgetArea)
    inspector = next(d for d in window.docks if d.objectName() == "Inspector")
    window.tabifyDockWidget(inspector, dock)
    inspector.raise_()
    window.docks.append(dock)  # its toggle joins the View menu with the other docks
    picked = []  # an example chosen on the start page, until it has opened

    def opened() -> None:
        if panel.shown is not None and picked:
            dock.raise_()
        elif panel.shown is None and in_front(panel):  # nothing to read: the form is more use
            inspector.raise_()
        picked.clear()

    window.start_page.template_chosen.connect(lambda _: picked.append(True))
    window.files.opened.connect(opened)
    return dock


def step_aside(window) -> None:
    """A block was chosen: where the lesson is in front, bring the Inspector (its form) forward."""
    if in_front(window.lesson):
        next(d for d in window.docks if d.objectName() == "Inspector").raise_()


if __name__ == "__main__":
    from app.preview import preview_model, run_preview

    run_preview(lambda: LessonPanel(preview_model()), (360, 520))
