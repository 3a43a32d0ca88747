"""The prompt box on the Samples tab, in the real main window: a grid that answers prompts
(the conditional GAN's class grid) offers it; Generate draws images of the typed class with
the latest run's weights off the GUI thread and shows them as a view of their own; what
cannot be answered says why in the box's row."""

import pytest
from PySide6.QtCore import Qt
from training_helpers import choose, train, wait_for, wait_idle

from app.training.plots.prompt_box import PromptBox, trained_weights
from app.training.runs import RunStore
from builder.commands import SetParams
from builder.gallery import template_path
from builder.serialize import load
from runtime.sampling import SampleError

GRID = "generated images"


def _open_cgan(window) -> None:
    project = load(template_path("cgan"))
    project.dataset.params["n_samples"] = 200
    project.training.batch_size = 16
    project.training.samples_every, project.training.samples_unit = 4, "steps"
    window.model.replace(project, None)


def _prompt_box(window) -> PromptBox:
    samples = window.training.dock.samples
    window.training.dock.tabs.setCurrentIndex(2)  # the dock draws the tab on screen
    wait_for(lambda: GRID in samples.picker.keys(), 20_000)
    choose(samples.picker, GRID)
    box = samples.page("images").prompt
    assert box.isVisible() and box.edit.placeholderText() == "a class, e.g. 9"
    return box


def _ask(qtbot, box: PromptBox, text: str, enter: bool = True) -> None:
    box.edit.clear()
    qtbot.keyClicks(box.edit, text)
    if enter:
        qtbot.keyClick(box.edit, Qt.Key_Return)
    else:
        qtbot.mouseClick(box.button, Qt.LeftButton)


def test_generate_draws_the_typed_class_and_says_why_not_in_the_row(window, qtbot):
    _open_cgan(window)
    train(qtbot, window, steps=6)
    box, samples = _prompt_box(window), window.training.dock.samples
    names = []
    window.training.prompts.answered.connect(lambda a: names.append(a.samples.name))

    _ask(qtbot, box, "1")
    _ask(qtbot, box, "7")  # asked while "1" is drawn: it supersedes it
    assert window.training.prompts.busy  # the sampling runs in a worker thread
    wait_for(lambda: names and not window.training.prompts.busy, 30_000)
    assert names == ["prompt: 7"]
    page = samples.page("images")
    assert samples.current == "prompt: 7" and samples.shown == "images"
    assert page.grid.n == 32 and page.labels == ["7"] * 32  # every image of class 7
    assert samples.answer.samples.data.shape == (32, 1, 28, 28)
    assert "run #1 · step 6 · seed" in page.title.text
    assert box.isVisible() and box.edit.text() == "7" and not box.message.isVisible()

    _ask(qtbot, box, "cat", enter=False)
    wait_for(lambda: box.message.property("role") == "error", 30_000)
    assert box.message.isVisible() and box.message.text().startswith(
        "Recipe 'gan': unknown class 'cat'; the classes are 0, 1, 2")
    assert "\n" not in box.message.text() and box.edit.property("invalid")
    assert samples.current == "prompt: 7"  # the last answer stays on screen

    _ask(qtbot, box, "")  # no prompt: the classes in turn, a row each
    wait_for(lambda: samples.current == "prompt: (none)", 30_000)
    assert page.labels[:10] == [str(k) for k in range(10)] and not box.message.isVisible()

    # The graph changed since the run: its weights no longer fit, and the row says so.
    window.model.do(SetParams("generator", "g_embed", {"dim": 24}))
    _ask(qtbot, box, "3")
    assert box.message.text() == "The graph changed since its last run: train it to " \
                                 "generate from it"

    # A new run of the changed graph: while it trains, Generate uses its last checkpoint.
    train(qtbot, window, steps=2000, wait=False)
    box, answers = _prompt_box(window), []
    window.training.prompts.answered.connect(answers.append)
    _ask(qtbot, box, "3")
    wait_for(lambda: answers, 30_000)
    assert window.training.bridge.active  # answered while the run trains
    assert answers[-1].note.startswith("run #2 · checkpoint at step ")
    assert samples.page("images").labels == ["3"] * 32
    window.training.stop()
    wait_idle(qtbot, window)
    assert window.errors == []


def test_no_run_yet_is_refused_in_words(tmp_path):
    with pytest.raises(SampleError, match="^no trained weights yet: train the model, then "
                                          "generate$"):
        trained_weights(RunStore(tmp_path / "x.loom"), load(template_path("cgan")))


def test_an_answer_says_the_figures_its_recipe_measured(qtbot):
    import numpy as np

    from app.training.plots.pictures import PicturePanel
    from app.training.plots.prompt_box import Answer
    from runtime.events import Samples

    panel = PicturePanel("Samples", skip_plane=True, prompts=True)
    qtbot.addWidget(panel)
    images = np.zeros((4, 3, 8, 8), np.float32)
    answer = Samples(0, 0, "prompt: a red circle", "images", images, None,
                     {"prompt": "a red circle",
                      "figures": {"prompt colour": 1.0, "prompt shape": 0.75}})
    panel.show_answer(Answer(answer, "run #1 · step 5 · seed 1"))
    box = panel.page("images").prompt
    assert box.message.text() == "prompt colour 100% · prompt shape 75%"
