"""Training ▸ Sweep…: a real sweep of the MLP example in a child process, its results table
(sorted, best highlighted, exported) and its overlaid curves; a bad setting starts nothing."""

import csv

from PySide6.QtCore import QPoint, Qt

from app.training.sweep_dialog import SweepDialog
from runtime.sweep import current_value, setting_keys


def _open(window, qtbot) -> SweepDialog:
    action = next(a for a in window.training.menu.actions() if a.text() == "S&weep…")
    action.trigger()
    dialog = window.findChild(SweepDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def _column(dialog, name):
    table = dialog.results.table
    c = next(i for i in range(table.columnCount())
             if table.horizontalHeaderItem(i).text() == name)
    return [table.item(r, c) for r in range(table.rowCount())]


def test_sweep_runs_tabulates_and_plots(window, qtbot, tmp_path):
    keys = setting_keys(window.model.project)
    assert {"training.lr", "training.optimizer", "main/hidden1.units"} <= set(keys)
    assert current_value(window.model.project, "main/hidden1.units") == 32
    before = window.model.document.dirty
    dialog = _open(window, qtbot)
    dialog.rows[0].key.setCurrentText("training.lr")
    dialog.rows[0].values.setText("0.1, 0.001")
    assert dialog.count.text() == "= 2 runs"
    dialog.max_steps.setValue(5)
    dialog.folder.setText(str(tmp_path / "sweep"))
    assert dialog.start(), dialog.message.text()
    assert not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert dialog.results.table.rowCount() == 2, dialog.status.text()
    assert dialog.status.text().startswith("Finished 2 runs")
    assert window.model.document.dirty == before  # the user's project was not touched

    # The best row (least validation loss) is highlighted in bold.
    losses = [float(i.text()) for i in _column(dialog, "best_loss")]
    best = min(range(2), key=lambda r: losses[r])
    bold = [i.font().bold() for i in _column(dialog, "run")]
    assert bold[best] and not bold[1 - best]
    assert dialog.results.best_run == _column(dialog, "run")[best].text()

    # Sorting by a header click (numbers as numbers); the highlight moves with its row.
    table = dialog.results.table
    lr_col = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())] \
        .index("training.lr")
    header = table.horizontalHeader()
    at = QPoint(header.sectionViewportPosition(lr_col) + 5, header.height() // 2)
    qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=at)
    first = [float(i.text()) for i in _column(dialog, "training.lr")]
    qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=at)
    second = [float(i.text()) for i in _column(dialog, "training.lr")]
    assert sorted(first) in (first, second) and second == first[::-1]
    rows = {i.text(): i.font().bold() for i in _column(dialog, "run")}
    assert rows[dialog.results.best_run]

    # One curve per run, named by its values.
    items = dialog.results.plot.getPlotItem().listDataItems()
    assert len(items) == 2
    assert {i.name().removesuffix(" ★") for i in items} == {"lr=0.1", "lr=0.001"}
    assert all(len(i.getData()[0]) >= 1 for i in items)

    out = tmp_path / "exported.csv"
    assert dialog.results.export_csv(str(out)) == str(out)
    with open(out, newline="") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_bad_setting_is_named_and_starts_nothing(window, qtbot, tmp_path):
    dialog = _open(window, qtbot)
    dialog.folder.setText(str(tmp_path / "sweep"))
    dialog.rows[0].key.setCurrentText("training.lrr")
    dialog.rows[0].values.setText("0.1")
    qtbot.mouseClick(dialog.start_button, Qt.LeftButton)
    assert dialog.process is None and not (tmp_path / "sweep").exists()
    assert "training.lrr" in dialog.message.text() and dialog.message.isVisible()

    dialog.rows[0].key.setCurrentText("main/hidden1.units")
    dialog.rows[0].values.setText("8, -3")  # -3 units is refused before anything trains
    assert not dialog.start()
    assert "main/hidden1.units=-3" in dialog.message.text(), dialog.message.text()
    dialog.rows[0].values.setText("")
    assert not dialog.start() and "give one value" in dialog.message.text()
    row = dialog.add_row("main/hidden1.units", "8")
    assert len(dialog.rows) == 2
    row.remove.click()
    assert len(dialog.rows) == 1 and dialog.process is None


def test_stop_ends_the_sweep_and_its_workers(window, qtbot, tmp_path):
    import os

    dialog = _open(window, qtbot)
    dialog.rows[0].values.setText("0.1, 0.01, 0.001")
    dialog.add_row("training.epochs", "500")
    dialog.jobs.setMaximum(2)
    dialog.jobs.setValue(2)
    dialog.folder.setText(str(tmp_path / "sweep"))
    assert dialog.start(), dialog.message.text()
    pid = dialog._pid
    qtbot.waitUntil(lambda: (tmp_path / "sweep" / "run-001").exists(), timeout=60_000)
    qtbot.mouseClick(dialog.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=10_000)
    assert dialog.status.text().startswith("Stopped: 0 of 3 runs"), dialog.status.text()
    assert dialog.start_button.isEnabled() and not dialog.stop_button.isEnabled()
    if hasattr(os, "killpg"):  # the worker processes went with it
        qtbot.waitUntil(lambda: _group_gone(pid), timeout=5_000)


def _group_gone(pid: int) -> bool:
    import os

    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_dialog_opens_with_the_prepared_sweep_and_saves_it_undoably(window, qtbot):
    from resources import TEMPLATES

    assert window.files.open_path(TEMPLATES / "hyperparameters.loom", confirm=False)
    prepared = window.model.project.sweep
    dialog = _open(window, qtbot)
    rows = [(r.key.currentText(), r.values.text()) for r in dialog.rows]
    assert rows == [("main/hidden1.units", "4, 16, 64"), ("training.lr", "0.01, 0.1, 0.5"),
                    ("training.momentum", "0.0, 0.9"), ("training.batch_size", "16, 64"),
                    ("training.epochs", "10, 30")]
    assert dialog.mode.currentIndex() == 1 and dialog.random_n.value() == prepared["random"]
    assert dialog.count.text() == f"= {prepared['random']} runs"

    # Edited and saved as the project's sweep: one undoable edit of the document.
    dialog.rows[1].values.setText("0.05, 0.2")
    dialog.rows[4].remove.click()
    dialog.mode.setCurrentIndex(0)
    qtbot.mouseClick(dialog.save_button, Qt.LeftButton)
    saved = window.model.project.sweep
    assert saved["set"]["training.lr"] == [0.05, 0.2] and "training.epochs" not in saved["set"]
    assert "random" not in saved and window.model.document.dirty
    window.model.undo()
    assert window.model.project.sweep == prepared

    # A bad value is named and saves nothing.
    dialog.rows[0].values.setText("4, many")
    assert not dialog.save_prepared() and "main/hidden1.units" in dialog.message.text()
    assert window.model.project.sweep == prepared

    # Reopened on a project with no prepared sweep: the one-row form.
    dialog.hide()
    window.files.new_from_template(confirm=False)
    dialog = _open(window, qtbot)
    assert [r.key.currentText() for r in dialog.rows] == ["training.lr"]
