"""The generic loop: events, pause/resume/stop, checkpoints and resume, faults (NaN, OOM,
broken data or recipe), penalties, aux losses, early stopping, schedules, optimizers.
(The mlp template's accuracy check runs through the CLI in test_cli_train.)"""

from __future__ import annotations

import threading
import time

import pytest
import torch
from rt_helpers import Recorder, mlp, project, spiral_data
from torch.utils.data import Dataset

from builder.training import batch_mode
from runtime.control import Control
from runtime.data import DataInfo, FieldInfo, Splits
from runtime.events import (
    ActivationStats,
    CheckpointSaved,
    EpochSummary,
    Failure,
    Finished,
    GradientStats,
    LearningRate,
    Samples,
    SettingsChanged,
    Started,
    Status,
    StepMetrics,
    Warning,
)
from runtime.trainer import Trainer, Watch


def test_events_describe_the_run(events):
    p = project(epochs=2)
    finished = Trainer(p, callback=events, device="cpu",
                       watch=Watch(stride=1, stats_every_s=0, budget=1.0)).fit()
    started = events.of(Started)[0]
    assert started.steps_per_epoch == 13 and started.total_steps == 26  # 800 / 64
    steps = events.of(StepMetrics)
    assert [e.step for e in steps] == list(range(1, 27))  # every step, in order
    assert set(steps[0].values) == {"loss", "accuracy"}
    summaries = events.of(EpochSummary)
    assert len(summaries) == 2 and summaries[0].val["accuracy"] > 0.5
    assert summaries[0].extras["confusion"].sum() == 200
    grads = events.of(GradientStats)[-1]
    assert set(grads.norms) == {"hidden1", "hidden2", "logits"}  # canvas node ids
    acts = events.of(ActivationStats)[-1]
    assert set(acts.dead) == {"relu1", "relu2"} and "hidden1" in acts.std
    assert events.of(LearningRate)[0].rates == {"main": 0.01}
    kinds = {e.kind for e in events.of(Samples)}
    assert kinds == {"heatmap", "points"}  # decision boundary of a 2-D toy
    assert finished.reason == "completed" and finished.final == summaries[-1].val
    assert isinstance(events[-1], Finished)


def test_batch_size_selects_the_kind_of_gradient_descent():
    assert batch_mode(0, 100) == "batch" and batch_mode(500, 100) == "batch"
    assert batch_mode(32, 100) == "mini-batch" and batch_mode(1, 100) == "stochastic"
    events = Recorder()
    Trainer(project(epochs=1, batch_size=0), callback=events, device="cpu").fit()
    assert events.of(Started)[0].steps_per_epoch == 1
    assert "batch gradient descent" == events.of(Status)[0].message


def test_max_steps_stops_mid_epoch_with_a_summary(events):
    finished = Trainer(project(epochs=5), callback=events, device="cpu").fit(max_steps=7)
    assert finished.reason == "max_steps" and finished.step == 7
    assert len(events.of(EpochSummary)) == 1


def _run_in_thread(trainer: Trainer, **kw) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(trainer.fit(**kw)), daemon=True)
    thread.start()
    return thread, out


def _wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_pause_resume_and_stop_from_another_thread(tmp_path, events):
    control = Control()
    trainer = Trainer(project(epochs=1000), callback=events, control=control, device="cpu",
                      run_dir=tmp_path, watch=Watch(every_steps=1))
    thread, out = _run_in_thread(trainer)
    _wait_for(lambda: len(events.of(StepMetrics)) > 3)
    control.pause()
    _wait_for(lambda: any(e.state == "paused" for e in events.of(Status)))
    paused_at = trainer.step
    time.sleep(0.1)
    assert trainer.step == paused_at  # honoured within one step, and it stays put
    control.request_checkpoint()  # saving while paused works
    _wait_for(lambda: any(e.step == paused_at for e in events.of(CheckpointSaved)))
    control.resume()
    _wait_for(lambda: trainer.step > paused_at + 3)
    control.stop()
    thread.join(20)
    assert out[0].reason == "stopped"
    assert (tmp_path / "main.safetensors").is_file()  # nothing lost on stop
    assert (tmp_path / "checkpoint" / "meta.json").is_file()
    states = [e.state for e in events.of(Status)]
    assert states == ["running", "paused", "running", "stopping"]


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.recipe.nets["model"].state_dict().items()}


def test_resume_mid_epoch_continues_exactly(tmp_path):
    full = Trainer(project(epochs=2), device="cpu")
    full.fit()
    first = Trainer(project(epochs=2), device="cpu", run_dir=tmp_path)
    assert first.fit(max_steps=17).reason == "max_steps"  # epoch 2, batch 4 of 13
    second = Trainer(project(epochs=2), device="cpu", run_dir=tmp_path,
                     resume=tmp_path / "checkpoint")
    finished = second.fit()
    assert finished.reason == "completed" and finished.step == 26
    a, b = _weights(full), _weights(second)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("on_disk", [False, True])
