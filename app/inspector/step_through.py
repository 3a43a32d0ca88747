"""The inspector's step-through: one sample goes forward block by block, the gradient comes
back layer by layer, then one optimizer step shows how much each weight moved.

``runtime.stepthrough`` computes everything at once (in a thread: the data loads first);
the buttons only reveal it a step at a time.  The canvas marks the current block and writes
each visited block's number under it with the node overlay the gradient heat uses; Reset
and the start of a run hand the canvas back to the heat."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from app import theme
from builder.document import Project
from builder.ports import freeze

__all__ = ["StepThroughPanel", "FORWARD", "BACKWARD", "UPDATED"]

FORWARD, BACKWARD, UPDATED = QColor("#a371f7"), QColor("#e3a63a"), QColor("#3fb950")


_IN = "<br>&nbsp;&nbsp;"  # a name on one line, its numbers indented on the next


def _num(x: float) -> str:
    return f"{x:.3g}"


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape) or "scalar"


def _signature(project: Project, network: str):
    """What the step depends on (not where blocks sit): a change here makes it stale."""
    net = project.networks.get(network)
    if net is None:
        return None
    t = project.training
    return (tuple((k, n.block, freeze(n.params), n.trainable, n.bypass, n.lr_scale,
                   None if n.subnet is None else repr(n.subnet)) for k, n in net.nodes.items()),
            tuple(map(repr, net.edges)), repr(t.optimizers), t.l1, t.l2, t.grad_clip,
            repr(project.dataset), repr(project.recipe))



def _show(label: QLabel, text: str) -> None:
    """Set a label's text; an empty label is hidden so it leaves no gap in the inspector."""
    label.setText(text)
    label.setVisible(bool(text))

class _Done(QObject):
    finished = Signal(object)


