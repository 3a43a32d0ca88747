"""The verdict tab of the training dock: what the run's numbers say went wrong, live.

Every few seconds (and when the run ends) the panel builds ``RunFacts`` from the dock's
``RunSeries`` and the open project, runs ``runtime.verdict``'s rules and shows one card per
finding: its title, the evidence with the numbers, what to try, and an Apply button that
performs the finding's fix as one undoable command on the document.  Settings fixes (the
learning rate, clipping, L2) apply while a run trains (they reach the running trainer as a
live change); graph fixes wait until the graph is editable again, as every graph edit does.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.document_model import DocumentModel
from runtime.verdict import Finding, RunFacts, diagnose, fix_command, project_facts
from runtime.verdict_rules import MIN_STEPS

__all__ = ["VerdictPanel", "series_facts", "INTERVAL"]

INTERVAL = 3.0  # seconds between two verdicts while a run trains: trends, not every step
SETTINGS_FIXES = ("lr", "training")  # fixes that are settings edits, allowed during a run


def series_facts(series, project=None) -> RunFacts:
    """The rules' view of a ``RunSeries`` (copies: the series keeps growing)."""
    facts = RunFacts(
        steps={k: (c.x.copy(), c.y.copy()) for k, c in series.steps.items()},
        epochs={k: (c.x.copy(), c.y.copy()) for k, c in series.epochs.items()},
        grad={n: {k: c.y.copy() for k, c in ls.items()} for n, ls in series.grad.items()},
        dead={n: {k: c.y.copy() for k, c in ls.items()} for n, ls in series.dead.items()},
        act={n: {k: (m, std.get(k, math.nan)) for k, m in mean.items()}
             for n, (mean, std, _) in series.act_now.items()})
    return project_facts(project, facts) if project is not None else facts


class _Card(QFrame):
    """One finding: title, evidence, suggestion and its Apply button."""

    def __init__(self, finding: Finding, parent=None):
        super().__init__(parent)
        self.finding = finding
        self.setFrameShape(QFrame.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(2)
        self.title = QLabel()
        self.apply = QPushButton()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.apply)
        lay.addLayout(top)
        self.evidence = QLabel()
        self.evidence.setWordWrap(True)
        self.evidence.setTextFormat(Qt.PlainText)
        self.evidence.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.suggestion = QLabel()
        self.suggestion.setWordWrap(True)
        self.suggestion.setTextFormat(Qt.PlainText)
        self.suggestion.setProperty("role", "dim")
        lay.addWidget(self.evidence)
        lay.addWidget(self.suggestion)
        self.show_finding(finding)

    def show_finding(self, finding: Finding) -> None:
        """Show ``finding`` (the same rule with newer numbers, while a run trains)."""
        self.finding = finding
        self.title.setText(f"<b style='color:{theme.current().warning}'>●</b> "
                           f"<b>{finding.title}</b>")
        self.apply.setVisible(finding.fix is not None)
        self.evidence.setText(finding.evidence[:1].upper() + finding.evidence[1:] + ".")
        self.suggestion.setText(f"Try: {finding.suggestion}.")


class VerdictPanel(QWidget):
    """The findings of the run on show, refreshed at most every ``INTERVAL`` seconds."""

    count_changed = Signal(int)  # findings on show (the dock puts it in the tab's title)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model: DocumentModel | None = None  # found in the window on first use
        self.findings: list[Finding] = []
        self.cards: list[_Card] = []
        self._series = None
        self._at = -math.inf
        self._key: tuple = ()
        self._applied: set[tuple[str, str]] = set()  # (rule, fix label) done in this run
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.body = QWidget()
        self.list = QVBoxLayout(self.body)
        self.list.setContentsMargins(0, 0, 0, 0)
        self.list.setSpacing(6)
        self.list.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(self.body)
        lay.addWidget(scroll, 1)
        self._say(f"The verdict reads the run's numbers once it has {MIN_STEPS} steps.")

    # --- the dock's protocol -------------------------------------------------------------
    def reset(self) -> None:
        self._applied.clear()
        self._at = -math.inf

    def refresh(self, series, force: bool = False) -> None:
        """A new verdict when ``INTERVAL`` has passed (or ``force``: the run ended)."""
        now = time.perf_counter()
        if series is not self._series:
            self._series = series
            self.reset()
        elif not force and now - self._at < INTERVAL:
            return
        self._at = now
        model = self._find_model()
        facts = series_facts(series, model.project if model is not None else None)
        if not facts.enough:
            self._show([], f"Not enough steps for a verdict yet ({facts.loss_steps} of "
                           f"{MIN_STEPS})." if facts.loss_steps else
                       f"The verdict reads the run's numbers once it has {MIN_STEPS} steps.")
            return
        found = diagnose(facts)
        self._show(found, f"After {series.step} steps: " + (
            f"{len(found)} thing{'s' * (len(found) != 1)} to look at." if found else
            "no problem found in the loss, gradients or activations."))

    # --- drawing -------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.summary.setText(text)

    def _show(self, found: list[Finding], summary: str) -> None:
        self._say(summary)
        key = tuple((f.rule, f.title, f.evidence) for f in found)
        if key == self._key:
            return
        self._key, self.findings = key, found
        if [f.rule for f in found] == [c.finding.rule for c in self.cards]:
            for card, f in zip(self.cards, found):  # newer numbers: no flicker, no lost click
                card.show_finding(f)
            self._update_buttons()
            return
        for card in self.cards:
            self.list.removeWidget(card)
            card.deleteLater()
        self.cards = []
        for f in found:
            card = _Card(f, self.body)
            card.apply.clicked.connect(lambda _=False, c=card: self.apply(c))
            self.list.insertWidget(self.list.count() - 1, card)
            self.cards.append(card)
        self._update_buttons()
        self.count_changed.emit(len(found))

    def _update_buttons(self) -> None:
        model = self.model
        for card in self.cards:
            fix = card.finding.fix
            if fix is None:
                continue
            done = (card.finding.rule, fix["label"]) in self._applied
            locked = model is not None and bool(model.locked) and \
                fix["kind"] not in SETTINGS_FIXES
            card.apply.setEnabled(model is not None and not done and not locked)
            card.apply.setText(f"Applied: {fix['label']}" if done else fix["label"])
            card.apply.setToolTip(model.locked if locked else
                                  "Undo (Ctrl+Z) takes it back" if done else
                                  "Apply this change to the project as one undoable edit")

    # --- applying --------------------------------------------------------------------------
    def apply(self, card: _Card) -> bool:
        """Perform the card's fix on the document as one undoable command."""
        model, fix = self._find_model(), card.finding.fix
        if model is None or fix is None:
            return False
        command = fix_command(model.project, fix)
        if command is None:
            model.refused.emit(f"The fix “{fix['label']}” no longer fits the project.")
            return False
        if not model.do(command):
            return False
        self._applied.add((card.finding.rule, fix["label"]))
        self._update_buttons()
        return True

    def _find_model(self) -> DocumentModel | None:
        """The window's document (the dock lives in the main window, docked or floating)."""
        if self.model is None:
            w = self.parentWidget()
            while w is not None and not isinstance(getattr(w, "model", None), DocumentModel):
                w = w.parentWidget()
            if w is not None:
                self.model = w.model
                self.model.state_changed.connect(self._update_buttons)
        return self.model
