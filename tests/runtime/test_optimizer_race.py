"""The optimizer race: copies of one network from the same weights, each with its own
optimizer and rate, their metrics side by side, the paths on 2-D loss surfaces, and a resume
that keeps every optimizer's state — real training steps on tiny data."""

from __future__ import annotations

import numpy as np
import torch
from rt_helpers import Recorder, mlp, project

from builder.document import OptimizerConfig
from runtime.events import EpochSummary, Failure, Samples, StepMetrics
from runtime.recipes.optimizer_race import RATES
from runtime.recipes.surfaces import SURFACES, surface_samples
from runtime.trainer import Trainer

RACE = "sgd,momentum,adam"


def _race(epochs: int = 2, rates: str = "", optimizers: str = RACE):
    p = project(mlp(hidden=16), recipe="optimizer_race", epochs=epochs, batch_size=100)
    p.recipe.params = {"optimizers": optimizers, "rates": rates}
    return p


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_every_copy_starts_from_the_same_weights_with_its_own_optimizer_and_rate():
    tiny = "sgd=1e-12,momentum=1e-12,adam=1e-12"  # one step moves nothing visible
    trainer = Trainer(_race(rates=tiny), device="cpu")
    assert trainer.fit(max_steps=1).reason == "max_steps"
    nets = trainer.run.recipe.nets
    assert sorted(nets) == ["main_adam", "main_momentum", "model"]
    first = _weights(nets["model"])
    for role in ("main_momentum", "main_adam"):
        other = _weights(nets[role])
        assert all(torch.allclose(first[k], other[k], atol=1e-9) for k in first)
        assert not set(map(id, nets[role].parameters())) & set(map(id, nets["model"].parameters()))

    trainer = Trainer(_race(rates="adam=0.02"), device="cpu")
    trainer.fit(max_steps=1)
    opts = trainer.optimizers
    sgd, momentum, adam = opts["model"], opts["main_momentum"], opts["main_adam"]
    assert type(sgd) is torch.optim.SGD and sgd.param_groups[0]["momentum"] == 0
    assert sgd.param_groups[0]["lr"] == RATES["sgd"]
    assert type(momentum) is torch.optim.SGD and momentum.param_groups[0]["momentum"] == 0.9
    assert momentum.param_groups[0]["lr"] == RATES["momentum"]
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["lr"] == 0.02
    for role, opt in opts.items():  # each optimizer holds exactly its own copy's weights
        held = {id(p) for g in opt.param_groups for p in g["params"]}
        assert held == {id(p) for p in trainer.run.recipe.nets[role].parameters()}


def test_each_optimizer_reports_its_loss_and_accuracy_and_learns():
    events = Recorder()
    p = _race(epochs=3)
    p.training.samples_every, p.training.samples_unit = 1, "epochs"
    assert Trainer(p, callback=events, device="cpu").fit().reason == "completed"
    steps = events.of(StepMetrics)
    for opt in RACE.split(","):
        assert {f"loss_{opt}", f"accuracy_{opt}"} <= set(steps[0].values)
        last = events.of(EpochSummary)[-1]
        assert {f"loss_{opt}", f"accuracy_{opt}"} <= set(last.val)
        assert float(steps[-1].values[f"loss_{opt}"]) < float(steps[0].values[f"loss_{opt}"])
    assert last.val["accuracy_adam"] > 0.8  # moons: adam at 0.01 learns in three epochs
    names = {e.name for e in events.of(Samples)}
    assert {f"paths: {s.name}" for s in SURFACES} <= names


def _f(surface, point) -> float:
    return float(surface.f(torch.tensor(point, dtype=torch.float64)))


def test_the_paths_picture_has_one_line_per_optimizer_on_each_surface():
    configs = {n: OptimizerConfig(n, lr) for n, lr in RATES.items()}
    pictures = {s.name: s for s in surface_samples(configs, step=0, epoch=0)}
    assert list(pictures) == [f"paths: {s.name}" for s in SURFACES]
    for surface in SURFACES:
        picture = pictures[f"paths: {surface.name}"]
        assert picture.kind == "heatmap" and np.isfinite(picture.data).all()
        assert list(picture.extra["paths"]) == list(RATES)
        for path in picture.extra["paths"].values():
            assert path.shape[1] == 2 and np.allclose(path[0], surface.start, atol=1e-6)
    rosen, saddle, valley = SURFACES
    for path in pictures["paths: Rosenbrock"].extra["paths"].values():
        assert _f(rosen, path[-1]) < _f(rosen, rosen.start)  # every one descends
    paths = pictures["paths: saddle"].extra["paths"]
    assert abs(paths["adam"][-1, 1]) > 1.0  # adam rescales the tiny slope and escapes…
    assert abs(paths["sgd"][-1, 1]) < 0.1  # …plain SGD is still creeping off the ridge
    paths = pictures["paths: narrow valley"].extra["paths"]
    assert _f(valley, paths["momentum"][-1]) < _f(valley, paths["sgd"][-1]) / 100


def test_a_resumed_race_keeps_every_optimizers_state(tmp_path):
    full = Trainer(_race(), device="cpu")
    full.fit()
    first = Trainer(_race(), device="cpu", run_dir=tmp_path)
    assert first.fit(max_steps=11).reason == "max_steps"  # mid epoch 2
    second = Trainer(_race(), device="cpu", run_dir=tmp_path, resume=tmp_path / "checkpoint")
    assert second.fit().reason == "completed"
    for role, module in full.run.recipe.nets.items():
        a, b = _weights(module), _weights(second.run.recipe.nets[role])
        assert all(torch.equal(a[k], b[k]) for k in a), role


def test_an_unknown_optimizer_or_rate_is_refused_by_name():
    for params, word in (({"optimizers": "sgd,lion"}, "lion"),
                         ({"rates": "adam=fast"}, "adam=fast"),
                         ({"optimizers": "sgd,sgd"}, "once")):
        p = _race()
        p.recipe.params.update(params)
        events = Recorder()
        assert Trainer(p, callback=events, device="cpu").fit().reason == "failed"
        assert word in events.of(Failure)[0].message
