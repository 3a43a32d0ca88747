"""Training ▸ Sweep…: train the open project once per combination of settings (MATLAB's
Experiment Manager), with a live results table and the runs' curves overlaid.

The form is checked with ``runtime.sweep`` before anything starts.  The sweep itself is
``python -m runtime.cli sweep`` in a child process (the GUI never freezes, and a crash of a run
cannot take the window with it) on a copy of the project saved to a temporary .loom (the
user's file is never written).  The form opens with the project's prepared sweep
(``Project.sweep``) and can be saved back as it, one undoable edit.  The table follows
``DIR/results.csv``, which the sweep rewrites after each run; each run's ``metrics.csv`` gives
its validation curve."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.training.sweep_results import SweepResults
from builder.commands import SetProjectField
from builder.serialize import LoomError, dumps, loads, save
from runtime import recipes, sweep

__all__ = ["SweepDialog", "open_sweep"]

# The sweep runs in a process group of its own (POSIX), so that Stop also ends the worker
# processes of --jobs, which would otherwise train on as orphans.
BOOT = ("import os, sys; hasattr(os, 'setpgrp') and os.setpgrp(); "
        "from runtime.cli import main; sys.exit(main(sys.argv[1:]))")
_RUNNING: set[int] = set()  # the process ids of the sweeps running


def _kill_group(pid: int) -> None:
    if pid and hasattr(os, "killpg"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:  # not yet a group leader, or gone
            pass


@atexit.register
def _kill_all() -> None:  # the app quits while a sweep trains
    for pid in list(_RUNNING):
        _kill_group(pid)


class _Row(QWidget):
    """One setting to vary: the key (editable, with suggestions) and its values."""

    def __init__(self, keys: list[str], on_change, on_remove):
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.key = QComboBox()
        self.key.setEditable(True)
        self.key.addItems(keys)
        self.key.setMinimumContentsLength(22)
        self.key.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.values = QLineEdit()
        self.values.setPlaceholderText("values, comma-separated: 0.1, 0.01, 0.001")
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this setting")
        lay.addWidget(self.key, 2)
        lay.addWidget(self.values, 3)
        lay.addWidget(self.remove)
        self.key.currentTextChanged.connect(on_change)
        self.values.textChanged.connect(on_change)
        self.remove.clicked.connect(lambda: on_remove(self))


class SweepDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Sweep")
        self.rows: list[_Row] = []
        self.process: QProcess | None = None
        self.out: Path | None = None
        self.total = 0
        self._temp: str | None = None
        self._pid = 0
        self._buffer = b""

        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(4)
        add = QPushButton("+ Add setting")
        add.clicked.connect(lambda: self.add_row())
        self.mode = QComboBox()
        self.mode.addItems(["Every combination (grid)", "Random points of the grid"])
        self.random_n = QSpinBox()
        self.random_n.setRange(1, 10000)
        self.random_n.setValue(4)
        self.count = QLabel()
        self.count.setProperty("role", "dim")
        self.max_steps = QSpinBox()
        self.max_steps.setRange(0, 10_000_000)
        self.max_steps.setSpecialValueText("as set (every epoch)")
        self.jobs = QSpinBox()
        self.jobs.setRange(1, max(1, os.cpu_count() or 1))
        self.jobs.setSuffix(" at a time")
        self.folder = QLineEdit(str(self.fresh_folder()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setProperty("role", "error")
        self.start_button = QPushButton("Start sweep")
        self.start_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.save_button = QPushButton("Save as the project's sweep")
        self.save_button.setToolTip("Keep these settings in the project: layerloom sweep FILE "
                                    "and this dialog start from them (undoable)")
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m runs")
        self.status = QLabel("")
        self.status.setProperty("role", "dim")

        runs = QHBoxLayout()
        for w in (self.mode, self.random_n, self.count):
            runs.addWidget(w)
        runs.addStretch(1)
        place = QHBoxLayout()
        place.addWidget(self.folder, 1)
        place.addWidget(browse)
        form = QFormLayout()
        form.addRow("Runs", runs)
        for label, spin in (("Max steps per run", self.max_steps), ("Parallel runs", self.jobs)):
            spin.setMinimumWidth(180)
            line = QHBoxLayout()
            line.addWidget(spin)
            line.addStretch(1)
            form.addRow(label, line)
        form.addRow("Output folder", place)
        head = QLabel("Settings to vary (each run trains one combination of their values)")
        head.setProperty("role", "heading")
        top = QVBoxLayout()
        top.addWidget(head)
        top.addLayout(self.rows_box)
        top.addWidget(add, 0, Qt.AlignLeft)
        top.addLayout(form)
        top.addWidget(self.message)
        go = QHBoxLayout()
        go.addWidget(self.start_button)
        go.addWidget(self.stop_button)
        go.addWidget(self.progress, 1)
        go.addWidget(self.save_button)
        top.addLayout(go)
        top.addWidget(self.status)

        self.results = SweepResults(self._monitor)
        self.results.exported.connect(
            lambda path: self.status.setText(f"Results exported to {path}"))
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.results, 1)

        self.mode.currentIndexChanged.connect(self._update_count)
        self.random_n.valueChanged.connect(self._update_count)
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(lambda: self.save_prepared())
        self._filled_from = None
        self.fill_prepared()
        self._say("")
        self.resize(1100, 760)

    def _monitor(self) -> tuple[str, str]:
        try:
            return recipes.get(self.project.recipe.name).monitor or ("loss", "min")
        except recipes.RecipeError:
            return ("loss", "min")

    # --- the form --------------------------------------------------------------------------
    @property
    def project(self):
        return self.window.model.project

    def fresh_folder(self) -> Path:
        """A new folder beside the project's runs: runs/sweep-<project>-<date>-<time>."""
        store = self.window.training.store
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = store.root / f"sweep-{store.stem}-{stamp}"
        n = 2
        while folder.exists():
            folder, n = store.root / f"sweep-{store.stem}-{stamp}-{n}", n + 1
        self._default = str(folder)
        return folder

    def add_row(self, key: str = "", values: str = "") -> _Row:
        row = _Row(sweep.setting_keys(self.project), self._on_row_change, self._remove_row)
        row.key.setCurrentText(key)
        row.values.setText(values)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self._on_row_change()
        return row

    def _remove_row(self, row: _Row) -> None:
        self.rows.remove(row)
        row.deleteLater()
        self._on_row_change()

    def _on_row_change(self, _=None) -> None:
        for row in self.rows:
            now = sweep.current_value(self.project, row.key.currentText().strip())
            row.values.setToolTip(f"Now {now}" if now is not None else "")
            row.values.setPlaceholderText(
                f"values, comma-separated (now {now})" if now is not None
                else "values, comma-separated: 0.1, 0.01, 0.001")
        self._update_count()

    def _update_count(self, _=None) -> None:
        self.random_n.setVisible(self.mode.currentIndex() == 1)
        try:
            n = len(self.points(check=False)[1])
            self.count.setText(f"= {n} run{'s' * (n != 1)}")
        except (ValueError, KeyError, TypeError):
            self.count.setText("")

    def points(self, check: bool = True) -> tuple[list, list]:
        """The axes and the runs' points of the form; ValueError naming what is wrong.
        ``check``: also check every point's project as the sweep will (types, shapes)."""
        axes = []
        for i, row in enumerate(self.rows, 1):
            key, values = row.key.currentText().strip(), row.values.text().strip()
            if not key:
                raise ValueError(f"Setting {i}: choose what to vary.")
            if not values:
                raise ValueError(f"{key}: give one value or more, separated by commas.")
            key, parsed = sweep.parse_set(f"{key}={values}")
            if key in (k for k, _ in axes):
                raise ValueError(f"{key} is listed twice: give all its values in one row.")
            sweep.apply_setting(loads(dumps(self.project)), key, parsed[0])
            axes.append((key, parsed))
        if not axes:
            raise ValueError("Add a setting to vary.")
        random = self.random_n.value() if self.mode.currentIndex() == 1 else None
        points = sweep.grid(axes, random)
        if check:
            for point in points:
                sweep.check_point(self.project, point)  # the sweep's own check, run ahead
        return axes, points

    def fill_prepared(self) -> None:
        """The form from the project's prepared sweep (one training.lr row when it has none)."""
        for row in list(self.rows):
            self.rows.remove(row)
            row.deleteLater()
        prepared = self.project.sweep
        for key, values in prepared.get("set", {"training.lr": []}).items():
            self.add_row(key, ", ".join(v if isinstance(v, str) else json.dumps(v)
                                        for v in values))
        self.mode.setCurrentIndex(1 if prepared.get("random") else 0)
        if prepared.get("random"):
            self.random_n.setValue(prepared["random"])
        self.max_steps.setValue(prepared.get("max_steps", 0))
        self._filled_from = (id(self.project), json.dumps(prepared))
        self._update_count()

    def prepared(self) -> dict:
        """The form as a prepared sweep (``Project.sweep``); ValueError naming what is wrong."""
        axes, _ = self.points()
        prepared = {"set": dict(axes)}
        if self.mode.currentIndex() == 1:
            prepared["random"] = self.random_n.value()
        if self.max_steps.value():
            prepared["max_steps"] = self.max_steps.value()
        return prepared

    def save_prepared(self) -> bool:
        """Set the project's sweep to the form's, one undoable edit; False (and why) if not."""
        try:
            prepared = self.prepared()
            copy = loads(dumps(self.project))
            copy.sweep = prepared
            loads(dumps(copy))  # the reader's own checks, as the saved file will meet them
        except (ValueError, KeyError, TypeError, LoomError) as e:
            return self._say(str(e).strip("'\"").replace("--set ", ""))
        if prepared == self.project.sweep:
            return self._say("")
        if not self.window.model.do(SetProjectField("sweep", prepared)):
            return False
        self._filled_from = (id(self.project), json.dumps(prepared))
        self._say("")
        self.status.setText("Saved as the project's sweep; save the project to keep it.")
        return True

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Sweep output folder",
                                                  str(Path(self.folder.text()).parent))
        if folder:
            self.folder.setText(folder)

    # --- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.NotRunning

    def start(self) -> bool:
        """Check the form and start the sweep; False (and the reason shown) if it cannot."""
        if self.running:
            return False
        out = Path(self.folder.text().strip()).expanduser()
        try:
            axes, points = self.points()
            if not self.folder.text().strip():
                raise ValueError("Choose an output folder.")
            if out.exists() and (not out.is_dir() or any(out.iterdir())):
                raise ValueError(f"The output folder {out} is not empty: choose a new one.")
        except (ValueError, KeyError, TypeError) as e:
            return self._say(str(e).strip("'\"").replace("--set ", ""))
        self._temp = tempfile.mkdtemp(prefix="layerloom-sweep-")
        loom = Path(self._temp) / f"{self.window.training.store.stem}.loom"
        save(self.project, loom)
        args = ["-u", "-c", BOOT, "sweep", str(loom), "--out", str(out)]
        for row in self.rows:
            args += ["--set", f"{row.key.currentText().strip()}={row.values.text().strip()}"]
        if self.mode.currentIndex() == 1:
            args += ["--random", str(self.random_n.value())]
        if self.max_steps.value():
            args += ["--max-steps", str(self.max_steps.value())]
        if self.jobs.value() > 1:
            args += ["--jobs", str(self.jobs.value())]
        self.out, self.total, self._buffer = out, len(points), b""
        self._say("")
        self.results.show_folder(out)
        self.progress.setRange(0, self.total)
        self.progress.setValue(0)
        self.status.setText(f"Starting {self.total} run{'s' * (self.total != 1)}…")
        p = self.process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        root = str(Path(sweep.__file__).resolve().parents[1])  # where runtime/ is importable
        env.insert("PYTHONPATH", os.pathsep.join(filter(None, [root, env.value("PYTHONPATH")])))
        p.setProcessEnvironment(env)
        p.readyReadStandardOutput.connect(self._on_output)
        p.finished.connect(self._on_finished)
        p.errorOccurred.connect(self._on_error)
        self._set_running(True)
        p.start(sys.executable, args)  # a failure to start comes back as errorOccurred
        self._pid = p.processId()
        _RUNNING.add(self._pid)
        return True

    def stop(self) -> None:
        if self.running:
            self.status.setText("Stopping…")
            _kill_group(self._pid)
            self.process.kill()

    def _set_running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.stop_button.setEnabled(on)

    def _say(self, text: str) -> bool:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        return False

    def _on_output(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self.status.setText(line.decode("utf-8", "replace").strip())
        self.progress.setValue(self.results.refresh())

    def _on_error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self._say(f"The sweep could not start: {self.process.errorString()}")
            self._finish()

    def _on_finished(self, code: int, status) -> None:
        self._on_output()
        errors = bytes(self.process.readAllStandardError()).decode("utf-8", "replace").strip()
        if status == QProcess.CrashExit:
            self.status.setText(f"Stopped: {self.progress.value()} of {self.total} runs "
                                f"finished; their results are in {self.out}")
        elif code == 1 and self.results.rows:
            self.status.setText("A run failed: its row says why. Results: "
                                f"{self.out / 'results.csv'}")
        elif code == 0:
            self.status.setText(f"Finished {self.total} runs. Results: "
                                f"{self.out / 'results.csv'}")
        else:  # refused (2) or broken: its last line of stderr says why
            self.status.setText("")
            self._say(errors.splitlines()[-1] if errors else f"The sweep ended with {code}.")
        self._finish()

    def _finish(self) -> None:
        _RUNNING.discard(self._pid)
        self._set_running(False)
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None
        if self.out is not None and Path(self.folder.text()) == self.out:
            self.folder.setText(str(self.fresh_folder()))  # the next sweep gets a fresh one

    def showEvent(self, event) -> None:
        """Opened again, perhaps on another project: its settings, its runs folder."""
        super().showEvent(event)
        if not self.running and self._filled_from != (id(self.project),
                                                      json.dumps(self.project.sweep)):
            self.fill_prepared()  # another project, or its prepared sweep changed
        keys = sweep.setting_keys(self.project)
        for row in self.rows:
            text = row.key.currentText()
            row.key.blockSignals(True)
            row.key.clear()
            row.key.addItems(keys)
            row.key.setCurrentText(text)
            row.key.blockSignals(False)
        if not self.running and self.folder.text() == self._default:
            self.folder.setText(str(self.fresh_folder()))
        self._on_row_change()


def open_sweep(window) -> SweepDialog:
    """Show the window's sweep dialog (one per window, kept with its results)."""
    dialog = getattr(window, "_sweep_dialog", None)
    if dialog is None:
        dialog = window._sweep_dialog = SweepDialog(window)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
