"""The recipe protocol: discovery, progress, recipe-filled inputs, data streams, recipe state,
the sampling cadence and starting from saved weights, each through the real trainer."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import torch
import torch.nn.functional as F
from rt_helpers import mlp, project, spiral_data

import runtime.recipes as recipes
from builder.document import DatasetConfig
from builder.serialize import dumps, loads
from runtime.data import DataInfo, FieldInfo, Splits, TensorData, load, normalise
from runtime.events import Failure, Samples, WeightsLoaded
from runtime.init_weights import InitError, load_init
from runtime.optimize import Optimization
from runtime.recipes import Feed, Recipe, Role, Stream
from runtime.recipes.classification import Classification
from runtime.trainer import Trainer


def _use(monkeypatch, *classes):
    for cls in classes:  # registered for this test only
        monkeypatch.setitem(recipes.RECIPES, cls.name, cls)


# --- discovery -------------------------------------------------------------------------------

def test_every_recipe_module_is_registered_without_a_list():
    defined = set()
    for info in pkgutil.iter_modules(recipes.__path__):
        module = importlib.import_module(f"runtime.recipes.{info.name}")
        defined |= {cls.name for _, cls in inspect.getmembers(module, inspect.isclass)
                    if issubclass(cls, Recipe) and cls.__module__ == module.__name__
                    and "name" in vars(cls) and cls.name}
    assert {"classification", "regression", "gan"} <= defined
    assert defined == set(recipes.RECIPES) - {n for n, c in recipes.RECIPES.items()
                                              if not c.__module__.startswith("runtime.")}


# --- progress --------------------------------------------------------------------------------

class _Watching(Classification):
    name = "test_progress"
    seen: list = []

    def step(self, ctx, batch):
        type(self).seen.append((ctx.step, ctx.epoch, ctx.total_steps, ctx.progress))
        return super().step(ctx, batch)


def test_step_context_carries_progress(monkeypatch, events):
    _use(monkeypatch, _Watching)
    _Watching.seen = []
    p = project(mlp(classes=3), recipe="test_progress", epochs=3, batch_size=300)
    Trainer(p, data=spiral_data(), callback=events).fit()
    seen = _Watching.seen
    total = seen[0][2]
    assert total == 3 * 4 and [s[0] for s in seen] == list(range(total))
    assert [s[1] for s in seen] == [e for e in range(3) for _ in range(4)]
    assert seen[0][3] == 0.0 and seen[-1][3] == pytest.approx((total - 1) / total)
    assert all(a[3] < b[3] for a, b in zip(seen, seen[1:]))


# --- penalties -------------------------------------------------------------------------------

def _ctx(scaler=None, distributed=False) -> Optimization:
    return Optimization({}, {}, {}, torch.device("cpu"), scaler=scaler,
                        distributed=distributed)


def _f(x):
    return (x.sin() * x.square()).sum(1) + x.prod(1)


def test_input_gradients_match_finite_differences_and_stay_differentiable():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    (g,) = _ctx().gradients(_f(x), x)
    eps = 1e-6
    for i in range(3):
        d = torch.zeros_like(x)
        d[:, i] = eps
        fd = (_f(x + d) - _f(x - d)) / (2 * eps)
        torch.testing.assert_close(g[:, i], fd, rtol=1e-6, atol=1e-8)
    assert g.requires_grad  # a penalty on it can itself be back-propagated
    g.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_input_gradients_are_unscaled_under_loss_scaling():
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    x = torch.randn(5, 3, requires_grad=True)
    (plain,) = _ctx().gradients(_f(x), x)
    (scaled,) = _ctx(scaler).gradients(_f(x), x)
    torch.testing.assert_close(scaled, plain)


def test_input_gradients_refuse_under_ddp():
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.raises(recipes.RecipeError, match="DistributedDataParallel"):
        _ctx(distributed=True).gradients(_f(x), x)


# --- inputs the recipe fills -----------------------------------------------------------------

def _fails(p, data, events) -> Failure:
    Trainer(p, data=data, callback=events).fit()
    (failure,) = events.of(Failure)
    return failure


def test_an_input_marked_for_the_recipe_must_be_one_it_fills(events):
    net = mlp(classes=3)
    net.nodes["x"].params.update(source="recipe", field="x_t")
    failure = _fails(project(net), spiral_data(), events)
    assert failure.kind == "recipe"
    assert "network 'main', input 'x'" in failure.message and "'x_t'" in failure.message


class _Fills(Classification):
    name = "test_fills"
    feeds = (Feed("model", "shifted", "the input shifted by one"),)

    def prediction(self, batch, train=True):
        out = self.forward("model", batch, train, replace={"shifted": batch["x"].roll(1, 1)})
        return self.output("model", out)


def _two_inputs(source: str = "recipe"):
    net = mlp(classes=3)
    net.add("Input", id="aux", shape=[2], kind="vector", field="shifted", source=source)
    net.add("Add", id="sum")
    net.edges = [e for e in net.edges if e.src != "x"]
    net.connect("x", "sum", dst_port="x1")
    net.connect("aux", "sum", dst_port="x2")
    net.connect("sum", "hidden1")
    return net


def test_a_required_feed_without_its_input_is_a_setup_error(monkeypatch, events):
    _use(monkeypatch, _Fills)
    failure = _fails(project(mlp(classes=3), recipe="test_fills"), spiral_data(), events)
    assert "recipe 'test_fills' fills 'shifted' of network 'main'" in failure.message
    assert "source 'recipe'" in failure.message


def test_a_recipe_fills_its_input_and_trains(monkeypatch, events):
    _use(monkeypatch, _Fills)
    finished = Trainer(project(_two_inputs(), recipe="test_fills", epochs=2),
                       data=spiral_data(), callback=events).fit()
    assert finished.reason == "completed", events.of(Failure)


def test_reading_a_filled_field_from_the_data_says_to_switch_the_source(monkeypatch, events):
    _use(monkeypatch, _Fills)
    failure = _fails(project(_two_inputs("data"), recipe="test_fills"), spiral_data(), events)
    assert "input 'aux' reads field 'shifted' from the data" in failure.message


# --- data streams ----------------------------------------------------------------------------

class _TwoStreams(Recipe):
    name = "test_streams"
    roles = (Role("model"),)
    streams = (Stream("source"), Stream("target"))
    monitor = None
    keys: list = []

    def step(self, ctx, batch):
        type(self).keys.append((sorted(batch), batch["target.x"].shape[0],
                                float(batch["target.x"].mean())))
        logits = self.output("model", self.forward("model", batch))
        loss = F.cross_entropy(logits, batch["y"])
        ctx.optimize(loss, "model")
        return {"loss": loss}

    def eval_batch(self, batch):
        return {"n": torch.tensor(batch["x"].shape[0])}

    def eval_summary(self, totals, count):
        return {}, {}


def _two_stream_project(**target):
    p = project(recipe="test_streams", epochs=2, batch_size=100)
    p.streams = {"target": DatasetConfig("circles", {"n_samples": 250, **target})}
    return p


def test_two_streams_cycle_independently_with_their_own_statistics(monkeypatch, events):
    _use(monkeypatch, _TwoStreams)
    _TwoStreams.keys = []
    p = _two_stream_project(factor=0.5)
    p.dataset.params.update(n_samples=1000)
    finished = Trainer(p, callback=events).fit()
    assert finished.reason == "completed", events.of(Failure)
    keys = _TwoStreams.keys
    assert len(keys) == 2 * 8  # the primary stream (800 training samples) defines an epoch
    assert keys[0][0] == ["target.x", "target.y", "x", "y"]
    assert all(k[1] == 100 for k in keys)  # the smaller stream starts over, full batches
    # Each stream is standardised with its own statistics: the target's mean is ~0.
    assert abs(sum(k[2] for k in keys) / len(keys)) < 0.1


def test_a_stream_without_a_dataset_names_it(monkeypatch, events):
    _use(monkeypatch, _TwoStreams)
    p = _two_stream_project()
    p.streams = {}
    failure = _fails(p, None, events)
    assert failure.kind == "dataset" and "stream 'target'" in failure.message


def test_a_stream_the_recipe_does_not_read_is_refused(events):
    p = project()
    p.streams = {"target": DatasetConfig("circles")}
    failure = _fails(p, None, events)
    assert "stream(s) target" in failure.message and "does not read" in failure.message


def test_streams_round_trip_through_the_file():
    p = _two_stream_project(factor=0.3)
    p.training.init = {"main": "runs/first"}
    p.training.samples_every, p.training.samples_unit = 50, "steps"
    assert loads(dumps(p)) == p


def test_every_float_field_is_normalised_with_its_own_statistics():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 3, generator=g) * 5 + 2, torch.rand(200, 4, generator=g) * 10
    info = DataInfo("t", "regression", {"x": FieldInfo((3,), "vector", "float32"),
                                        "cond": FieldInfo((4,), "vector", "float32"),
                                        "y": FieldInfo((4,), "target", "float32")})
    data = TensorData({"x": a, "cond": b, "y": b.clone()})
    train, val, out = normalise(data, data, info)
    for key in ("x", "cond"):
        torch.testing.assert_close(train[key].mean(0), torch.zeros(train[key].shape[1]),
                                   atol=1e-5, rtol=0)
    torch.testing.assert_close(train["y"], b)  # a target stays in its own units
    assert set(out.stats) == {"x", "cond"} and out.mean == out.stats["x"][0]


# --- sampling cadence ------------------------------------------------------------------------

def _sample_steps(unit: str, every: int, events, **fit) -> list[int]:
    p = project(epochs=4, batch_size=200, samples_unit=unit, samples_every=every)
    Trainer(p, callback=events).fit(**fit)
    return sorted({e.step for e in events.of(Samples)})


def test_samples_every_n_steps(events):
    assert _sample_steps("steps", 5, events, max_steps=14) == [5, 10, 14]


def test_samples_every_n_epochs(events):
    assert _sample_steps("epochs", 2, events) == [8, 16]


def test_samples_only_at_the_end(events):
    assert _sample_steps("end", 1, events) == [16]


# --- starting from saved weights -------------------------------------------------------------

def test_init_matches_by_name_and_reports_a_shape_mismatch(tmp_path):
    from runtime.assemble import compile_roles
    first = project()
    source = compile_roles(first, ["model"])["model"].module
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    second = project(mlp(classes=3))
    target = compile_roles(second, ["model"])["model"].module
    report = load_init(target, tmp_path / "weights.pt", "main")
    assert isinstance(report, WeightsLoaded)
    assert set(report.skipped) == {"logits.weight", "logits.bias"}
    assert "[2, 32] in the file, [3, 32] here" in report.skipped["logits.weight"]
    assert sorted(report.matched) == sorted(k for k in source.state_dict()
                                            if not k.startswith("logits"))
    torch.testing.assert_close(target.hidden1.weight, source.hidden1.weight)
    assert "hidden1, hidden2" in report.message and "logits.weight" in report.message


def test_init_that_fits_nothing_is_an_error(tmp_path):
    from safetensors.torch import save_file
    save_file({"other.weight": torch.zeros(2)}, str(tmp_path / "w.safetensors"))
    from runtime.assemble import compile_roles
    module = compile_roles(project(), ["model"])["model"].module
    with pytest.raises(InitError, match="nothing in .* fits network 'main'"):
        load_init(module, tmp_path / "w.safetensors", "main")
    with pytest.raises(InitError, match="does not exist"):
        load_init(module, tmp_path / "missing.pt", "main")


def test_the_trainer_starts_from_a_run_folder(tmp_path, events):
    Trainer(project(epochs=2), run_dir=tmp_path / "first").fit()
    p = project(epochs=1)
    p.training.init = {"main": str(tmp_path / "first")}
    Trainer(p, callback=events).fit()
    (loaded,) = events.of(WeightsLoaded)
    assert loaded.source.endswith("main.safetensors") and not loaded.skipped
    # It starts where the first run ended: accuracy is high from the first epoch.
    assert events[-1].final["accuracy"] > 0.8


def test_load_keeps_default_single_stream_batches_flat():
    s = load("moons", {"n_samples": 100})
    assert isinstance(s, Splits) and not s.others
    batch = next(s.batches("train", 10))
    assert sorted(batch) == ["x", "y"]


class _Noisy(Classification):
    """Draws from the run's noise stream in its step, its validation and its pictures."""

    name = "test_noisy"

    def step(self, ctx, batch):
        x = batch["x"] + 0.1 * torch.randn(batch["x"].shape, generator=self.generator)
        return super().step(ctx, {**batch, "x": x})

    def eval_batch(self, batch):
        torch.randn(3, generator=self.generator)
        return super().eval_batch(batch)

    def samples(self, data, step, epoch):
        torch.randn(3, generator=self.generator)
        return []


def test_validation_and_pictures_leave_the_training_noise_alone(monkeypatch):
    _use(monkeypatch, _Noisy)
    weights = []
    for unit in ("steps", "end"):  # pictures every step, or once
        trainer = Trainer(project(recipe="test_noisy", epochs=2, samples_unit=unit))
        assert trainer.fit().reason == "completed"
        weights.append(trainer.recipe.nets["model"].logits.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)
