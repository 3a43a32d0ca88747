"""The training settings added with format v2, driven in the real main window: how often the
recipe draws its pictures, starting a network from saved weights (and the run's log saying
what was loaded), and the datasets of a recipe's further data streams."""

import copy

import pytest
from training_helpers import choose, train, type_into

from builder.document import DatasetConfig
from builder.training import TRAINING_PARAMS
from runtime import recipes
from runtime.recipes import Stream
from runtime.recipes.classification import Classification


def pick(combo, text: str) -> None:
    """Choose the item that reads ``text`` the way a user does (``activated``)."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def commit_path(field, path: str) -> None:
    """Type a path into a network's start-from field and press Enter."""
    field.edit.setText(path)
    field.edit.editingFinished.emit()


class TwoStreams(Classification):
    name = "test_two_streams"
    title = "Two streams (test)"
    streams = (Stream("source", "the labelled data"), Stream("target", "the data to adapt to"))


@pytest.fixture
def two_streams(monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, TwoStreams.name, TwoStreams)


def test_the_sampling_cadence_is_an_undoable_setting(window):
    s = window.training.settings
    every, unit = s.fields["samples_every"], s.fields["samples_unit"]
    before = window.model.project.training
    pick(unit.editor, "steps")
    type_into(every, "25")
    t = window.model.project.training
    assert (t.samples_unit, t.samples_every) == ("steps", 25)
    assert (before.samples_unit, before.samples_every) == ("epochs", 1)  # a new object
    assert window.model.document.undo_text == "Change training"
    assert TRAINING_PARAMS["samples_every"].help in every.editor.toolTip()
    window.model.undo()
    assert window.model.project.training.samples_every == 1 and every.editor.text() == "1"
    window.model.undo()
    assert window.model.project.training.samples_unit == "epochs"
    assert unit.editor.currentText() == "epochs"
    assert every.isEnabled()
    pick(unit.editor, "end")  # once, when the run ends: no count to give
    assert window.model.project.training.samples_unit == "end" and not every.isEnabled()
    window.model.undo()
    assert every.isEnabled()


def test_a_network_starts_from_a_typed_path_undone_and_cleared(window, tmp_path):
    s = window.training.settings
    field = s.inits["main"]
    assert "matched by node name" in field.edit.toolTip()
    before = window.model.project.training
    path = str(tmp_path / "weights.safetensors")
    commit_path(field, path)
    assert window.model.project.training.init == {"main": path}
    assert before.init == {}  # the document's own dict was replaced, not changed
    assert field.warning.isVisibleTo(field)  # no such file here: the run would refuse it
    window.model.undo()
    assert window.model.project.training.init == {} and field.edit.text() == ""
    window.model.redo()
    assert field.edit.text() == path and field.clear_button.isEnabled()
    field.clear_button.click()
    assert window.model.project.training.init == {} and field.edit.text() == ""
    assert not field.clear_button.isEnabled()


def test_a_further_stream_gets_its_own_dataset_form(two_streams, window):
    s = window.training.settings
    model = window.model
    assert not s.streams.isVisibleTo(s) and not s.primary_title.isVisibleTo(s)
    choose(s.recipe, "test_two_streams")
    assert model.project.recipe.name == "test_two_streams"
    assert s.streams.isVisibleTo(s) and list(s.streams.forms) == ["target"]
    assert "source" in s.primary_title.text() and s.primary_title.isVisibleTo(s)
    assert "target" in s.streams.titles["target"].text()
    assert "the data to adapt to" in s.streams.titles["target"].text()
    form = s.streams.forms["target"]
    assert "choose" in form.about.text()  # nothing bound yet
    choose(form.combo, "circles")
    assert model.project.streams == {"target": DatasetConfig("circles", {})}
    assert model.project.dataset.name == "spirals"  # the primary stream is untouched
    type_into(form.fields["n_samples"], "300")
    assert model.project.streams["target"].params == {"n_samples": 300}
    model.undo()
    assert model.project.streams == {"target": DatasetConfig("circles", {})}
    model.undo()
    assert model.project.streams == {} and "choose" in form.about.text()
    model.redo()
    assert model.project.streams["target"].name == "circles"
    choose(s.recipe, "classification")  # reads one dataset: the binding goes with the recipe
    assert model.project.streams == {} and model.project.recipe.name == "classification"
    assert not s.streams.isVisibleTo(s) and not s.primary_title.isVisibleTo(s)
    assert model.document.undo_text == "Change recipe and streams"
    model.undo()  # one step brings both back
    assert model.project.recipe.name == "test_two_streams"
    assert model.project.streams["target"].name == "circles"
    assert s.streams.forms["target"].combo.currentData() == "circles"


def test_a_run_started_from_a_run_folder_says_what_it_loaded(window, qtbot, tmp_path):
    from runtime.trainer import Trainer

    first = copy.deepcopy(window.model.project)
    first.training.epochs = 1
    assert Trainer(first, run_dir=tmp_path / "first").fit().reason == "completed"
    commit_path(window.training.settings.inits["main"], str(tmp_path / "first"))
    train(qtbot, window, steps=3)
    log = window.training.dock.log.toPlainText()
    assert "network 'main' starts from" in log and "main.safetensors" in log
    assert "tensors loaded (hidden1, hidden2, logits)" in log


def test_a_long_recipe_form_keeps_its_rarer_settings_behind_more(window):
    from PySide6.QtWidgets import QFormLayout

    window.files.new_from_template("dcgan", confirm=False)
    form = window.training.settings.recipe_form
    rows = {form.roles_form.itemAt(i, QFormLayout.FieldRole).widget()
            for i in range(form.roles_form.rowCount())}
    assert form.fields["loss"] in rows and form.fields["ema"] in rows  # first few; set
    assert form.fields["info_weight"] not in rows and form.more.isVisibleTo(form)
    assert form.more.text() == f"More settings ({form.more_form.rowCount()})"
    assert not form.more_host.isVisibleTo(form)
    form.more.click()
    assert form.more_host.isVisibleTo(form) and form.fields["info_weight"].isVisibleTo(form)
    window.files.new_from_template("mlp", confirm=False)  # 4 params: no "More"
    assert not form.more.isVisibleTo(form)
