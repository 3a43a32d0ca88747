"""Stages: a recipe declares them, the generic trainer runs them (frozen sets, fresh
optimizers and schedules per stage, sub-recipes with their own modules), resume continues in
the right stage, and a recipe without stages trains exactly as before."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
import torch
import torch.nn.functional as F
from rt_helpers import Recorder, project
from torch import nn

from builder.blocks.spec import Param
from runtime import recipes
from runtime.console import Console, fmt_stage
from runtime.control import Control
from runtime.events import (
    EpochSummary,
    Failure,
    GradientStats,
    LearningRate,
    StageStarted,
    Started,
    StepMetrics,
    Warning,
    to_json,
)
from runtime.recipes import Recipe, Role, Stage
from runtime.recipes.classification import Classification
from runtime.trainer import Trainer, Watch

STEPS = 13  # moons: 800 training samples in batches of 64


def _use(monkeypatch, *classes: type[Recipe]) -> None:
    for cls in classes:  # registered for this test only
        monkeypatch.setitem(recipes.RECIPES, cls.name, cls)


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.recipe.nets["model"].state_dict().items()}


def _same(a: dict, b: dict, prefix: str = "") -> bool:
    return all(torch.equal(a[k], b[k]) for k in a if k.startswith(prefix))


class HeadThenAll(Classification):
    """Stage 1: only the head trains (the hidden Linears are frozen); stage 2: everything."""

    name = "test_head_then_all"

    def stages(self):
        return [Stage("head", epochs=2, train={"model": ["logits"]}), Stage("all")]


def test_two_stages_freeze_then_fine_tune(monkeypatch):
    _use(monkeypatch, HeadThenAll)
    p = project(epochs=4, recipe=HeadThenAll.name, schedule={"name": "cosine"})
    seen: dict[int, dict] = {}
    events = Recorder()

    def callback(event):
        events(event)
        if isinstance(event, StageStarted):  # sent before the stage's first step
            seen[event.index] = _weights(trainer)

    trainer = Trainer(p, callback=callback, device="cpu",
                      watch=Watch(every_steps=1, stride=1, stats_every_s=0,
                                  budget=1.0))  # measure every step, however slow
    finished = trainer.fit()
    assert finished.reason == "completed"
    start, after_head, end = seen[0], seen[1], _weights(trainer)
    assert _same(start, after_head, "hidden1") and _same(start, after_head, "hidden2")
    assert not _same(start, after_head, "logits")  # the head did learn in stage 1
    assert not _same(after_head, end, "hidden1") and not _same(after_head, end, "hidden2")

    stages = events.of(StageStarted)
    assert [(s.index, s.name, s.epoch, s.step, s.epochs, s.stages) for s in stages] == \
        [(0, "head", 0, 0, 2, 2), (1, "all", 2, 2 * STEPS, 2, 2)]
    assert stages[0].trainable == {"main": ["logits"]}
    assert stages[1].trainable == {"main": ["hidden1", "hidden2", "logits"]}
    assert stages[0].recipe == HeadThenAll.name
    assert events.index(stages[0]) == events.index(events.of(Started)[0]) + 1
    assert json.dumps(to_json(stages[1]))  # ready for metrics.jsonl
    assert fmt_stage(stages[0]) == (f"stage 1/2 'head' ({HeadThenAll.name}): 2 epochs from "
                                    "epoch 1; training main: logits")

    # Steps count on across stages: total = the sum of the stages' steps.
    started = events.of(Started)[0]
    assert started.epochs == 4 and started.total_steps == 4 * STEPS == finished.step
    assert [e.step for e in events.of(StepMetrics)] == list(range(1, 4 * STEPS + 1))
    assert [e.epoch for e in events.of(EpochSummary)] == [0, 1, 2, 3]

    # Gradient statistics follow the trainable set.
    grads = events.of(GradientStats)
    assert {k for g in grads if g.step <= 2 * STEPS for k in g.norms} == {"logits"}
    assert {k for g in grads if g.step > 2 * STEPS for k in g.norms} == \
        {"hidden1", "hidden2", "logits"}

    # Each stage has its own cosine schedule: the rate starts high again in stage 2.
    rates = {e.step: e.rates["main"] for e in events.of(LearningRate)}
    before = max(s for s in rates if s <= 2 * STEPS)
    after = min(s for s in rates if s > 2 * STEPS)
    assert rates[before] < 1e-3 < 9e-3 < rates[after]

    losses = [e.values["loss"] for e in events.of(StepMetrics)]
    assert sum(losses[-5:]) < sum(losses[:5])
    assert finished.final["accuracy"] > 0.85


class FreezeFirst(Classification):
    name = "test_freeze_first"

    def stages(self):
        return [Stage("frozen first layer", share=0.5, freeze={"model": "hidden1"}),
                Stage("all")]


@pytest.mark.parametrize("stop_at", [33, 20])  # saved in stage 2 / in stage 1
def test_resume_continues_in_the_stage_it_was_saved_in(monkeypatch, tmp_path, stop_at):
    _use(monkeypatch, FreezeFirst)
    p = project(epochs=4, recipe=FreezeFirst.name)
    full = Trainer(p, device="cpu")
    assert full.fit().step == 4 * STEPS
    first = Trainer(project(epochs=4, recipe=FreezeFirst.name), device="cpu", run_dir=tmp_path)
    assert first.fit(max_steps=stop_at).reason == "max_steps"
    meta = json.loads((tmp_path / "checkpoint" / "meta.json").read_text())
    stage = 1 if stop_at > 2 * STEPS else 0
    assert (meta["stage"], meta["step"], meta["batch"]) == (stage, stop_at, stop_at % STEPS)
    events = Recorder()
    second = Trainer(project(epochs=4, recipe=FreezeFirst.name), device="cpu",
                     run_dir=tmp_path, resume=tmp_path / "checkpoint", callback=events)
    finished = second.fit()
    assert finished.reason == "completed" and finished.step == 4 * STEPS
    announced = events.of(StageStarted)
    assert announced[0].index == stage and announced[-1].index == 1
    assert (announced[-1].epoch, announced[-1].step) == (2, 2 * STEPS)
    assert events.of(StepMetrics)[0].step == stop_at + 1
    assert _same(_weights(full), _weights(second))  # exactly the uninterrupted run


class OneStage(Classification):
    name = "test_one_stage"

    def stages(self):
        return [Stage("train")]


def test_a_recipe_without_stages_trains_exactly_as_one_default_stage(monkeypatch):
    _use(monkeypatch, OneStage)
    runs = {}
    for name in ("classification", OneStage.name):
        events = Recorder()
        p = project(epochs=3, recipe=name, l2=1e-4, grad_clip=1.0,
                    schedule={"name": "cosine", "warmup_epochs": 0.5})
        trainer = Trainer(p, callback=events, device="cpu",
                          watch=Watch(stride=1, stats_every_s=0, budget=1.0))
        assert trainer.fit().reason == "completed"
        runs[name] = (_weights(trainer), [e.values for e in events.of(StepMetrics)],
                      events.of(StageStarted))
    plain, staged = runs["classification"], runs[OneStage.name]
    assert _same(plain[0], staged[0]) and plain[1] == staged[1]
    assert plain[2] == [] and len(staged[2]) == 1  # undeclared stages are not announced
    assert staged[2][0].trainable == {"main": ["hidden1", "hidden2", "logits"]}


class LayerAutoencoder(Recipe):
    """A sub-recipe shaped like greedy layer-wise pre-training: layer ``layer`` (fed the
    input directly, as the first layer is) learns to reconstruct its input through a
    decoder of its own."""

    name = "test_layer_autoencoder"
    roles = (Role("model"),)
    params = (Param("layer", "str", "hidden1"),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.layer = self.nets["model"].get_submodule(self.options["layer"])
        self.field = self.fed_inputs("model")[0].field
        decoder = nn.Linear(self.layer.out_features, self.layer.in_features)
        self.nets["decoder"] = self.calls["decoder"] = decoder
        self.names["decoder"] = "decoder"

    def _error(self, batch, train=True):
        x = batch[self.field]
        decoder = self.calls["decoder"] if train else self.nets["decoder"]
        return F.mse_loss(decoder(torch.relu(self.layer(x))), x, reduction="none").sum(1)

    def step(self, ctx, batch):
        loss = self._error(batch).mean()
        ctx.optimize(loss, "model", "decoder")
        return {"loss": loss}

    def eval_batch(self, batch):
        return {"loss": self._error(batch, train=False).sum()}

    def eval_summary(self, totals, count):
        return {"loss": float(totals["loss"]) / max(1, count)}, {}


class PretrainThenFineTune(Classification):
    name = "test_pretrain"

    def stages(self):
        return [Stage("pretrain hidden1", epochs=2, recipe=LayerAutoencoder.name,
                      params={"layer": "hidden1"}, train={"model": ["hidden1"]}),
                Stage("fine-tune")]


def test_a_sub_recipe_with_its_own_module_does_a_stage(monkeypatch, tmp_path):
    _use(monkeypatch, LayerAutoencoder, PretrainThenFineTune)
    events = Recorder()
    seen = {}

    def callback(event):
        events(event)
        if isinstance(event, StageStarted):  # the first run's start, not the resumed one's
            seen.setdefault(event.index, _weights(trainer))

    p = project(epochs=3, recipe=PretrainThenFineTune.name)
    trainer = Trainer(p, callback=callback, device="cpu", run_dir=tmp_path)
    assert trainer.fit(max_steps=STEPS + 3).reason == "max_steps"
    checkpoint = tmp_path / "checkpoint"
    assert (checkpoint / "decoder.safetensors").is_file()  # resumable mid-pre-training
    trainer = Trainer(project(epochs=3, recipe=PretrainThenFineTune.name), callback=callback,
                      device="cpu", run_dir=tmp_path, resume=checkpoint)
    assert trainer.fit().reason == "completed"
    stages = events.of(StageStarted)
    assert [(s.index, s.recipe) for s in stages] == \
        [(0, LayerAutoencoder.name)] * 2 + [(1, PretrainThenFineTune.name)]
    before, after = seen[0], seen[1]
    assert not _same(before, after, "hidden1")
    assert _same(before, after, "hidden2") and _same(before, after, "logits")
    summaries = events.of(EpochSummary)
    assert "accuracy" not in summaries[1].val and summaries[-1].val["accuracy"] > 0.8
    recon = [e.values["loss"] for e in events.of(StepMetrics) if e.step <= 2 * STEPS]
    assert sum(recon[-3:]) < sum(recon[:3])
    assert not (tmp_path / "decoder.safetensors").exists()  # the helper is not a result
    assert (tmp_path / "main.safetensors").is_file()


class Exploding(Classification):
    name = "test_exploding"

    def step(self, ctx, batch):
        metrics = super().step(ctx, batch)
        with torch.no_grad():  # as a far too high learning rate would
            for p in self.nets["model"].parameters():
                p.mul_(float("nan"))
        return metrics


class CalmThenExploding(Classification):
    name = "test_calm_then_exploding"

    def stages(self):
        return [Stage("calm", epochs=1, train={"model": ["logits"]}),
                Stage("wild", recipe=Exploding.name)]


def test_a_nan_in_a_later_stage_rolls_back_within_that_stage(monkeypatch):
    _use(monkeypatch, Exploding, CalmThenExploding)
    events, control = Recorder(), Control()
    trainer = Trainer(project(epochs=3, recipe=CalmThenExploding.name), callback=events,
                      control=control, device="cpu", watch=Watch(every_steps=1))
    out = []
    thread = threading.Thread(target=lambda: out.append(trainer.fit()), daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while control.state != "paused":
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)
    warning = next(e for e in events.of(Warning) if e.code == "nonfinite")
    assert f"last good checkpoint (step {STEPS})" in warning.message  # the stage's start
    assert trainer.stage == 1
    assert all(torch.isfinite(w).all() for w in _weights(trainer).values())
    control.stop()
    thread.join(20)
    assert out[0].reason == "stopped"


class BadNode(Classification):
    name = "test_bad_node"

    def stages(self):
        return [Stage("head", epochs=1, freeze={"model": ["nope"]}), Stage("all")]


class TooLong(Classification):
    name = "test_too_long"

    def stages(self):
        return [Stage("first", epochs=3), Stage("rest")]


def test_stage_mistakes_fail_at_setup_with_a_sentence(monkeypatch, events):
    _use(monkeypatch, BadNode, TooLong)
    assert Trainer(project(recipe=BadNode.name), callback=events, device="cpu").fit() \
        .reason == "failed"
    failure = events.of(Failure)[0]
    assert failure.kind == "recipe" and "node 'nope'" in failure.message
    events.clear()
    Trainer(project(epochs=3, recipe=TooLong.name), callback=events, device="cpu").fit()
    failure = events.of(Failure)[0]
    assert "stage 'rest' gets no epochs" in failure.message and not events.of(StepMetrics)
    with pytest.raises(recipes.RecipeError, match="epochs or share"):
        Stage("both", epochs=1, share=0.5)
    with pytest.raises(recipes.RecipeError, match="batch_size must be a whole number"):
        Stage("none", batch_size=0)


class SmallBatchesFirst(Classification):
    """Stage 1 in batches of 16 (50 steps an epoch on the moons), stage 2 in the settings'."""

    name = "test_small_batches_first"

    def stages(self):
        return [Stage("small", epochs=1, batch_size=16), Stage("settings'")]


