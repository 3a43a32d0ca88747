"""The recursive templates: a few real steps emit a ``tree`` picture whose every node carries
its text and true value; the loss drops; the trained network exports to ONNX and to code
that agree with it on real trees."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnxruntime as ort
import pytest
import torch
from rt_helpers import Recorder

from builder.document import RecipeConfig
from builder.gallery import template_path
from builder.serialize import load
from runtime.data.trees import OPS, random_trees
from runtime.events import EpochSummary, Samples, StepMetrics
from runtime.export import export_project
from runtime.recipes.supervised import TREES
from runtime.trainer import Trainer, Watch


def small(n: int = 240, batch: int = 16, classes: bool = False):
    """The template on a few trees; ``classes``: its network with a 10-way head classifying
    the last digit instead (the classification recipe draws trees too)."""
    project = load(template_path("recursive_expressions"))
    project.dataset.params["n_samples"] = n
    project.training.batch_size = batch
    project.training.samples_unit = "end"
    if classes:
        project.networks["main"].nodes["value"].params["units"] = 10
        project.dataset.params["target"] = "last digit"
        project.recipe = RecipeConfig("classification", {"model": "main"})
    return project


def _evaluate(tree, i: int) -> float:
    text, left, right = tree["labels"][i], int(tree["left"][i]), int(tree["right"][i])
    if left < 0:
        return float(text)
    return OPS[text](_evaluate(tree, left), _evaluate(tree, right))


@pytest.mark.parametrize("classes", [False, True], ids=["value", "last digit"])
def test_three_steps_draw_trees_with_values_and_the_answer_at_the_root(classes):
    events = Recorder()
    finished = Trainer(small(classes=classes), callback=events, device="cpu",
                       watch=Watch(samples=True)).fit(epochs=1, max_steps=3)
    assert finished.reason == "max_steps"
    (sample,) = [s for s in events.of(Samples) if s.kind == "tree"]
    assert sample.name == "trees" and len(sample.data) == len(sample.labels) == TREES
    assert sample.extra["classes"] is classes
    predicted, truth = sample.extra["predicted"], sample.extra["truth"]
    assert predicted.shape == truth.shape == (TREES,) and np.isfinite(predicted).all()
    for tree, caption, want in zip(sample.data, sample.labels, truth):
        n = len(tree["labels"])
        assert tree["root"] == n - 1 and tree["left"].shape == tree["right"].shape == (n,)
        assert tree["values"].shape == (n,)
        for i in range(n):  # post-order, children before parents; each value its subtree's
            assert tree["left"][i] < i and tree["right"][i] < i
            assert (tree["left"][i] < 0) == (tree["right"][i] < 0) == tree["labels"][i].isdigit()
            assert tree["values"][i] == _evaluate(tree, i)
        assert want == (tree["values"][-1] % 10 if classes else tree["values"][-1])
        assert caption.count("(") == sum(not t.isdigit() for t in tree["labels"])
    if classes:
        assert set(predicted.tolist()) <= set(range(10))


def test_the_value_template_learns():
    events = Recorder()
    project = small(n=800, batch=32)
    project.training.optimizers["main"].lr = 0.01  # the template's pace, hurried for a test
    Trainer(project, callback=events, device="cpu").fit(epochs=2)
    losses = [e.values["loss"] for e in events.of(StepMetrics)]
    val = [e.val["mae"] for e in events.of(EpochSummary)]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), losses[::10]
    assert val[-1] < val[0], val


def test_trained_tree_network_exports_to_onnx_and_code_that_agree(tmp_path):
    project = small(n=200)
    trainer = Trainer(project, device="cpu", run_dir=tmp_path / "run")
    trainer.fit(epochs=1, max_steps=5)
    (result,) = export_project(project, tmp_path / "tree.onnx", weights=tmp_path / "run",
                               code=tmp_path / "tree.py")
    assert result.ok and result.inputs == ["tokens", "left", "right", "root"]
    arrays = random_trees(9, 3, "+-", seed=11)[:4]
    trained = trainer.recipe.nets["model"].eval()
    with torch.no_grad():
        want = trained(*(torch.tensor(a) for a in arrays)).numpy()
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip(result.inputs, arrays)))[0]
    np.testing.assert_allclose(got, want, atol=1e-4)
    spec = importlib.util.spec_from_file_location("tree_model", tmp_path / "tree.py")
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    model = code.load_weights(code.Main(), str(tmp_path / "main.safetensors")).eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(*(torch.tensor(a) for a in arrays)).numpy(), want,
                                   atol=1e-6)
