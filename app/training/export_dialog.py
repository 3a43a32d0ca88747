"""Export: ONNX per network (checked with onnx.checker and compared with onnxruntime: the
parity figure is shown), the weights as safetensors, and standalone PyTorch code.

Weights come from a run of the history (with the exact graph that run trained) or are freshly
initialised.  A run's preprocessing (the standardisation of its inputs with training statistics)
goes into the exported graph and code, so they take raw data; "bare network" leaves it out and
writes the statistics into the ONNX metadata.  The report says which, per network.  The export
runs in a worker thread; every failure is explained in a sentence that says what to do."""

from __future__ import annotations

import html
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app import theme
from builder.document import Project

__all__ = ["ExportDialog", "run_export", "explain", "weights_folder"]


def weights_folder(folder: Path, networks) -> Path | None:
    """Where a run's weights are: its final ``<network>.safetensors`` files, else its last
    checkpoint (a run that was cut short)."""
    for place in (folder, folder / "checkpoint"):
        if all((place / f"{n}.safetensors").is_file() for n in networks):
            return place
    return None


def explain(error: BaseException) -> str:
    """What went wrong, and what to do about it."""
    from builder.compiler import CompileError
    from runtime.checkpoint import CheckpointError
    from runtime.preprocess import PreprocessError

    if isinstance(error, CompileError):
        return (f"The graph cannot be compiled: {error}. Fix the problems marked on the "
                "canvas, then export again.")
    if isinstance(error, CheckpointError):
        return (f"The weights do not fit the graph: {error}. Export that run with the graph it "
                "trained (choose the run above), or export fresh weights.")
    if isinstance(error, PreprocessError):
        return (f"The run's record of its input preprocessing cannot be read: {error}. Export "
                "fresh weights, or train the run again.")
    if isinstance(error, OSError):
        return f"Cannot write the files: {error}. Choose another folder."
    text = f"{type(error).__name__}: {error}".strip()
    return (f"The ONNX exporter refused the graph ({text.splitlines()[0][:300]}). A block may "
            "use an operation without an ONNX form at opset 18; the PyTorch code export still "
            "works.")


def run_export(project: Project, onnx_path: Path, weights: Path | None, save_weights: bool,
               code: bool, bare: bool = False) -> dict:
    """Export (in any thread); returns {"results": [...], "files": [...], "error": str}:
    ``files`` is every file written.  ``weights``: a run folder (or its checkpoint), whose
    recorded preprocessing the exported models apply unless ``bare``."""
    from runtime.export import export_files, export_project

    out: dict = {"results": [], "files": [], "error": ""}
    code_path = onnx_path.with_suffix(".py") if code else None
    try:
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        out["results"] = export_project(project, onnx_path, weights=weights, code=code_path,
                                        bare=bare, weights_beside=save_weights)
        out["files"] = export_files(project, onnx_path, code_path, save_weights)
    except Exception as e:  # noqa: BLE001 - explained to the user
        out["error"] = explain(e)
    return out


class _Done(QObject):
    finished = Signal(object)