def test_nan_pauses_with_the_step_and_last_finite_loss_then_rolls_back(on_disk, tmp_path,
                                                                       events):
    control = Control()
    trainer = Trainer(project(epochs=1000, lr=1e6, optimizer="sgd"), callback=events,
                      control=control, device="cpu", watch=Watch(every_steps=1),
                      run_dir=tmp_path if on_disk else None)
    thread, out = _run_in_thread(trainer)
    _wait_for(lambda: any(e.code == "nonfinite" for e in events.of(Warning)))
    _wait_for(lambda: control.state == "paused")
    warning = next(e for e in events.of(Warning) if e.code == "nonfinite")
    bad = next(e for e in events.of(StepMetrics) if not e.values["loss"] < float("inf"))
    assert f"at step {bad.step}" in warning.message
    assert "the last finite loss was" in warning.message and "step 0" in warning.message
    weights = trainer.recipe.nets["model"].state_dict().values()
    assert all(torch.isfinite(w).all() for w in weights)  # set back to the good state
    control.stop()
    thread.join(20)
    assert out[0].reason == "stopped"


def test_after_a_nan_a_lower_rate_applies_while_paused_and_the_run_recovers(events):
    control = Control()
    trainer = Trainer(project(epochs=3, lr=1e6, optimizer="sgd"), callback=events,
                      control=control, device="cpu", watch=Watch(every_steps=1))
    thread, out = _run_in_thread(trainer)
    _wait_for(lambda: control.state == "paused")
    assert "applies to this run at once" in events.of(Warning)[-1].message
    control.adjust({"lr": {"main": 0.05}, "grad_clip": 1.0})
    _wait_for(lambda: events.of(SettingsChanged))  # applied while still paused
    changed = events.of(SettingsChanged)[0]
    assert changed.message == "learning rate of main 1e+06 → 0.05; gradient clipping off → 1"
    assert control.state == "paused"
    control.resume()
    thread.join(30)
    assert out[0].reason == "completed"
    after = [e.values["loss"] for e in events.of(StepMetrics) if e.step > changed.step]
    assert after and all(v < float("inf") for v in after)
    assert out[0].final["accuracy"] > 0.8
    assert events.of(LearningRate)[-1].rates == {"main": 0.05}
    assert trainer.project.training.optimizers["*"].lr == 1e6  # the caller's copy is intact


def test_live_changes_keep_the_schedule_and_add_penalties(events):
    p = project(epochs=2, schedule={"name": "cosine"})
    control = Control()

    def at_step_5(event):
        events(event)
        if isinstance(event, StepMetrics) and event.step == 5:
            control.adjust({"lr": {"*": 0.1}, "l2": 1e-3})

    trainer = Trainer(p, callback=at_step_5, control=control, device="cpu",
                      watch=Watch(every_steps=1))
    assert trainer.fit().reason == "completed"
    changed = events.of(SettingsChanged)[0]
    assert changed.step >= 5 and "L2 penalty off → 0.001" in changed.message
    sched = trainer.schedules["model"]
    assert sched.base_lrs == [0.1]
    factor = sched.lr_lambdas[0](sched.last_epoch)
    assert events.of(LearningRate)[-1].rates["main"] == pytest.approx(0.1 * factor)
    steps = events.of(StepMetrics)
    assert "l2" not in steps[0].values and "l2" in steps[-1].values  # reported on its own
    assert trainer.settings.l2 == 1e-3 and p.training.l2 == 0.0


def test_refused_live_changes_say_why_and_change_nothing(events):
    control = Control()
    control.adjust({"lr": {"main": -1}, "batch_size": 3})
    trainer = Trainer(project(epochs=1), callback=events, control=control, device="cpu")
    assert trainer.fit().reason == "completed"
    warning = next(e for e in events.of(Warning) if e.code == "settings")
    assert "'batch_size' cannot change while a run trains" in warning.message
    assert "main: lr must be between" in warning.message
    assert not events.of(SettingsChanged)
    assert trainer.optimizers["model"].param_groups[0]["lr"] == 0.01


def test_nan_fails_the_run_headless(events):
    finished = Trainer(project(lr=1e6, optimizer="sgd"), callback=events, device="cpu",
                       on_nonfinite="stop").fit()
    assert finished.reason == "failed"
    failure = events.of(Failure)[0]
    assert failure.kind == "nonfinite" and "became" in failure.message


