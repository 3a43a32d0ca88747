"""The complete example of docs/recipes.md is real code: it registers, trains with its
penalty and curriculum, and its state survives a resume."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import runtime.recipes as recipes
from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.checkpoint import load_checkpoint
from runtime.events import EpochSummary, Failure, StepMetrics
from runtime.trainer import Trainer, Watch

DOC = Path(__file__).parents[2] / "docs" / "recipes.md"


@pytest.fixture
def denoise(monkeypatch):
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict = {"__name__": "denoise_example"}
    exec(compile(code, str(DOC), "exec"), namespace)
    cls = namespace["Denoise"]
    monkeypatch.setitem(recipes.RECIPES, cls.name, cls)
    return cls


def _project(epochs: int = 3) -> Project:
    net = Network("main")
    net.chain(net.add("Input", id="noisy", shape=[2], field="noisy", source="recipe"),
              net.add("Linear", id="enc", units=16),
              net.add("Tanh", id="act"),
              net.add("Linear", id="dec", units=2),
              net.add("Output", id="clean"))
    return Project({"main": net}, DatasetConfig("moons", {"n_samples": 600}),
                   RecipeConfig("denoise_example", {"model": "main"},
                                {"sigma": 0.3, "contractive": 0.1}),
                   TrainingSettings(epochs=epochs, batch_size=60,
                                    optimizers={"*": OptimizerConfig("adam", 0.01)}))


def test_the_documented_recipe_trains_with_its_penalty(denoise, events):
    finished = Trainer(_project(), callback=events, watch=Watch(every_steps=1)).fit()
    assert finished.reason == "completed", events.of(Failure)
    steps = [e.values for e in events.of(StepMetrics)]
    assert all(v["loss_contractive"] > 0 for v in steps)
    losses = [e.val["loss"] for e in events.of(EpochSummary)]
    assert losses[-1] < losses[0]


def test_its_state_is_checkpointed_and_restored(denoise, tmp_path, events):
    Trainer(_project(epochs=2), run_dir=tmp_path).fit()
    state, _ = load_checkpoint(tmp_path / "checkpoint", {"main": _compiled()})
    best = state["recipes"]["0"]["best"]
    assert float(best) < float("inf")
    trainer = Trainer(_project(epochs=3), run_dir=tmp_path, resume=tmp_path / "checkpoint",
                      callback=events)
    seen = []
    original = denoise.load_state_dict
    denoise.load_state_dict = lambda self, s: (seen.append(s), original(self, s))[1]
    try:
        assert trainer.fit().reason == "completed", events.of(Failure)
    finally:
        denoise.load_state_dict = original
    assert float(seen[0]["best"]) == float(best)
    assert float(trainer.recipe.best) <= float(best)


def _compiled():
    from runtime.assemble import compile_roles
    return compile_roles(_project(), ["model"])["model"].module
