"""Editor benchmarks on a generated 1,000-node network (run on demand, prints figures).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_editor.py [--nodes 1000]

Targets (issue 4): open and render < 1.5 s; a frame while dragging a node < 16 ms; a param
edit that re-labels every wire and badge < 50 ms.  Each figure includes the synchronous
repaint of the canvas, not just the model work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "app")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_CONFIG_DIR", tempfile.mkdtemp(prefix="layerloom-bench-"))

from big_network import big_project  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow, freeze_startup_heap, make_app  # noqa: E402
from builder.commands import SetParams  # noqa: E402
from builder.serialize import save  # noqa: E402


def mouse(view, kind, pos: QPointF, buttons=Qt.LeftButton):
    button = Qt.NoButton if kind == QMouseEvent.Type.MouseMove else Qt.LeftButton
    glob = QPointF(view.viewport().mapToGlobal(pos.toPoint()))
    QApplication.sendEvent(view.viewport(), QMouseEvent(kind, pos, glob, button, buttons,
                                                        Qt.NoModifier))


def bench_open(window, path: Path) -> float:
    t = time.perf_counter()
    window.files.open_path(path, confirm=False)
    window.fit_all()
    view = window.current_view()
    QApplication.processEvents()
    view.viewport().repaint()
    return time.perf_counter() - t


def bench_drag(window, node_id: str, zoom: float | None, frames: int = 60,
               full: bool = False) -> list[float]:
    """Frame times (ms) of dragging one node: a mouse move and the repaint it causes (the
    dirty region, as Qt does it; ``full`` repaints the whole canvas every frame instead)."""
    view = window.current_view()
    if zoom is None:
        view.fit()
    else:
        view.resetTransform()
        view.scale(zoom, zoom)
        view.center_on_node(node_id)
    QApplication.processEvents()
    item = view.scene().nodes[node_id]
    start = QPointF(view.mapFromScene(item.pos() + QPointF(item.look.width / 2, 34)))
    mouse(view, QMouseEvent.Type.MouseButtonPress, start, Qt.LeftButton)
    times = []
    for i in range(1, frames + 1):
        t = time.perf_counter()
        mouse(view, QMouseEvent.Type.MouseMove, start + QPointF(i * 2.0, i * 1.0))
        if full:
            view.viewport().repaint()
        else:
            QApplication.processEvents()
        times.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    mouse(view, QMouseEvent.Type.MouseButtonRelease, start + QPointF(frames * 2.0, frames),
          Qt.NoButton)
    QApplication.processEvents()
    commit = (time.perf_counter() - t) * 1000
    window.model.undo()
    return times + [commit]


def bench_param_edit(window, repeats: int = 20, zoom: float | None = None) -> list[float]:
    """Change the Input's size back and forth: every wire downstream changes its label and the
    first skip connection gains (then loses) a red badge."""
    view = window.current_view()
    if zoom is None:
        view.fit()
    else:
        view.resetTransform()
        view.scale(zoom, zoom)
        view.center_on_node("add0")
    QApplication.processEvents()
    times = []
    for i in range(repeats):
        width = 32 if i % 2 == 0 else 64
        t = time.perf_counter()
        window.model.do(SetParams("main", "x", {"shape": [width]}))
        QApplication.processEvents()  # delivers the paint of everything that changed
        times.append((time.perf_counter() - t) * 1000)
    return times


def summary(name: str, ms: list[float], target: float) -> str:
    p50, worst = statistics.median(ms), max(ms)
    p95 = sorted(ms)[int(0.95 * (len(ms) - 1))]
    verdict = "ok" if p95 < target else "OVER"
    return (f"{name:<42} median {p50:7.2f} ms   p95 {p95:7.2f} ms   max {worst:7.2f} ms"
            f"   target < {target:g} ms: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--size", default="1600x1000")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    app = make_app()
    window = MainWindow(autosave=False)
    window.files.ask_save = lambda: "discard"
    window.resize(w, h)
    window.show()
    app.processEvents()
    freeze_startup_heap()  # as run_app does
    path = Path(tempfile.mkdtemp()) / "big.loom"
    save(big_project(args.nodes), path)
    print(f"Layerloom editor benchmark: {args.nodes} nodes, window {w}x{h}, "
          f"platform {QApplication.platformName()}")
    cold = bench_open(window, path)
    warm = bench_open(window, path)
    verdict = "ok" if cold < 1.5 else "OVER"
    print(f"{'open + render (first / again)':<42} {cold * 1000:7.1f} ms / {warm * 1000:7.1f} ms"
          f"   target < 1500 ms: {verdict}")
    middle = "fc100a" if "fc100a" in window.model.project.networks["main"].nodes else "fc0a"
    print(summary("drag a node, zoom 1.0", bench_drag(window, middle, 1.0), 16))
    print(summary("drag a node, whole graph in view", bench_drag(window, middle, None), 16))
    print(summary("  same, repainting the whole canvas", bench_drag(window, middle, None,
                                                                     full=True), 16))
    print(summary("param edit: all shapes and badges", bench_param_edit(window), 50))
    print(summary("  same at zoom 1.0 (labels drawn)", bench_param_edit(window, zoom=1.0), 50))
    window.model.document.mark_clean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
