"""Open, save, save as, new (blank or from the gallery), recent files and "save changes?".

Every question to the user goes through one small method (``ask_save``, ``ask_open_path``,
``ask_save_path``, ``show_error``) so tests can answer it without a modal dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app import settings
from app.autosave import Recovery
from app.document_model import DocumentModel
from builder import pngtext
from builder.document import Network, Project
from builder.gallery import DEFAULT, template_path
from builder.serialize import LoomError, load, loads, save

__all__ = ["FileController", "blank_project", "fallback_mlp", "FILTER"]

FILTER = "Layerloom projects (*.loom)"


def blank_project() -> Project:
    net = Network("main")
    net.add("Input", pos=(0, 0), shape=[2], kind="vector")
    net.add("Output", pos=(1100, 0))  # room for a few blocks in between
    return Project(networks={"main": net}, description="Untitled project")


def fallback_mlp() -> Project:
    """The MLP built in code, for an installation whose templates are missing."""
    net = Network("main")
    ids = [net.add("Input", "x", (0, 0), shape=[2], kind="vector"),
           net.add("Linear", "hidden1", (220, 0), units=32), net.add("ReLU", "relu1", (440, 0)),
           net.add("Linear", "hidden2", (660, 0), units=32), net.add("ReLU", "relu2", (880, 0)),
           net.add("Linear", "logits", (1100, 0), units=3), net.add("Output", "y", (1320, 0))]
    net.chain(*ids)
    return Project(networks={"main": net}, description="Multilayer perceptron")


class FileController(QObject):
    opened = Signal()  # a project was opened or created

    def __init__(self, window, model: DocumentModel):
        super().__init__(window)
        self.window = window
        self.model = model

    # --- questions (tests replace these) ---------------------------------------------------
    def ask_save(self) -> str:
        """'save', 'discard' or 'cancel'."""
        name = Path(self.model.path).name if self.model.path else "this untitled project"
        box = QMessageBox(QMessageBox.Warning, "Unsaved changes",
                          f"Save the changes to {name} before closing it?",
                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
                          self.window)
        box.setDefaultButton(QMessageBox.Save)
        answer = box.exec()
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def ask_open_path(self) -> str | None:
        folder = str(Path(self.model.path).parent) if self.model.path else ""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open project", folder, FILTER)
        return path or None

    def ask_save_path(self) -> str | None:
        suggestion = str(self.model.path) if self.model.path else "untitled.loom"
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project as", suggestion, FILTER)
        return path or None

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self.window, title, message)

    # --- operations ------------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """True when the current project may be closed (saved, discarded or clean)."""
        if not self.model.dirty:
            return True
        answer = self.ask_save()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def open_path(self, path: str | Path, confirm: bool = True) -> bool:
        if confirm and not self.confirm_discard():
            return False
        try:
            project = load(path)
        except LoomError as e:
            self.show_error("Cannot open the project", str(e))
            settings.remove_recent(path)
            return False
        self.model.replace(project, Path(path).resolve())
        settings.add_recent(path)
        self.opened.emit()
        return True

    def open_picture(self, path: str | Path, confirm: bool = True) -> bool:
        """Open the project a Layerloom picture carries, as an unsaved copy (the picture is
        not a project file to save over)."""
        if confirm and not self.confirm_discard():
            return False
        name = Path(path).name
        try:
            text = pngtext.read(path)
            if text is None:
                self.show_error("No project in this picture", f"{name} holds no Layerloom "
                                "project: only screenshots, sample grids and plots that "
                                "Layerloom saved carry one.")
                return False
            project = loads(text)
        except (OSError, pngtext.PngTextError, LoomError) as e:
            self.show_error("Cannot open the picture's project", f"{name}: {e}")
            return False
        self.model.replace(project, None, origin=f"the project in {name}")
        self.opened.emit()
        return True

    def open_dialog(self) -> bool:
        if not self.confirm_discard():
            return False
        path = self.ask_open_path()
        return self.open_path(path, confirm=False) if path else False

    def new_from_template(self, name: str = DEFAULT, confirm: bool = True) -> bool:
        """An untitled copy of a gallery template: saving asks for a name."""
        if confirm and not self.confirm_discard():
            return False
        try:
            project = load(template_path(name))
        except LoomError:
            if name != DEFAULT:
                self.show_error("Cannot open the example", f"The example {name!r} is missing.")
                return False
            project = fallback_mlp()
        title = project.description.splitlines()[0].strip() if project.description else name
        self.model.replace(project, None, origin=title or name)
        self.opened.emit()
        return True

    def new_blank(self, confirm: bool = True) -> bool:
        if confirm and not self.confirm_discard():
            return False
        self.model.replace(blank_project(), None)
        self.opened.emit()
        return True

    def recover(self, recovery: Recovery) -> bool:
        try:
            project = load(recovery.file)
        except LoomError as e:
            self.show_error("Cannot recover", str(e))
            return False
        original = Path(recovery.original) if recovery.original else None
        self.model.replace(project, original, recovered=True)
        recovery.discard()
        self.opened.emit()
        return True

    def save(self) -> bool:
        if self.model.path is None:
            return self.save_as()
        return self._write(Path(self.model.path))

    def save_as(self, path: str | Path | None = None) -> bool:
        path = path or self.ask_save_path()
        if not path:
            return False
        path = Path(path)
        if path.suffix != ".loom":
            path = path.with_name(path.name + ".loom")
        return self._write(path)

    def _write(self, path: Path) -> bool:
        try:
            save(self.model.project, path)
        except OSError as e:
            self.show_error("Cannot save the project", f"{path}: {e.strerror or e}")
            return False
        self.model.mark_saved(path.resolve())
        settings.add_recent(path)
        return True
