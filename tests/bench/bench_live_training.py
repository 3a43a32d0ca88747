"""Live training in the editor: does the interface stay fluid, and does training keep its pace?

While the gallery's MLP (spirals) trains as fast as it can inside the real main window
(offscreen), a precise 10 ms QTimer probes the GUI event loop: its lateness is the latency a
user's click or a repaint would wait.  Training throughput inside the app is compared with
the headless trainer on the same run (the CLI's callbacks: metrics CSV/JSONL, a run folder
with checkpoints), measured the same way (steps between the Started and Finished events, in
the training thread), alternating headless / app rounds.  Both run under the settings the
app makes before its first run (``share_cores``: torch leaves one core to the GUI, and a
0.5 ms GIL switch interval), so the ratio is the cost of the live interface alone.

Run:  QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_live_training.py
          [--steps 8000] [--rounds 3]
Targets (printed, never asserted): GUI latency p95 < 20 ms and max < 50 ms; app / headless
throughput >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_CONFIG_DIR", tempfile.mkdtemp(prefix="layerloom-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow, freeze_startup_heap, make_app  # noqa: E402
from app.training.bridge import share_cores, wait_until_idle  # noqa: E402
from builder.serialize import load  # noqa: E402
from runtime.events import Finished, Started  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[2] / "resources" / "templates" / "mlp.loom"
EPOCHS = 1_000_000  # runs end at --steps, not at the template's 60 epochs


class Clock:
    """An event callback (runs in the training thread) timing the loop's steps."""

    def __init__(self) -> None:
        self.t0 = self.t1 = 0.0
        self.s0 = self.s1 = 0

    def __call__(self, event) -> None:
        if isinstance(event, Started):
            self.t0, self.s0 = time.perf_counter(), event.start_step
        elif isinstance(event, Finished):
            self.t1, self.s1 = time.perf_counter(), event.step

    @property
    def rate(self) -> float:
        return (self.s1 - self.s0) / max(1e-9, self.t1 - self.t0)


def headless(steps: int) -> float:
    """The CLI's run (runtime.commands.train) without its terminal output."""
    from runtime.runlog import MetricsWriter
    from runtime.trainer import Trainer

    project = load(TEMPLATE)
    run_dir = Path(tempfile.mkdtemp(prefix="layerloom-bench-run-"))
    writer, clock = MetricsWriter(run_dir), Clock()

    def both(event):
        writer(event)
        clock(event)

    Trainer(project, callback=both, run_dir=run_dir, on_nonfinite="stop").fit(
        epochs=EPOCHS, max_steps=steps)
    writer.close()
    return clock.rate


class Probe:
    """A 10 ms precise timer; each tick's lateness is the event loop's latency."""

    def __init__(self, interval_ms: int = 10):
        self.interval = interval_ms / 1000
        self.lateness: list[float] = []
        self._last = None
        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.lateness.append(max(0.0, now - self._last - self.interval))
        self._last = now

    def start(self) -> None:
        self._last = None
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def in_app(window, steps: int, probe: Probe) -> tuple[float, int]:
    """Train from the window (as the Train action does), probing the loop meanwhile."""
    training = window.training
    clock = Clock()
    start = training.bridge.start

    def start_with_clock(project, **kwargs):  # time the loop exactly as headless() does
        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), clock]
        return start(project, **kwargs)

    training.bridge.start = start_with_clock
    deliveries = training.bridge.deliveries
    cpu = time.thread_time()
    probe.start()
    assert training.train(max_steps=steps, epochs=EPOCHS), training.dock.message_text
    wait_until_idle(training.bridge, 600)
    probe.stop()
    training.bridge.start = start
    in_app.gui_cpu += time.thread_time() - cpu
    return clock.rate, training.bridge.deliveries - deliveries


in_app.gui_cpu = 0.0  # CPU seconds the GUI thread used while runs trained


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    make_app()
    window = MainWindow(autosave=False)
    window.files.open_path(TEMPLATE, confirm=False)
    window.training.use_temporary_runs()
    window.resize(1600, 1000)
    window.show()
    QApplication.processEvents()
    threads = share_cores()  # what the app does before its first run
    freeze_startup_heap()  # as run_app does once the window is up
    print(f"mlp.loom on spirals, {args.steps} steps per run, torch threads {threads}, "
          f"{os.cpu_count()} CPU cores, GIL switch interval {sys.getswitchinterval() * 1e3:g} ms")

    headless(200)  # warm-up: imports, allocator, first-call costs
    probe = Probe()
    app_rates, cli_rates, seconds, batches = [], [], 0.0, 0
    for _ in range(args.rounds):
        cli_rates.append(headless(args.steps))
        rate, delivered = in_app(window, args.steps, probe)
        app_rates.append(rate)
        seconds += args.steps / rate
        batches += delivered
    lat = [x * 1000 for x in probe.lateness]
    print(f"GUI event-loop latency over {len(lat)} probes: p50 {pct(lat, 0.5):.1f} ms, "
          f"p95 {pct(lat, 0.95):.1f} ms (target < 20), max {max(lat):.1f} ms (target < 50)")
    print(f"event deliveries to the GUI: {batches / seconds:.1f} per second (at most ~30); "
          f"GUI thread busy {100 * in_app.gui_cpu / seconds:.0f} % of the time; plots redrawn at "
          f"{1 / window.training.dock.pace:.2g}× their full rate")
    cli, app = max(cli_rates), max(app_rates)
    ratios = [a / c for a, c in zip(app_rates, cli_rates)]
    print(f"headless: {cli:.0f} steps/s (best; rounds {', '.join(f'{r:.0f}' for r in cli_rates)})")
    print(f"in app:   {app:.0f} steps/s (best; rounds {', '.join(f'{r:.0f}' for r in app_rates)})")
    print(f"throughput app / headless: best {app / cli:.2f}, median of rounds "
          f"{statistics.median(ratios):.2f} (target >= 0.9)")
    window.model.document.mark_clean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