@pytest.mark.parametrize("stop_at", [30, 57])  # saved in stage 1 / in stage 2
def test_a_stage_with_its_own_batch_size_plans_steps_and_resumes(monkeypatch, tmp_path,
                                                                 stop_at):
    _use(monkeypatch, SmallBatchesFirst)
    events = Recorder()
    full = Trainer(project(epochs=3, recipe=SmallBatchesFirst.name), device="cpu",
                   callback=events)
    finished = full.fit()
    total = 50 + 2 * STEPS
    assert finished.reason == "completed" and finished.step == total
    started = events.of(Started)[0]
    assert (started.total_steps, started.batch_size) == (total, 64)
    out = io.StringIO()
    Console(out, tty=False)(started)
    assert out.getvalue().startswith(f"training on cpu: 3 epochs, {total} steps, batch 64,")
    stages = events.of(StageStarted)
    assert [(s.step, s.batch_size) for s in stages] == [(0, 16), (50, 0)]
    assert "in batches of 16;" in fmt_stage(stages[0])
    assert "in batches" not in fmt_stage(stages[1])
    assert [e.step for e in events.of(EpochSummary)] == [50, 50 + STEPS, total]
    # Resumed in either stage, it cuts the same batches: exactly the uninterrupted run.
    first = Trainer(project(epochs=3, recipe=SmallBatchesFirst.name), device="cpu",
                    run_dir=tmp_path)
    assert first.fit(max_steps=stop_at).reason == "max_steps"
    second = Trainer(project(epochs=3, recipe=SmallBatchesFirst.name), device="cpu",
                     run_dir=tmp_path, resume=tmp_path / "checkpoint")
    assert second.fit().step == total
    assert _same(_weights(full), _weights(second))
