"""The prompt box over an image grid that answers prompts, and the worker that answers it.

A recipe marks such a grid with ``extra["prompt"]`` (the prompt that made it, "" for none)
and may offer ``extra["prompt_hint"]`` (an example, shown greyed in the empty box).  The box
(``PromptBox``) only asks: ``generate(prompt, count)``.  ``PromptSampler`` answers off the
GUI thread through ``runtime.sampling.sample_project`` (what ``layerloom sample`` calls),
with the project as it is and the weights of its latest run (its last checkpoint while it
trains); its answer or its one-line refusal comes back as a signal.  One request runs at a
time: a newer one waits and supersedes the running one, whose answer is dropped."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.training.export_dialog import weights_folder
from app.training.graph_diff import diff_networks

__all__ = ["PromptBox", "PromptSampler", "Answer", "trained_weights", "answers_prompts",
           "under_prompt_box", "COUNT"]

COUNT = 32  # images a prompt makes, unless the box says otherwise
MAX_COUNT = 256  # the most an image grid draws (images.MAX_IMAGES)


def answers_prompts(sample) -> bool:
    """An image grid whose recipe answers typed prompts (see the module's docstring)."""
    return sample.kind == "images" and isinstance(sample.extra.get("prompt"), str)


def under_prompt_box(plot: QWidget) -> tuple[QWidget, PromptBox]:
    """``plot`` under a prompt box (hidden until a grid that answers prompts is shown)."""
    page, box = QWidget(), PromptBox()
    box.hide()
    lay = QVBoxLayout(page)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(0)
    lay.addWidget(box)
    lay.addWidget(plot, 1)
    return page, box


class PromptBox(QWidget):
    """A line edit, a count and Generate in one row, and a line under it for what came of
    the last request (an error in the theme's red).  The box shows the grid's prompt until
    the user types: what they typed then stays, across views and runs."""

    generate = Signal(str, int)  # the prompt ("" for none), how many images

    def __init__(self, parent=None):
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self.edit.setMinimumWidth(120)
        self.edit.setToolTip("What to draw: the model's own words (the hint shows an example)")
        self.count = QSpinBox()
        self.count.setRange(1, MAX_COUNT)
        self.count.setValue(COUNT)
        self.count.setToolTip("How many images to generate")
        self.button = QPushButton("Generate")
        self.button.setToolTip("Draw images for the prompt with the latest run's weights (while "
                               "a run trains: its last checkpoint, saved every epoch)")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message.hide()
        count_label = QLabel("Images")
        count_label.setToolTip(self.count.toolTip())
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(QLabel("Prompt"))
        row.addWidget(self.edit, 1)
        row.addWidget(count_label)
        row.addWidget(self.count)
        row.addWidget(self.button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.message)
        self.button.clicked.connect(self._ask)
        self.edit.returnPressed.connect(self._ask)

    def follow(self, prompt: str, hint: str | None) -> None:
        """The shown grid's prompt (only while the user has not typed) and its hint (None:
        the last one stays, for a grid the box itself asked for)."""
        if hint is not None:
            self.edit.setPlaceholderText(str(hint))
        if not self.edit.isModified() and self.edit.text() != prompt:
            self.edit.setText(prompt)

    def say(self, text: str, role: str = "dim") -> None:
        """A line under the row: ``dim`` (working), ``error`` (red), or "" to hide it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.message.setProperty("role", role)
        self.edit.setProperty("invalid", role == "error" and bool(text))
        for w in (self.message, self.edit):
            w.style().unpolish(w)
            w.style().polish(w)

    def _ask(self) -> None:
        self.say("Generating…")
        self.generate.emit(self.edit.text().strip(), self.count.value())


@dataclass(frozen=True)
class Answer:
    """What one Generate made: the images (named after the prompt) and where from."""

    samples: object  # runtime.events.Samples
    note: str  # "run #2 · step 300 · seed 1": the weights and seed that made them


def trained_weights(store, project) -> tuple[Path, str]:
    """The weights of the latest run of ``project``'s graph as it is now (its final ones,
    else its last checkpoint) and a few words on them; SampleError in a line when there
    are none to use."""
    from runtime.checkpoint import CheckpointError, read_meta
    from runtime.sampling import SampleError

    records = store.records()
    for r in reversed(records):
        trained = r.project()
        if trained is None or set(trained.networks) != set(project.networks) or any(
                not diff_networks(trained.networks[n], net).empty
                for n, net in project.networks.items()):
            continue
        folder = weights_folder(r.folder, list(project.networks))
        if folder is None:
            raise SampleError(f"run #{r.number} has saved no weights yet: they come with its "
                              "first checkpoint")
        if folder == r.folder:
            return folder, f"run #{r.number} · step {r.steps}"
        try:
            step = read_meta(folder).get("step", "?")
        except CheckpointError:
            step = "?"
        return folder, f"run #{r.number} · checkpoint at step {step}"
    if records:
        raise SampleError("the graph changed since its last run: train it to generate "
                          "from it")
    raise SampleError("no trained weights yet: train the model, then generate")


class _Relay(QObject):
    """Parentless, in the GUI thread: a late emit from the worker finds a live object."""

    done = Signal(object, object)  # the request's number, an Answer or an error line


class PromptSampler(QObject):
    """Answers prompts in a worker thread.  ``store`` and ``project`` give the run history
    and the project now (read in the GUI thread; the worker gets a copy)."""

    answered = Signal(object)  # an Answer
    failed = Signal(str)  # why not, in one line

    def __init__(self, store: Callable, project: Callable, parent=None):
        super().__init__(parent)
        self.store, self.project = store, project
        self.seed = 0  # every Generate draws new images; the note says which seed
        self._thread: threading.Thread | None = None
        self._pending: tuple | None = None  # the newest request, waiting for the thread
        self._number = 0  # of the newest request: an older answer is dropped
        self._relay = _Relay()
        self._relay.done.connect(self._done, Qt.QueuedConnection)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def request(self, prompt: str, count: int) -> None:
        from runtime.sampling import SampleError

        self._number += 1
        try:
            weights, note = trained_weights(self.store(), self.project())
        except SampleError as e:
            self._pending = None
            self.failed.emit(_sentence(str(e)))
            return
        self.seed += 1
        job = (self._number, copy.deepcopy(self.project()), weights, prompt, count,
               self.seed, note)
        if self._thread is not None:
            self._pending = job  # supersedes any older one still waiting
        else:
            self._start(job)

    def forget(self) -> None:
        """Another project was opened: what is asked of the old one is not shown."""
        self._number += 1
        self._pending = None

    def _start(self, job: tuple) -> None:
        number, project, weights, prompt, count, seed, note = job
        relay = self._relay

        def work():
            from runtime.recipes.base import RecipeError
            from runtime.sampling import SampleError, sample_project

            try:
                samples = sample_project(project, weights, n=count, seed=seed,
                                         prompt=prompt or None)
                name = f"prompt: {prompt}" if prompt else "prompt: (none)"
                extra = {**samples.extra, "prompt": prompt}
                result = Answer(replace(samples, name=name, extra=extra),
                                f"{note} · seed {seed}")
            except (RecipeError, SampleError) as e:
                result = _sentence(str(e))
            except Exception as e:  # noqa: BLE001 - shown in the row, in one line
                result = _sentence(f"{type(e).__name__}: {e}")
            relay.done.emit(number, result)

        self._thread = threading.Thread(target=work, name="layerloom-prompt", daemon=True)
        self._thread.start()

    def _done(self, number: int, result) -> None:
        self._thread.join(1.0)
        self._thread = None
        if self._pending is not None:  # a newer request: this answer is superseded
            job, self._pending = self._pending, None
            self._start(job)
        elif number == self._number:
            if isinstance(result, Answer):
                self.answered.emit(result)
            else:
                self.failed.emit(result)


def _sentence(text: str) -> str:
    """One line, starting with a capital."""
    line = text.strip().splitlines()[0] if text.strip() else "Generating failed"
    return line[:1].upper() + line[1:]