class ExportDialog(QDialog):
    def __init__(self, project: Project, store=None, parent=None, current: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setMinimumWidth(620)
        self.project = project
        self.store = store
        self.result: dict | None = None
        self._thread: threading.Thread | None = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.source = QComboBox()
        self.source.addItem("Fresh weights (untrained), current graph", None)
        records = store.records() if store is not None else []
        latest = named = None
        for r in reversed(records):  # the latest run first, and chosen unless told otherwise
            folder = weights_folder(r.folder, (r.project() or project).networks)
            if folder is None:
                continue
            self.source.addItem(f"Run {r.label} ({r.status}, {r.steps} steps)", str(r.folder))
            index = self.source.count() - 1
            latest = latest or index
            named = index if r.name == current else named
        self.source.setCurrentIndex(named or latest or 0)
        self.source.setToolTip("A run's weights are exported with the graph that run trained")
        form.addRow("Weights", self.source)
        self.path = QLineEdit(str(self._default_path()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("ONNX file", holder)
        self.weights = QCheckBox("Weights as safetensors beside it")
        self.weights.setChecked(True)
        self.code = QCheckBox("PyTorch code (.py) that rebuilds the networks and loads the "
                              "weights")
        self.code.setChecked(True)
        self.bare = QCheckBox("Bare network: leave the input standardisation out (its "
                              "statistics go into the ONNX metadata)")
        self.bare.setToolTip("By default the exported model takes raw data: the "
                             "standardisation training applied is part of its graph and code")
        form.addRow("", self.weights)
        form.addRow("", self.code)
        form.addRow("", self.bare)
        lay.addLayout(form)
        note = QLabel("Each network is checked with onnx.checker and run with onnxruntime on "
                      "random inputs; the largest difference from PyTorch is shown.")
        note.setWordWrap(True)
        note.setProperty("role", "dim")
        lay.addWidget(note)
        self.report = QTextBrowser()
        self.report.setMinimumHeight(150)
        self.report.setOpenExternalLinks(False)
        lay.addWidget(self.report, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        self.export_button.setDefault(True)
        buttons.accepted.connect(lambda: self.start())
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._done = _Done()
        self._done.finished.connect(self._finished, Qt.QueuedConnection)

    def _default_path(self) -> Path:
        if self.store is not None and not self.store.temporary:
            return self.store.root.parent / "export" / f"{self.store.stem}.onnx"
        return Path.home() / "layerloom-export" / "model.onnx"

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to ONNX", self.path.text(),
                                              "ONNX models (*.onnx)")
        if path:
            self.path.setText(path if path.endswith(".onnx") else path + ".onnx")

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self) -> bool:
        if self._thread is not None:
            return False
        from builder.serialize import LoomError, load

        project, weights = self.project, None
        folder = self.source.currentData()
        if folder is not None:
            try:
                project = load(Path(folder) / "project.loom")
            except (LoomError, OSError) as e:
                self._show_error(f"This run's project cannot be read: {e}")
                return False
            weights = weights_folder(Path(folder), project.networks)
        path = Path(self.path.text()).expanduser()
        if path.suffix != ".onnx":
            path = path.with_name(path.name + ".onnx")
        save, code, bare = self.weights.isChecked(), self.code.isChecked(), \
            self.bare.isChecked()
        from runtime.export import export_files

        taken = [p for p in export_files(project, path, path.with_suffix(".py") if code
                                         else None, save) if p.exists()]
        if taken and not self.confirm_replace(taken):
            self.report.setHtml("<p>Nothing was written: choose another file name.</p>")
            return False
        self.result = None
        self.export_button.setEnabled(False)
        self.report.setHtml("<p>Exporting…</p>")
        done = self._done

        def work():
            done.finished.emit(run_export(project, path, weights, save, code, bare))

        self._thread = threading.Thread(target=work, name="layerloom-export", daemon=True)
        self._thread.start()
        return True

    def confirm_replace(self, taken: list[Path]) -> bool:
        """Ask before replacing files (tests answer in its place)."""
        names = "\n".join(str(p) for p in taken[:8]) + ("\n…" if len(taken) > 8 else "")
        answer = QMessageBox.question(
            self, "Replace files?", f"These files exist already:\n{names}\n\nReplace them?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _show_error(self, message: str) -> None:
        color = theme.current().error
        self.report.setHtml(f"<p style='color:{color}'><b>Export failed.</b></p>"
                            f"<p>{html.escape(message)}</p>")

    def _finished(self, result: dict) -> None:
        from runtime.export import TOLERANCE

        if self._thread is not None:
            self._thread.join(1.0)
        self._thread = None
        self.result = result
        self.export_button.setEnabled(True)
        if result["error"]:
            self._show_error(result["error"])
            return
        t = theme.current()
        parts = []
        for r in result["results"]:
            ok = r.ok
            mark = f"<span style='color:{t.accent if ok else t.error}'>{'✓' if ok else '✗'}</span>"
            verdict = "matches" if ok else "DIFFERS — do not trust this file"
            parts.append(
                f"<p>{mark} <b>{html.escape(r.network)}</b>: {html.escape(str(r.path))}<br>"
                f"inputs {html.escape(', '.join(r.inputs))} → outputs "
                f"{html.escape(', '.join(r.outputs))}<br>"
                f"onnxruntime parity: max |torch − onnx| = <b>{r.max_abs_diff:.2g}</b> "
                f"(tolerance {TOLERANCE:g}): {verdict}<br>"
                f"preprocessing: {html.escape(r.preprocess)}</p>")
        others = [f for f in result["files"] if not str(f).endswith(".onnx")]
        if others:
            parts.append("<p>Also written:<br>" + "<br>".join(html.escape(str(f))
                                                            for f in others) + "</p>")
        parts.append(f"<p>{len(result['files'])} files written in all; no others.</p>")
        self.report.setHtml("".join(parts))
