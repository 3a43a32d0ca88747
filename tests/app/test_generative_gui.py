"""Generative templates train from the real main window and their pictures reach the dock:
every view the recipe sends is offered in the Samples tab's picker and drawn when picked."""

import pytest
from training_helpers import train, wait_for, wait_idle

from builder.gallery import template_path
from builder.serialize import load


def _open_small(window, name: str, steps: int):
    project = load(template_path(name))
    project.dataset.params["n_samples"] = 200
    project.training.batch_size = 16
    project.training.samples_every, project.training.samples_unit = steps, "steps"
    window.model.replace(project, None)


@pytest.mark.parametrize("name, views", [
    ("dcgan", {"generated images", "Fréchet distance", "generated classes"}),
    ("vae", {"reconstructions", "samples from the prior", "latent space"}),
])
def test_generative_template_trains_and_every_view_is_drawn(window, qtbot, name, views):
    _open_small(window, name, steps=4)
    train(qtbot, window, steps=8)
    wait_idle(qtbot, window)
    samples = window.training.dock.samples
    window.training.dock.tabs.setCurrentIndex(2)  # the dock draws the tab on screen
    wait_for(lambda: views <= set(samples.picker.keys()), 10_000)
    for key in samples.picker.keys():
        index = samples.picker.findData(key)
        samples.picker.setCurrentIndex(index)
        samples.picker.activated.emit(index)
        assert samples.current == key and samples.shown, key
    assert not window.training.dock.message_text.lower().startswith("failed")
