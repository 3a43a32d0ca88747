"""``layerloom screenshot FILE OUT.png``: the main window with a project open, rendered
offscreen to a PNG (the README's picture comes from here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["screenshot"]

def screenshot(file: str | None, out_png: str, size: tuple[int, int] = (1600, 1000),
               train_steps: int = 0, select: str | None = None, tab: str = "Live") -> int:
    """Render and save; returns an exit code.  ``train_steps``: train that many real steps
    first (from the toolbar's Train action, as a user would) so the dock's plots and the
    canvas colours show data.  ``select`` names a node to show in the inspector (default:
    the first block with parameters); ``tab`` the training dock's tab shown after training
    (its title, any case: "Samples" shows the pictures and the prompt box)."""
    if "PySide6.QtWidgets" not in sys.modules:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow, make_app
    from builder import pngtext
    from builder.serialize import dumps

    make_app()
    window = MainWindow(autosave=False)
    errors: list[str] = []
    window.files.show_error = lambda title, message: errors.append(message)  # no modal dialogs
    if file:
        if not window.files.open_path(file, confirm=False):
            print(f"error: {errors[-1] if errors else f'cannot open {file}'}", file=sys.stderr)
            window.deleteLater()
            QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
            return 2
    else:
        window.files.new_from_template(confirm=False)
    window.set_size(*size)
    window.show()
    QApplication.processEvents()
    view = window.current_view()
    if view is not None:
        net = view.scene().net
        target = select if select in net.nodes else next(
            (n.id for n in net.nodes.values() if n.params and n.block not in ("Input", "Output")),
            None)
        if target:
            view.scene().select_nodes([target])
    QApplication.processEvents()  # the inspector settles its size before the canvas is fitted
    tabs = window.training.dock.tabs
    titles = [tabs.tabText(i).casefold() for i in range(tabs.count())]
    if tab.casefold() not in titles:
        print(f"error: --tab must name one of the training dock's tabs: "
              f"{', '.join(tabs.tabText(i) for i in range(tabs.count()))}; received {tab!r}",
              file=sys.stderr)
        window.model.document.mark_clean()
        window.close()
        window.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
        return 2
    failed = _train(window, train_steps, titles.index(tab.casefold())) if train_steps > 0 \
        else ""
    window.fit_all()  # readable: a long network shows its start, the minimap the rest
    for _ in range(3):
        QApplication.processEvents()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(out))
    if ok:  # the picture carries its project: dropped on the window, it opens it
        pngtext.embed(out, dumps(window.model.project))
    window.model.document.mark_clean()  # nothing to ask on close
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    if not ok:
        print(f"error: cannot write {out}", file=sys.stderr)
        return 1
    if failed:
        print(f"error: training failed: {failed}", file=sys.stderr)
        return 1
    return 0


def _train(window, steps: int, tab: int = 0, timeout: float = 600.0) -> str:
    """Train ``steps`` steps in the window and wait for the run to end; "" or the failure."""
    import time

    from PySide6.QtWidgets import QApplication

    from app.training.bridge import wait_until_idle

    training = window.training
    training.use_temporary_runs()  # a picture must not leave run folders beside the file
    if not training.train(max_steps=steps):
        return training.dock.message_text or "the run did not start"
    wait_until_idle(training.bridge, timeout)
    training.dock.tabs.setCurrentIndex(tab)
    end = time.perf_counter() + 0.3  # let the last batch of plots and colours draw
    while time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.01)
    failure = training.bridge.last_failure
    return failure.message if failure is not None else ""
