"""Each recipe lowers its loss over a few real steps; bindings fail with clear messages; the
two-network GAN runs through the same trainer, unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rt_helpers import mlp, multilabel_data, project, regression_data

from builder.compiler import InputSpec
from builder.serialize import load
from resources import TEMPLATES
from runtime import recipes
from runtime.events import EpochSummary, Samples, StepMetrics
from runtime.recipes import RecipeError, noise_like
from runtime.trainer import Trainer


def _losses(events, key="loss"):
    return [e.values[key] for e in events.of(StepMetrics)]


def _dropped(values, k=5) -> bool:
    return float(np.mean(values[-k:])) < 0.7 * float(np.mean(values[:k]))


def test_registry_lists_the_recipes():
    assert {"classification", "regression", "multilabel", "gan"} <= set(recipes.RECIPES)
    with pytest.raises(RecipeError, match="unknown recipe 'nope'"):
        recipes.get("nope")


def test_classification_loss_drops(events):
    Trainer(project(epochs=2), callback=events, device="cpu").fit()
    assert _dropped(_losses(events))
    val = events.of(EpochSummary)[-1].val
    assert val["accuracy"] > 0.8 and "top5_accuracy" not in val  # only 2 classes


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regression_loss_drops(loss, events):
    p = project(mlp(features=1, classes=1), recipe="regression", epochs=8, batch_size=32)
    p.recipe.params = {"loss": loss}
    Trainer(p, data=regression_data(), callback=events, device="cpu").fit()
    assert _dropped(_losses(events))
    val = events.of(EpochSummary)[-1].val
    assert {"loss", "mse", "rmse", "mae", "r2"} <= set(val) and val["r2"] > 0.5
    curve = [e for e in events.of(Samples) if e.kind == "curve"][-1]
    assert curve.data.shape == (200, 2)


def test_multilabel_loss_drops(events):
    p = project(mlp(features=8, classes=4), recipe="multilabel", epochs=6, batch_size=32)
    Trainer(p, data=multilabel_data(), callback=events, device="cpu").fit()
    assert _dropped(_losses(events))
    val = events.of(EpochSummary)[-1].val
    assert val["accuracy"] > 0.8 and 0 < val["f1"] <= 1 and "exact_match" in val


def test_gan_template_trains_two_networks_through_the_same_trainer(events):
    p = load(TEMPLATES / "gan_2d.loom")
    assert set(p.networks) == {"generator", "discriminator"} and p.recipe.name == "gan"
    title, summary = p.description.splitlines()[:2]
    assert title and summary
    trainer = Trainer(p, callback=events, device="cpu")
    finished = trainer.fit(epochs=3)
    assert finished.reason == "completed"
    first = events.of(StepMetrics)[0].values
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(first)
    # Discriminator loss falls from log 4 as D learns; the generator keeps up with it.
    assert np.mean(_losses(events, "loss_d")[-20:]) < _losses(events, "loss_d")[0]
    points = [e for e in events.of(Samples) if e.kind == "points"]
    assert points[-1].data.shape == (512, 2) and points[-1].extra["real"].shape[1] == 2
    # Fixed noise: the same z every epoch, so the points move rather than resample.
    assert not np.allclose(points[0].data, points[-1].data)
    assert any(e.kind == "heatmap" for e in events.of(Samples))
    assert set(trainer.networks) == {"generator", "discriminator"}


def test_gan_with_uniform_noise_and_two_discriminator_steps(events):
    p = load(TEMPLATES / "gan_2d.loom")
    p.networks["generator"].nodes["z"].params["distribution"] = "uniform"
    p.recipe.params = {"d_steps": 2}
    assert Trainer(p, callback=events, device="cpu").fit(max_steps=20).reason == "max_steps"


def test_noise_follows_the_block_distribution():
    spec = InputSpec("z", "Noise", (1000,), "tensor", None, {"distribution": "uniform"})
    u = noise_like(spec, 4, torch.device("cpu"))
    assert u.shape == (4, 1000) and u.min() >= -1 and u.max() <= 1 and u.min() < -0.9
    spec = InputSpec("z", "Noise", (1000,), "tensor", None, {"distribution": "normal"})
    n = noise_like(spec, 4, torch.device("cpu"))
    assert abs(float(n.std()) - 1) < 0.1 and n.abs().max() > 1.5


def test_gan_needs_noise_and_a_data_input(events):
    p = load(TEMPLATES / "gan_2d.loom")
    p.networks["discriminator"].nodes["point"].params["field"] = "nope"
    Trainer(p, callback=events, device="cpu").fit()
    assert "field 'nope'" in events[-2].message


def test_wrong_recipe_for_the_data_says_so(events):
    p = project(recipe="regression")
    Trainer(p, callback=events, device="cpu").fit()
    assert "classification dataset" in events[-2].message


def test_wrong_output_size_for_regression(events):
    p = project(mlp(features=1, classes=3), recipe="regression")
    Trainer(p, data=regression_data(), callback=events, device="cpu").fit()
    assert "predicts [3] per sample" in events[-2].message


def test_recipe_params_are_checked(events):
    p = project()
    p.recipe.params = {"label_smoothing": 2.0, "colour": "blue"}
    Trainer(p, callback=events, device="cpu").fit()
    message = events[-2].message
    assert "colour" in message and "label_smoothing" in message
