"""Transfer learning: the fine_tune recipe's from-scratch twin, the transfer recipe's stages
(pre-train on the source stream, a new head, fine-tune beside the twin), and per-block
learning-rate factors — all with real training steps on tiny data."""

from __future__ import annotations

import pytest
import torch
from rt_helpers import Recorder, mlp, project
from safetensors.torch import load_file

from builder.commands import Document
from builder.compiler import LR_SCALE
from builder.document import DatasetConfig, OptimizerConfig
from builder.reuse import new_head
from runtime.adjust import base_rate, set_rate
from runtime.events import (
    EpochSummary,
    Failure,
    StageStarted,
    Started,
    StepMetrics,
    WeightsLoaded,
)
from runtime.optim import lr_scales, make_optimizer, make_schedule
from runtime.trainer import Trainer

MOONS = {"n_samples": 400, "noise": 0.1}


def _state(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _transfer(fine_tune: str = "all", **params):
    p = project(mlp(), epochs=4, batch_size=50, recipe="transfer", lr=0.01)
    p.dataset = DatasetConfig("moons", {**MOONS, "seed": 3})  # the target task
    p.streams = {"source": DatasetConfig("moons", {"n_samples": 800, "noise": 0.2})}
    p.recipe.params = {"new_head": "logits", "fine_tune": fine_tune, **params}
    return p


def test_fine_tune_trains_a_twin_from_the_initial_weights_and_saves_only_the_network(tmp_path):
    Trainer(project(mlp(), epochs=2, batch_size=50), device="cpu", run_dir=tmp_path / "a").fit()
    p = project(mlp(), epochs=2, batch_size=50, recipe="fine_tune")
    p.recipe.params = {"new_head": "logits"}
    p.training.init = {"main": str(tmp_path / "a")}
    p.training.optimizers = {"*": OptimizerConfig("sgd", 1e-12)}  # one step moves nothing
    set_up = Trainer(p, device="cpu")
    assert set_up.fit(max_steps=1).reason == "max_steps"
    nets = set_up.run.recipe.nets
    loaded = load_file(str(tmp_path / "a" / "main.safetensors"))
    assert torch.allclose(nets["model"].hidden1.weight, loaded["hidden1.weight"])
    assert not torch.allclose(nets["main_scratch"].hidden1.weight, loaded["hidden1.weight"])
    assert torch.allclose(set_up.run.recipe.head_init["weight"],
                          nets["main_scratch"].logits.weight)
    p.training.optimizers = {"*": OptimizerConfig("adam", 0.01)}

    events = Recorder()
    trainer = Trainer(p, callback=events, device="cpu", run_dir=tmp_path / "b")
    assert trainer.fit().reason == "completed"
    steps = events.of(StepMetrics)
    assert {"loss", "accuracy", "loss_scratch", "scratch_accuracy"} <= set(steps[0].values)
    val = events.of(EpochSummary)[-1].val
    assert val["accuracy"] > 0.8 and 0.0 <= val["scratch_accuracy"] <= 1.0
    assert sorted(f.name for f in (tmp_path / "b").glob("*.safetensors")) == ["main.safetensors"]


def test_the_new_head_starts_from_its_initial_weights_not_the_loaded_ones(tmp_path):
    Trainer(project(mlp(), epochs=2, batch_size=50), device="cpu", run_dir=tmp_path / "a").fit()
    p = project(mlp(), epochs=1, batch_size=50, recipe="fine_tune", lr=1e-12, optimizer="sgd")
    p.recipe.params = {"new_head": "logits", "scratch": False}
    p.training.init = {"main": str(tmp_path / "a")}
    trainer = Trainer(p, device="cpu")
    assert trainer.fit(max_steps=1).reason == "max_steps"
    model = trainer.run.recipe.nets["model"]
    assert "main_scratch" not in trainer.run.recipe.nets
    assert torch.allclose(model.logits.weight, trainer.run.recipe.head_init["weight"])
    loaded = load_file(str(tmp_path / "a" / "main.safetensors"))
    assert not torch.allclose(model.logits.weight, loaded["logits.weight"])
    assert torch.allclose(model.hidden1.weight, loaded["hidden1.weight"])


def test_the_twin_learns_with_the_networks_optimizer_at_the_networks_own_rate():
    net = mlp()
    net.nodes["hidden1"].lr_scale = 0.1  # a fine-tuning device, not the scratch baseline's
    p = project(net, epochs=1, batch_size=50, recipe="fine_tune")
    p.training.optimizers = {"main": OptimizerConfig("sgd", 0.05)}
    trainer = Trainer(p, device="cpu")
    trainer.fit(max_steps=1)
    opts = trainer.current.optimizers
    assert type(opts["main_scratch"]) is torch.optim.SGD
    assert [g["lr"] for g in opts["main_scratch"].param_groups] == [pytest.approx(0.05)]
    assert len(opts["model"].param_groups) == 2


def test_transfer_pretrains_on_the_source_then_fine_tunes_beside_the_twin():
    events = Recorder()
    trainer = Trainer(_transfer(), callback=events, device="cpu")
    heads = {}

    def spy(event):
        events(event)
        if isinstance(event, StageStarted):
            heads[event.index] = _state(trainer.run.recipe.nets["model"])
    trainer.callback = spy
    assert trainer.fit().reason == "completed"
    stages = events.of(StageStarted)
    assert [(s.name, s.recipe) for s in stages] == [("pre-train", "transfer"),
                                                     ("fine-tune", "fine_tune")]
    summaries = events.of(EpochSummary)
    assert "source_accuracy" in summaries[0].val and "accuracy" not in summaries[0].val
    assert summaries[0].val["source_accuracy"] > 0.7  # it learned the source task
    assert {"accuracy", "scratch_accuracy", "loss_scratch"} <= set(summaries[-1].val)
    first_fine = next(e for e in events.of(StepMetrics) if "scratch_accuracy" in e.values)
    assert "loss_source" not in first_fine.values
    # The pre-trained hidden layers reached the fine-tuning stage; the head started afresh.
    pre = heads[1]
    assert not torch.equal(pre["hidden1.weight"], heads[0]["hidden1.weight"])


def test_fine_tuning_the_head_alone_keeps_the_features_bit_identical():
    events = Recorder()
    trainer = Trainer(_transfer("head"), callback=events, device="cpu")
    at = {}

    def spy(event):
        events(event)
        if isinstance(event, StageStarted) and event.index == 1:
            at["start"] = _state(trainer.run.recipe.nets["model"])
    trainer.callback = spy
    assert trainer.fit().reason == "completed"
    end = _state(trainer.run.recipe.nets["model"])
    for key in ("hidden1.weight", "hidden1.bias", "hidden2.weight", "hidden2.bias"):
        assert torch.equal(at["start"][key], end[key]), key
    assert not torch.equal(at["start"]["logits.weight"], end["logits.weight"])
    assert events.of(StageStarted)[1].trainable == {"main": ["logits"]}


def test_transfer_refuses_a_source_with_other_inputs():
    p = _transfer()
    p.streams = {"source": DatasetConfig("digits8", {"n_samples": 300})}
    events = Recorder()
    assert Trainer(p, callback=events, device="cpu").fit().reason == "failed"
    message = events.of(Failure)[0].message
    assert "digits8" in message and "'x'" in message


def test_head_alone_needs_the_head_named():
    p = _transfer("head")
    p.recipe.params["new_head"] = ""
    events = Recorder()
    finished = Trainer(p, callback=events, device="cpu").fit()
    assert finished.reason == "failed"
    assert "new_head" in events.of(Failure)[0].message


def test_a_block_learning_rate_factor_makes_its_own_param_group():
    net = mlp()
    net.nodes["hidden1"].lr_scale = 0.1
    net.nodes["logits"].lr_scale = 10.0
    p = project(net, epochs=1, batch_size=50, lr=0.01, optimizer="sgd")
    trainer = Trainer(p, device="cpu")
    trainer.fit(max_steps=1)
    groups = trainer.current.optimizers["model"].param_groups
    assert [(g["lr_scale"], pytest.approx(g["lr"])) for g in groups] == \
        [(1.0, 0.01), (0.1, 0.001), (10.0, 0.1)]
    model = trainer.run.recipe.nets["model"]
    by_group = [{id(p) for p in g["params"]} for g in groups]
    assert by_group[1] == {id(model.hidden1.weight), id(model.hidden1.bias)}
    assert by_group[2] == {id(model.logits.weight), id(model.logits.bias)}


def test_a_factor_scales_the_actual_sgd_step():
    """Plain SGD moves a weight by lr · grad, and the first gradient does not depend on the
    rate: with factor 0.1 the first step is a tenth, exactly."""
    moved = {}
    for scale in (1.0, 0.1):
        net = mlp()
        net.nodes["hidden1"].lr_scale = scale
        trainer = Trainer(project(net, epochs=1, batch_size=50, lr=0.05, optimizer="sgd",
                                  seed=7), device="cpu")
        start = {}
        trainer.callback = lambda e, t=trainer, start=start: isinstance(e, Started) and \
            start.setdefault("w", t.run.recipe.nets["model"].hidden1.weight.detach().clone())
        trainer.fit(max_steps=1)
        moved[scale] = trainer.run.recipe.nets["model"].hidden1.weight.detach() - start["w"]
    assert moved[1.0].abs().max() > 0
    assert torch.allclose(moved[0.1], moved[1.0] * 0.1, rtol=1e-3, atol=1e-7)  # float32 w − w0


def test_start_from_weights_report_a_new_head_as_new(tmp_path):
    first = project(mlp(), epochs=1, batch_size=50)
    Trainer(first, device="cpu", run_dir=tmp_path / "a").fit()
    p = project(mlp(), epochs=1, batch_size=50)
    doc = Document(p)
    doc.do(new_head("main", p.networks["main"], "logits", 3))
    assert "logits_new" in p.networks["main"].nodes
    p.dataset = DatasetConfig("blobs", {"n_samples": 300, "centers": 3})
    p.training.init = {"main": str(tmp_path / "a")}
    events = Recorder()
    assert Trainer(p, callback=events, device="cpu").fit(max_steps=2).reason == "max_steps"
    report = events.of(WeightsLoaded)[0]
    text = str(report)
    assert "logits_new" in text and "hidden1" in text


@pytest.mark.parametrize("schedule", [None, {"name": "cosine"}])
def test_a_live_learning_rate_change_keeps_each_blocks_factor(schedule):
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    setattr(net[0], LR_SCALE, 0.1)
    opt = make_optimizer(OptimizerConfig("sgd", 0.2), net.parameters(), scales=lr_scales(net))
    sched = make_schedule(opt, schedule, 10, 100) if schedule else None
    assert base_rate(opt, sched) == pytest.approx(0.2)
    set_rate(opt, sched, 0.5)
    assert base_rate(opt, sched) == pytest.approx(0.5)
    lrs = {g["lr_scale"]: g["lr"] for g in opt.param_groups}
    assert lrs[0.1] == pytest.approx(lrs[1.0] * 0.1)
    if sched is None:
        assert lrs[1.0] == pytest.approx(0.5)