class StepThroughPanel(QWidget):
    """``weights_source``: given a network, the folder of its latest run's weights (None:
    fresh weights), as Run to here has it."""

    def __init__(self, weights_source: Callable[[str], Path | None] = lambda n: None,
                 parent=None):
        super().__init__(parent)
        self.weights_source = weights_source
        self.project: Project | None = None
        self.network: str | None = None
        self.session = None  # the StepThrough being shown
        self.error = ""  # the last refusal, in words (tests read it)
        self.forward_at = self.backward_at = 0  # steps revealed so far
        self.updated = False
        self.locked = False
        self._signature = None
        self._pending: str | None = None
        self._thread: threading.Thread | None = None
        self._painted: str | None = None  # the network whose canvas we marked
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Sample"))
        self.sample = QSpinBox()
        self.sample.setRange(0, 999_999)
        self.sample.setToolTip("Which validation sample to follow through one training step")
        self.sample.valueChanged.connect(lambda _: self.reset())
        row.addWidget(self.sample, 1)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Forget this step and give the canvas back")
        row.addWidget(self.reset_button)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.forward_button = QPushButton("Forward ▶")
        self.forward_button.setToolTip("Compute the next block's output for the sample")
        self.backward_button = QPushButton("◀ Backward")
        self.backward_button.setToolTip("Send the loss's gradient back through one more layer")
        self.update_button = QPushButton("Update")
        self.update_button.setToolTip("One step of the project's optimizer with these "
                                      "gradients (on a copy: no run changes)")
        for b in (self.forward_button, self.backward_button, self.update_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.said = QLabel()
        self.said.setWordWrap(True)
        self.said.setProperty("role", "dim")
        self.numbers = QLabel()
        self.numbers.setWordWrap(True)
        self.numbers.setTextFormat(Qt.RichText)
        self.numbers.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.said)
        lay.addWidget(self.numbers)
        _show(self.said, "")
        _show(self.numbers, "")
        self.forward_button.clicked.connect(lambda: self.act("forward"))
        self.backward_button.clicked.connect(lambda: self.act("backward"))
        self.update_button.clicked.connect(lambda: self.act("update"))
        self.reset_button.clicked.connect(self.reset)
        self._done = _Done()
        self._done.finished.connect(self._built, Qt.QueuedConnection)
        self._sync()

    # --- what the inspector tells it ------------------------------------------------------
    def set_network(self, project: Project | None, network: str | None) -> None:
        """The network to step through; a different one, or an edit, starts over."""
        signature = _signature(project, network) if project and network else None
        if (project, network) != (self.project, self.network) \
                or (self.session is not None and signature != self._signature):
            self.project, self.network = project, network
            self.reset()
        self._sync()

    def set_locked(self, on: bool) -> None:
        """While a run trains, the canvas belongs to its gradient heat."""
        self.locked = on
        if on:
            self.reset(restore_heat=False)
        self._sync()

    @property
    def busy(self) -> bool:
        return self._thread is not None

    # --- the steps ------------------------------------------------------------------------
    def act(self, action: str) -> None:
        if self.locked or self.network is None or self.busy:
            return
        if self.session is None:
            self._start(action)
            return
        s = self.session
        forward, backward = s.forward_steps(), s.backward_steps()
        if action == "forward" and self.forward_at < len(forward):
            self.forward_at += 1
        elif action == "backward" and self.forward_at == len(forward) \
                and self.backward_at < len(backward):
            self.backward_at += 1
        elif action == "update" and self.backward_at == len(backward):
            self.updated = True
            s.update()
        self._show()

    def reset(self, restore_heat: bool = True) -> None:
        self.session, self.error, self._pending = None, "", None
        self.forward_at = self.backward_at = 0
        self.updated = False
        _show(self.said, "")
        _show(self.numbers, "")
        self._unpaint(restore_heat)
        self._sync()

    def _start(self, action: str) -> None:
        from runtime.stepthrough import StepThrough

        project, network = self.project, self.network
        weights, sample, done = self.weights_source(network), self.sample.value(), self._done
        self._pending, self._signature = action, _signature(project, network)
        _show(self.said, "Loading the data and running one sample…")

        def work():
            try:
                done.finished.emit(StepThrough(project, weights, sample))
            except Exception as e:  # noqa: BLE001 - shown in the inspector, in words
                done.finished.emit(f"Cannot step through {network}: {e}")

        self._thread = threading.Thread(target=work, name="layerloom-step", daemon=True)
        self._thread.start()
        self._sync()

    def _built(self, result) -> None:
        self._thread.join(1.0)
        self._thread = None
        if self.locked or self._signature != _signature(self.project, self.network):
            self._sync()  # a run started or the graph changed meanwhile: too late
            return
        if isinstance(result, str):
            self.error = result
            _show(self.said, result)
            self._sync()
            return
        self.session = result
        action, self._pending = self._pending, None
        self.act(action or "forward")

    # --- showing --------------------------------------------------------------------------
    def _sync(self) -> None:
        s, free = self.session, not self.locked and self.network is not None and not self.busy
        forward = len(s.forward_steps()) if s else 0
        backward = len(s.backward_steps()) if s else 0
        self.forward_button.setEnabled(free and (s is None or self.forward_at < forward))
        self.backward_button.setEnabled(free and s is not None and self.forward_at == forward
                                        and self.backward_at < backward)
        self.update_button.setEnabled(free and s is not None and self.backward_at == backward
                                      and not self.updated)
        self.reset_button.setEnabled(not self.busy and (s is not None or bool(self.error)))
        self.sample.setEnabled(not self.busy and not self.locked)

    def _show(self) -> None:
        s = self.session
        forward, backward = s.forward_steps(), s.backward_steps()
        head = f"Sample {s.sample} ({s.part}), {s.weights}. "
        if self.updated:
            u = s.update()
            _show(self.said, head + f"One {u.optimizer} step (lr {_num(u.lr)}): the loss on "
                              f"this sample goes {_num(u.loss_before)} → {_num(u.loss_after)}.")
            by_node: dict[str, list[str]] = {}
            for c in u.changes:  # one line per block: each weight's ‖Δw‖ and ‖Δw‖/‖w‖
                part = c.name.split(".", 1)[-1]
                by_node.setdefault(c.node, []).append(
                    f"{part} {_num(c.delta)} ({c.relative:.2%})" if c.trainable
                    else f"{part} frozen")
            rows = [f"<b>{node}</b>: " + " · ".join(parts) for node, parts in by_node.items()]
            _show(self.numbers, "‖Δw‖ (and ‖Δw‖/‖w‖) per weight:<br>" + "<br>".join(rows))
        elif self.backward_at:
            b = backward[self.backward_at - 1]
            _show(self.said, head + f"Backward {self.backward_at} of {len(backward)}: "
                              f"{b.node} ({b.block}).")
            rows = [f"<b>∂L/∂output</b> [{_shape(b.grad.shape)}]{_IN}‖·‖ {_num(b.grad.norm)} · "
                    f"mean {_num(b.grad.mean)} · min {_num(b.grad.min)} · max {_num(b.grad.max)}"
                    if b.grad is not None else "no gradient (integer output)"]
            for p in b.params:
                grad = f"‖∂L/∂w‖ {_num(p.grad.norm)}" if p.grad is not None else "frozen"
                rows.append(f"<b>{p.name}</b> [{_shape(p.weight.shape)}]{_IN}‖w‖ "
                            f"{_num(p.weight.norm)} · {grad}")
            _show(self.numbers, "<br>".join(rows))
        elif self.forward_at:
            f = forward[self.forward_at - 1]
            done = self.forward_at == len(forward)
            terms = ", ".join(f"{k} {_num(v)}" for k, v in s.terms.items())
            _show(self.said, head + f"Forward {self.forward_at} of {len(forward)}: {f.node} "
                              f"({f.block})." + (f" Loss: {terms}. Now step backward."
                                                 if done else ""))
            v = f.value
            first = ", ".join(_num(x) for x in v.preview[:6])
            _show(self.numbers, f"<b>output</b> [{_shape(v.shape)}]{_IN}mean {_num(v.mean)} · "
                                 f"std {_num(v.std)} · min {_num(v.min)} · max {_num(v.max)}"
                                 f"<br><b>first values</b>{_IN}{first}")
        self._paint()
        self._sync()

    def _view(self, network: str | None):
        w = self.parentWidget()
        while w is not None and not hasattr(w, "views"):
            w = w.parentWidget()
        return None if w is None or network is None else w.views.get(network), w

    def _paint(self) -> None:
        view, _ = self._view(self.network)
        s = self.session
        if view is None or s is None:
            return
        from app.training.canvas_heat import HeatLegend

        marks: dict[str, tuple[QColor, str]] = {}
        current = None
        for f in s.forward_steps()[:self.forward_at]:
            marks[f.node] = (FORWARD, f"{f.value.mean:.2g} ± {f.value.std:.2g}")
            current = f.node
        for b in s.backward_steps()[:self.backward_at]:
            if b.grad is not None:
                marks[b.node] = (BACKWARD, f"‖∂L/∂out‖ {b.grad.norm:.2g}")
            current = b.node
        if self.updated:
            current = None
            moved: dict[str, list[float]] = {}  # node → [Σ‖Δw‖², Σ‖w‖²] of all its weights
            for c in s.update().changes:
                acc = moved.setdefault(c.node, [0.0, 0.0])
                acc[0] += c.delta ** 2
                acc[1] += c.weight ** 2
            for node, (d, w) in moved.items():
                if node in marks:
                    marks[node] = (UPDATED, f"Δw {(d / w) ** 0.5 if w else 0.0:.2%}")
        if current in marks:
            marks[current] = (theme.color("accent"), marks[current][1])
        scene = view.scene()
        for node, item in scene.nodes.items():
            color, text = marks.get(node, (None, ""))
            item.set_overlay(color, text)
        phase = ("one update" if self.updated else
                 f"backward {self.backward_at}/{len(s.backward_steps())}" if self.backward_at
                 else f"forward {self.forward_at}/{len(s.forward_steps())}")
        legend = getattr(view, "heat_legend", None)
        if legend is None:  # the heat's own legend, shared: one box in the corner
            legend = view.heat_legend = HeatLegend(view)
        legend.show_entries(f"Step-through · {phase}",
                            [(FORWARD, "value"), (BACKWARD, "‖∂L/∂out‖"), (UPDATED, "Δw")])
        self._painted = self.network

    def _unpaint(self, restore_heat: bool) -> None:
        if self._painted is None:
            return
        view, window = self._view(self._painted)
        self._painted = None
        if view is None:
            return
        for item in view.scene().nodes.values():
            item.set_overlay(None)
        legend = getattr(view, "heat_legend", None)
        if legend is not None:
            legend.hide()
        training = getattr(window, "training", None)
        if restore_heat and training is not None:  # the last run's gradient heat, back
            training.heat.set_mode(training.heat.mode, training.series)