class _Broken(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        if i >= 0:
            raise OSError("disk on fire")
        return {}


def test_a_dataset_error_ends_the_run_with_a_clear_failure(events):
    good = spiral_data()
    info = DataInfo("broken", "classification", {"x": FieldInfo((2,), "vector", "float32"),
                                                 "y": FieldInfo((), "label", "int64")},
                    num_classes=3)
    data = Splits(_Broken(), good.val, info, num_workers=0)
    p = project(mlp(classes=3))
    finished = Trainer(p, data=data, callback=events, device="cpu").fit()
    assert finished.reason == "failed"
    failure = events.of(Failure)[0]
    assert failure.kind in ("dataset", "setup") and "disk on fire" in failure.message


def test_a_recipe_error_and_an_out_of_memory_are_reported(monkeypatch, events):
    from runtime.recipes.classification import Classification

    def boom(self, ctx, batch):
        raise ZeroDivisionError("bad idea")

    monkeypatch.setattr(Classification, "step", boom)
    Trainer(project(), callback=events, device="cpu").fit()
    failure = events.of(Failure)[0]
    assert failure.kind == "recipe" and "bad idea" in failure.message and "step 1" in \
        failure.message

    def oom(self, ctx, batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(Classification, "step", oom)
    events.clear()
    Trainer(project(batch_size=64), callback=events, device="cpu").fit()
    failure = events.of(Failure)[0]
    assert failure.kind == "oom" and "smaller batch (e.g. 32)" in failure.message


def test_setup_errors_name_the_problem(events):
    p = project(mlp(classes=5))
    assert Trainer(p, callback=events, device="cpu").fit().reason == "failed"
    assert "5" in events.of(Failure)[0].message and "2 classes" in events.of(Failure)[0].message
    events.clear()
    p = project(mlp(field="pixels"))
    Trainer(p, callback=events, device="cpu").fit()
    assert "field 'pixels'" in events.of(Failure)[0].message
    events.clear()
    p = project(dataset="nowhere")
    Trainer(p, callback=events, device="cpu").fit()
    assert events.of(Failure)[0].kind == "dataset"


def test_penalties_and_aux_losses_are_added_and_reported(events):
    net = mlp(extra=("ActivityL1",))
    p = project(net, epochs=1, l1=1e-4, l2=1e-3, grad_clip=1.0)
    Trainer(p, callback=events, device="cpu").fit()
    values = events.of(StepMetrics)[0].values
    assert {"loss", "accuracy", "aux/activityl1_1", "l1", "l2"} <= set(values)
    assert values["l1"] > 0 and values["l2"] > 0 and values["aux/activityl1_1"] >= 0


def test_early_stopping_restores_the_best_weights(events):
    p = project(epochs=50, early_stopping=2, lr=0.05)
    finished = Trainer(p, callback=events, device="cpu").fit()
    assert finished.reason == "early_stopping"
    summaries = events.of(EpochSummary)
    assert len(summaries) < 50 and any(e.code == "early_stopping" for e in events.of(Warning))


def test_schedules_change_the_learning_rate(events):
    p = project(epochs=2, schedule={"name": "cosine", "warmup_epochs": 0.5})
    Trainer(p, callback=events, device="cpu", watch=Watch(every_steps=1)).fit()
    rates = [e.rates["main"] for e in events.of(LearningRate)]
    peak = rates.index(max(rates))
    assert 0 < peak < len(rates) - 1 and rates[-1] < 1e-3 < max(rates)


def test_amp_on_cpu_warns_and_trains_in_float32(events):
    p = project(epochs=1, amp=True)
    assert Trainer(p, callback=events, device="cpu").fit().reason == "completed"
    assert events.of(Warning)[0].code == "amp_unavailable"


def test_unknown_device_and_missing_cuda_fail_cleanly(events):
    p = project(epochs=1)
    if not torch.cuda.is_available():
        Trainer(p, callback=events, device="cuda").fit()
        assert "CUDA" in events.of(Failure)[0].message


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam",
                                  "adamw"])
def test_every_optimizer_lowers_the_loss(name, events):
    lr = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.1}.get(name, 0.01)
    Trainer(project(epochs=2, optimizer=name, lr=lr), callback=events, device="cpu").fit()
    losses = [e.values["loss"] for e in events.of(StepMetrics)]
    assert sum(losses[-5:]) < sum(losses[:5]), name


def test_the_mixed_precision_path_runs_where_amp_is_allowed(monkeypatch, events):
    # CUDA is not on every test machine; CPU autocast + GradScaler walk the same code.
    import runtime.setup as setup_mod

    monkeypatch.setattr(setup_mod, "amp_supported", lambda device: True)
    p = project(epochs=2, amp=True, grad_clip=1.0)
    trainer = Trainer(p, callback=events, device="cpu")
    assert trainer.fit().reason == "completed"
    assert trainer.ctx.scaler is not None and events.of(Started)[0].amp
    losses = [e.values["loss"] for e in events.of(StepMetrics)]
    assert sum(losses[-5:]) < sum(losses[:5])


def test_a_broken_callback_ends_the_run_cleanly():
    calls = []

    def callback(event):
        calls.append(event)
        if isinstance(event, StepMetrics):
            raise KeyError("plot exploded")

    finished = Trainer(project(epochs=1), callback=callback, device="cpu").fit()
    assert finished.reason == "failed"
    failure = next(e for e in calls if isinstance(e, Failure))
    assert failure.kind == "error" and "plot exploded" in failure.message


def test_resuming_a_run_that_reached_max_steps_takes_no_extra_step(tmp_path, events):
    # A finished --max-steps run, resumed with the same cap, has nothing left to do.
    Trainer(project(epochs=50), run_dir=tmp_path).fit(max_steps=30)
    finished = Trainer(project(epochs=50), run_dir=tmp_path, resume=tmp_path / "checkpoint",
                       callback=events).fit(max_steps=30)
    assert finished.step == 30 and finished.reason == "max_steps"
    assert not events.of(StepMetrics)
