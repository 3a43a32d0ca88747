"""The sequence family's views: the attention map (kind ``matrix``) with its rows and columns
named, and the language model's text with a live temperature box whose changes reach the
running run from the real main window."""

import numpy as np
from training_helpers import pause, train, wait_for, wait_idle

from app.training.plots.pictures import PicturePanel
from app.training.series import RunSeries
from builder.document import DatasetConfig, Network, Project, RecipeConfig, TrainingSettings
from runtime.data import load as load_data
from runtime.events import Samples

LIVE = {"temperature": {"value": 0.8, "kind": "float", "min": 0.0, "max": 5.0,
                        "help": "Sampling temperature"}}


def _text(step: int, value: float, lines=("The river\nbends", "The loom")) -> Samples:
    live = {"temperature": {**LIVE["temperature"], "value": value}}
    return Samples(step, 0, "generated text", "text", list(lines), None,
                   {"temperature": value, "live": live})


def test_the_attention_map_names_rows_and_columns_and_writes_the_weights(qtbot):
    weights = np.array([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]])
    series = RunSeries()
    series.add(Samples(5, 0, "greedy decoding", "text", ["✓ abc → cba (cba)"]))
    series.add(Samples(5, 0, "attention map", "matrix", weights, None,
                       {"rows": ["c", "b", "a"], "columns": ["a", "b", "c"],
                        "x_label": "source", "y_label": "output", "levels": [0.0, 1.0]}))
    panel = PicturePanel("Samples", skip_plane=True)
    qtbot.addWidget(panel)
    panel.refresh(series)
    assert panel.picker.keys() == ["greedy decoding", "attention map"]
    panel.picker.setCurrentIndex(1)
    panel.picker.activated.emit(1)
    assert panel.shown == "matrix"
    page = panel.page("matrix")
    assert np.array_equal(page.values, weights)
    assert page.axes["left"].names == ["c", "b", "a"]
    assert page.axes["bottom"].names == ["a", "b", "c"]
    assert [t.toPlainText() for t in page.texts[:3]] == [".10", ".20", ".70"]
    assert page.plot.getPlotItem().getAxis("bottom").labelText == "source"
    assert page.image.image.shape[:2] == (3, 3)


def test_the_temperature_box_asks_for_a_change_and_follows_the_run(qtbot):
    series = RunSeries()
    series.add(_text(2, 0.8))
    panel = PicturePanel("Predictions")
    qtbot.addWidget(panel)
    panel.show()
    panel.refresh(series)
    page = panel.page("text")
    box = page.widget.settings.boxes["temperature"]
    assert page.widget.settings.isVisible() and box.value() == 0.8
    assert (box.minimum(), box.maximum()) == (0.0, 5.0)
    assert "\n\nThe loom" in page.widget.toPlainText()  # multi-line samples set apart
    with qtbot.waitSignal(panel.setting_changed) as asked:
        box.setValue(0.3)  # what the arrows or Enter after typing do
    assert asked.args == ["temperature", 0.3]
    series.add(_text(4, 0.8))  # drawn before the run took the change: the box keeps 0.3
    panel.refresh(series)
    assert box.value() == 0.3
    series.add(_text(6, 1.5))  # the run's value moved (the recipe form): the box follows
    with qtbot.assertNotEmitted(panel.setting_changed):
        panel.refresh(series)
    assert box.value() == 1.5
    panel.reset()
    assert not page.widget.settings.boxes and not page.widget.settings.isVisible()


def _language_project() -> Project:
    params = {"text": "weaver", "seq_len": 16, "stride": 16}
    v = len(load_data("text", params).info.vocab)
    net = Network("main")
    net.chain(net.add("Input", id="x", shape=["T"], kind="tokens"),
              net.add("Embedding", id="embed", vocab=v, dim=8),
              net.add("GRU", id="gru", hidden=16),
              net.add("TimeDistributedLinear", id="logits", units=v),
              net.add("Output", id="y"))
    training = TrainingSettings(epochs=1000, batch_size=16, samples_every=2,
                                samples_unit="steps")
    return Project({"main": net}, DatasetConfig("text", params),
                   RecipeConfig("language", {"model": "main"}, {"sample_length": 10}), training)


def test_the_temperature_set_in_the_dock_reaches_the_running_run(window, qtbot):
    window.model.replace(_language_project(), None)
    t = window.training
    train(qtbot, window, wait=False)
    view = t.dock.picture
    wait_for(lambda: view.shown == "text" and "temperature" in
             view.page("text").widget.settings.boxes, 30_000)
    box = view.page("text").widget.settings.boxes["temperature"]
    assert box.value() == 0.8
    box.setValue(0.25)
    wait_for(lambda: "temperature 0.8 → 0.25" in t.dock.log.toPlainText(), 20_000)
    at = t.bridge.trainer.step
    wait_for(lambda: any(s.extra.get("temperature") == 0.25 and s.step > at
                         for s in t.series.samples.values()), 20_000)
    assert t.bridge.trainer.recipe.options["temperature"] == 0.25
    pause(100)
    t.stop()
    wait_idle(qtbot, window)
    assert not window.training.dock.message_text.lower().startswith("failed")
