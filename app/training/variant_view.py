"""Training ▸ Run all variants: train every variant of the project (``Project.variants``) in
turn and compare them in one view — the validation curves overlaid and the results table
(``SweepResults``, each run named by its variant), and the last gradient norm of every layer
as grouped bars, one colour per variant (the vanishing-gradient picture side by side).

It runs ``layerloom sweep FILE --variants`` in a child process exactly as the sweep dialog
does (``SweepProcess`` below reuses that dialog's boot line and process-group handling), on a
temporary copy of the project, so the window never freezes and the user's file is untouched."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
)

from app.training.plots.style import Panel, PowerAxis, plot_widget, series_color
from app.training.sweep_dialog import _RUNNING, BOOT, _kill_group
from app.training.sweep_results import SweepResults
from builder.serialize import save
from runtime import recipes, sweep
from runtime.variants import check_variants, layer_gradients

__all__ = ["SweepProcess", "VariantResults", "VariantBars", "VariantsDialog", "install",
           "open_variants"]


class SweepProcess(QObject):
    """``layerloom sweep ARGS`` in a child process of its own process group (Stop ends its
    workers too): ``line`` for each line it prints, ``done(code, crashed, last error line)``."""

    line = Signal(str)
    done = Signal(int, bool, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self._pid, self._buffer = 0, b""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.NotRunning

    def start(self, args: list[str]) -> None:
        p = self.process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        root = str(Path(sweep.__file__).resolve().parents[1])  # where runtime/ is importable
        env.insert("PYTHONPATH", ":".join(filter(None, [root, env.value("PYTHONPATH")])))
        p.setProcessEnvironment(env)
        p.readyReadStandardOutput.connect(self._read)
        p.finished.connect(self._finished)
        p.errorOccurred.connect(lambda e: e == QProcess.FailedToStart and self._end(
            2, False, f"The comparison could not start: {p.errorString()}"))
        self._buffer = b""
        p.start(sys.executable, ["-u", "-c", BOOT, *args])
        self._pid = p.processId()
        _RUNNING.add(self._pid)

    def stop(self) -> None:
        if self.running:
            _kill_group(self._pid)
            self.process.kill()

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self.line.emit(line.decode("utf-8", "replace").strip())

    def _finished(self, code: int, status) -> None:
        self._read()
        errors = bytes(self.process.readAllStandardError()).decode("utf-8", "replace").strip()
        self._end(code, status == QProcess.CrashExit, errors.splitlines()[-1] if errors else "")

    def _end(self, code: int, crashed: bool, error: str) -> None:
        _RUNNING.discard(self._pid)
        self.done.emit(code, crashed, error)


class VariantResults(SweepResults):
    """The sweep's table and curves, each run named by its variant rather than its values."""

    @staticmethod
    def _label(row: dict) -> list[str]:
        return [row["variant"]] if row.get("variant") else SweepResults._label(row)


class VariantBars(Panel):
    """The last gradient norm of every layer, a group of bars per layer, a colour per variant,
    on a log scale: bars that shrink towards the input are a vanishing gradient."""

    def __init__(self, parent=None):
        self.plot = plot_widget("Gradient norm per layer, by variant", "", x_label="",
                                axis_items={"left": PowerAxis("left")}, legend=True)
        super().__init__(self.plot, "Each variant's last gradient norm per layer appears "
                                    "here as its run ends.", parent)
        self.plot.getPlotItem().getViewBox().setMouseEnabled(x=False, y=False)
        self.bars: list[pg.BarGraphItem] = []
        self.norms: dict[str, dict[str, float]] = {}  # variant → layer → norm (tests, notes)

    def show_runs(self, out: Path, rows: list[dict], order: list[str] = ()) -> None:
        """The bars of the runs in ``rows`` of ``out``; ``order``: layers (``net/node``) in
        the order the canvas chains them (others follow in the order first reported)."""
        names = [r.get("variant") or r["run"] for r in rows]
        norms = {name: layer_gradients(out / r["run"]) for name, r in zip(names, rows)}
        self.norms = {k: v for k, v in norms.items() if v}
        item = self.plot.getPlotItem()
        for bar in self.bars:
            item.removeItem(bar)
        self.bars = []
        if item.legend is not None:
            item.legend.clear()
        layers = list(dict.fromkeys(k for v in self.norms.values() for k in v))
        rank = {k: i for i, k in enumerate(order)}
        layers.sort(key=lambda k: rank.get(k, len(rank)))
        self.set_empty(not layers)
        if not layers:
            return
        values = [v for n in self.norms.values() for v in n.values() if v > 0 and
                  math.isfinite(v)]
        base = math.floor(math.log10(min(values))) - 0.25 if values else -1.0
        width = 0.8 / len(norms)
        for i, name in enumerate(names):
            got = self.norms.get(name, {})
            x = [j + (i - (len(names) - 1) / 2) * width for j, k in enumerate(layers) if k in got]
            logs = [math.log10(got[k]) if got[k] > 0 else base for k in layers if k in got]
            bar = pg.BarGraphItem(x=np.array(x), height=np.array(logs) - base, y0=base,
                                  width=width * 0.92, brush=series_color(i), pen=None,
                                  name=name)
            item.addItem(bar)  # named: the legend lists it
            self.bars.append(bar)
        short = [k.split("/", 1)[-1] for k in layers]
        item.getAxis("bottom").setTicks([list(enumerate(short)), []])
        item.setXRange(-0.6, len(layers) - 0.4, padding=0)
        # headroom above the tallest bar for the legend, one row of names across the top
        top = math.ceil(max(math.log10(max(values)), base + 0.5) * 2) / 2 + 1.0 \
            if values else 0.0
        if item.legend is not None:
            item.legend.setColumnCount(max(1, len(names)))
        item.setYRange(base, top, padding=0)


