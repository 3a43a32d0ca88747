"""The verdict tab on the real main window: a short real run with a learning rate far too
high, its findings shown, Apply performing the fix as one undoable edit."""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt
from training_helpers import pause, train, wait_for

from app.training.series import RunSeries
from app.training.verdict_panel import VerdictPanel
from builder.commands import SetProjectField
from runtime.events import StepMetrics


def _hot(window, lr: float = 10.0) -> None:
    training = copy.deepcopy(window.model.project.training)
    training.optimizers["main"].lr = lr
    assert window.model.do(SetProjectField("training", training))


def _card(panel, rule):
    return next(c for c in panel.cards if c.finding.rule == rule)


def test_the_verdict_shows_a_diverging_run_and_apply_lowers_the_rate(qtbot, window):
    _hot(window)
    dock = window.training.dock
    panel = dock.verdict
    assert dock.tabs.tabText(dock.tabs.indexOf(panel)) == "Verdict"
    window.training.use_temporary_runs()
    train(qtbot, window, 60)
    wait_for(lambda: panel.cards)  # the end of the run forces a verdict
    dock.tabs.setCurrentWidget(panel)
    pause(100)
    rules = [c.finding.rule for c in panel.cards]
    assert rules[0] == "lr_too_high", rules
    assert dock.tabs.tabText(dock.tabs.indexOf(panel)) == f"Verdict ({len(rules)})"
    card = _card(panel, "lr_too_high")
    assert card.isVisible() and card.apply.isEnabled()
    assert "Learning rate too high" in card.title.text()
    assert card.apply.text() == "Lower the learning rate to 3"

    qtbot.mouseClick(card.apply, Qt.LeftButton)
    assert window.model.project.training.optimizers["main"].lr == 3.0
    assert not card.apply.isEnabled() and card.apply.text().startswith("Applied")
    window.acts["undo"].trigger()
    assert window.model.project.training.optimizers["main"].lr == 10.0
    window.acts["redo"].trigger()
    assert window.model.project.training.optimizers["main"].lr == 3.0


def test_graph_fixes_wait_for_an_editable_graph_and_undo(qtbot, window):
    _hot(window)
    panel = window.training.dock.verdict
    window.training.use_temporary_runs()
    train(qtbot, window, 60)
    wait_for(lambda: panel.cards)
    dead = _card(panel, "dead_relus")
    assert dead.finding.fix["block"] == "LeakyReLU"
    nodes = window.model.project.networks["main"].nodes
    relus = [n for _, n in dead.finding.fix["nodes"]]
    # While a run trains, the graph is locked: graph fixes wait, settings fixes do not.
    window.model.set_locked("The graph is read-only while it trains")
    assert not dead.apply.isEnabled()
    assert _card(panel, "lr_too_high").apply.isEnabled()
    window.model.set_locked("")
    assert dead.apply.isEnabled()

    qtbot.mouseClick(dead.apply, Qt.LeftButton)
    assert all(nodes[n].block == "LeakyReLU" for n in relus)
    window.acts["undo"].trigger()
    assert all(window.model.project.networks["main"].nodes[n].block == "ReLU" for n in relus)


def test_the_panel_paces_itself_and_updates_cards_in_place(qtbot):
    panel = VerdictPanel()
    qtbot.addWidget(panel)
    series = RunSeries()
    panel.refresh(series, force=True)
    assert "20 steps" in panel.summary.text() and not panel.cards
    for step in range(1, 11):
        series.add(StepMetrics(step, 0, {"loss": 1.1}))
    panel.refresh(series, force=True)
    assert "not enough steps for a verdict yet (10 of 20)" in panel.summary.text().lower()
    for step in range(11, 41):
        series.add(StepMetrics(step, 0, {"loss": 1.1 if step != 12 else 300.0}))
    panel.refresh(series, force=True)
    card = panel.cards[0]
    assert card.finding.rule == "lr_too_high" and "jumped to 300" in card.evidence.text()
    # outside a window there is no project: no rate to lower, so no button
    assert card.finding.fix is None and not card.apply.isVisibleTo(panel)
    series.add(StepMetrics(41, 0, {"loss": 900.0}))
    panel.refresh(series)  # within INTERVAL of the last verdict: nothing recomputed
    assert "jumped to 300" in card.evidence.text()
    panel.refresh(series, force=True)
    assert panel.cards == [card] and "jumped to 900" in card.evidence.text()