class VariantsDialog(QDialog):
    """Runs all variants of the window's project and shows them side by side."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Compare variants")
        self.out: Path | None = None
        self._temp: str | None = None
        self.runner = SweepProcess(self)
        self.runner.line.connect(self._on_line)
        self.runner.done.connect(self._on_done)
        self.names = QLabel()
        self.names.setWordWrap(True)
        self.max_steps = QSpinBox()
        self.max_steps.setRange(0, 10_000_000)
        self.max_steps.setSpecialValueText("as set (every epoch)")
        self.max_steps.setMinimumWidth(180)
        self.start_button = QPushButton("Run all variants")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m variants")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setProperty("role", "dim")
        self.results = VariantResults(self._monitor)
        self.bars = VariantBars()
        top = QHBoxLayout()
        top.addWidget(QLabel("Max steps per variant"))
        top.addWidget(self.max_steps)
        top.addWidget(self.start_button)
        top.addWidget(self.stop_button)
        top.addWidget(self.progress, 1)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.results)
        split.addWidget(self.bars)
        split.setSizes([420, 320])
        lay = QVBoxLayout(self)
        lay.addWidget(self.names)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button.clicked.connect(self.runner.stop)
        self.resize(1100, 820)

    @property
    def project(self):
        return self.window.model.project

    def _monitor(self) -> tuple[str, str]:
        try:
            return recipes.get(self.project.recipe.name).monitor or ("loss", "min")
        except recipes.RecipeError:
            return ("loss", "min")

    def _order(self) -> list[str]:
        return [f"{name}/{node}" for name, net in self.project.networks.items()
                for node in net.nodes]

    def start(self) -> bool:
        """Check the variants and run them all; False (the reason shown) if it cannot."""
        if self.runner.running:
            return False
        variants = self.project.variants
        self.names.setText("Variants: " + "; ".join(
            f"<b>{n}</b> ({', '.join(f'{k}={v}' for k, v in c.items())})"
            for n, c in variants.items()) if variants else "This project has no variants.")
        try:
            if not variants:
                raise ValueError("This project has no variants to compare.")
            check_variants(self.project)
        except ValueError as e:
            self.status.setText(str(e))
            return False
        store = self.window.training.store
        out = store.root / f"variants-{store.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 2
        while out.exists():
            out, n = out.with_name(f"{out.name.rsplit('~', 1)[0]}~{n}"), n + 1
        self._temp = tempfile.mkdtemp(prefix="layerloom-variants-")
        loom = save(self.project, Path(self._temp) / f"{store.stem}.loom")
        args = ["sweep", str(loom), "--variants", "--out", str(out)]
        if self.max_steps.value():
            args += ["--max-steps", str(self.max_steps.value())]
        self.out = out
        self.results.show_folder(out)
        self.bars.show_runs(out, [])
        self.progress.setRange(0, len(variants))
        self.progress.setValue(0)
        self.status.setText(f"Starting {len(variants)} variants…")
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.runner.start(args)
        return True

    def _on_line(self, text: str) -> None:
        self.status.setText(text)
        self.progress.setValue(self.results.refresh())
        self.bars.show_runs(self.out, self.results.rows, self._order())

    def _on_done(self, code: int, crashed: bool, error: str) -> None:
        done = self.results.refresh()
        self.progress.setValue(done)
        self.bars.show_runs(self.out, self.results.rows, self._order())
        if crashed:
            self.status.setText(f"Stopped after {done} variants; results in {self.out}")
        elif code in (0, 1):
            self.status.setText(("Finished" if code == 0 else "A variant failed (its row says "
                                 "why);") + f" results in {self.out / 'results.csv'}")
        else:
            self.status.setText(error or f"The comparison ended with {code}.")
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    @property
    def running(self) -> bool:
        return self.runner.running


def open_variants(window, start: bool = True) -> VariantsDialog:
    """Show the window's comparison (one per window, kept with its results) and run it."""
    dialog = getattr(window, "_variants_dialog", None)
    if dialog is None:
        dialog = window._variants_dialog = VariantsDialog(window)
    dialog.show()
    dialog.raise_()
    if start:
        dialog.start()
    return dialog


def install(window, menu) -> QAction:
    """Add Training ▸ Run all variants, enabled while the open project has variants."""
    action = menu.addAction("Run all &variants", lambda: open_variants(window))
    action.setStatusTip("Train each variant of the project in turn and compare their curves "
                        "and per-layer gradients")

    def update(*_) -> None:
        action.setEnabled(bool(window.model.project.variants))

    for signal in (window.model.replaced, window.model.changed, menu.aboutToShow):
        signal.connect(update)
    update()
    return action
