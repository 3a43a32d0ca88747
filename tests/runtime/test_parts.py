"""The trainer's parts on their own: schedules, optimizers, layer statistics, the step log,
the control object, checkpoints and events."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from builder.document import OptimizerConfig
from runtime.checkpoint import load_checkpoint, save_checkpoint, weights_finite
from runtime.control import Control
from runtime.devices import DeviceError, select_device
from runtime.events import EpochSummary, Failure, to_json
from runtime.optim import OptimError, make_optimizer, schedule_factor
from runtime.stats import LayerStats
from runtime.steplog import StepLog


def test_schedules():
    f = schedule_factor({"name": "step", "step_size": 2, "gamma": 0.5}, 10, 100)
    assert [f(s) for s in (0, 19, 20, 40)] == [1.0, 1.0, 0.5, 0.25]
    f = schedule_factor({"name": "cosine"}, 10, 100)
    assert f(0) == 1.0 and abs(f(50) - 0.5) < 1e-9 and f(100) < 1e-9
    f = schedule_factor({"name": "warmup", "warmup_epochs": 1}, 10, 100)
    assert f(0) < 0.2 and f(9) < 1.0 and f(10) == f(99) == 1.0
    f = schedule_factor({"name": "one_cycle", "pct_start": 0.3}, 10, 100)
    values = [f(s) for s in range(100)]
    assert values.index(max(values)) == 30 and values[0] == pytest.approx(1 / 25)
    assert f(100) < values[0] / 100
    f = schedule_factor({"name": "cosine", "warmup_epochs": 1, "min_factor": 0.1}, 10, 100)
    assert f(0) < f(5) < f(10) == 1.0 and f(100) == pytest.approx(0.1)
    with pytest.raises(OptimError, match="unknown schedule"):
        schedule_factor({"name": "zigzag"}, 1, 1)
    with pytest.raises(OptimError, match="gamma"):
        schedule_factor({"name": "step", "gamma": 3}, 1, 1)


def test_optimizers_and_their_settings():
    params = [nn.Parameter(torch.randn(3, 3))]
    sgd = make_optimizer(OptimizerConfig("SGD+momentum", 0.1), params)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    nesterov = make_optimizer(OptimizerConfig("nesterov", 0.1), params)
    assert nesterov.defaults["nesterov"] is True
    adam = make_optimizer(OptimizerConfig("adam", 1e-3, {"betas": [0.5, 0.9]}), params)
    assert adam.defaults["betas"] == (0.5, 0.9)
    with pytest.raises(OptimError, match="adam has no setting 'momentum'"):
        make_optimizer(OptimizerConfig("adam", 1e-3, {"momentum": 0.9}), params)
    with pytest.raises(OptimError, match="unknown optimizer"):
        make_optimizer(OptimizerConfig("lion", 1e-3), params)
    with pytest.raises(OptimError, match="lr must be"):
        make_optimizer(OptimizerConfig("sgd", -1.0), params)
    with pytest.raises(OptimError, match="momentum must be"):  # the form's range, everywhere
        make_optimizer(OptimizerConfig("momentum", 0.1, {"momentum": 1.5}), params)


def test_adam_takes_the_fused_kernel_on_the_cpu_and_steps_as_the_foreach_one_does():
    torch.manual_seed(0)
    start = [torch.randn(4, 3), torch.randn(3)]
    grads = [[torch.randn_like(w) for w in start] for _ in range(3)]
    runs = {}
    for kind in ("made", "foreach"):
        params = [nn.Parameter(w.clone()) for w in start]
        if kind == "made":
            opt = make_optimizer(OptimizerConfig("adamw", 1e-2, {"weight_decay": 0.1}), params,
                                 torch.device("cpu"))
            assert opt.defaults["fused"] is True
        else:
            opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1, foreach=True)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g.clone()
            opt.step()
        runs[kind] = params
    for a, b in zip(runs["made"], runs["foreach"]):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-7)


def test_layer_stats_match_a_direct_computation():
    net = nn.Sequential()
    net.add_module("lin", nn.Linear(4, 6))
    net.add_module("act", nn.ReLU())
    net.add_module("out", nn.Linear(6, 2))
    with torch.no_grad():
        net.lin.bias[:3] = -100.0  # three units that never fire
    stats = LayerStats("main", net, torch.device("cpu"))
    x = torch.randn(32, 4)
    with stats.watching_activations():
        y = net(x)
    assert not net.act._forward_hooks  # hooks only while watching
    y.square().mean().backward()
    stats.measure_gradients()
    norms, acts = stats.report()
    expected = torch.cat([net.lin.weight.grad.flatten(), net.lin.bias.grad]).norm()
    assert norms["lin"] == pytest.approx(float(expected), rel=1e-5)
    h = torch.relu(net.lin(x)).detach()
    assert acts["mean"]["act"] == pytest.approx(float(h.mean()), rel=1e-5)
    assert acts["std"]["act"] == pytest.approx(float(h.std(correction=0)), rel=1e-5)
    assert acts["dead"]["act"] >= 0.5 and "lin" not in acts["dead"]
    assert stats.report() is None  # reported once, then the sums start again


def test_step_log_reads_back_in_one_go_and_finds_the_first_nan():
    log = StepLog()
    for step, loss in enumerate([0.5, 0.4, math.nan, 0.3], start=1):
        log.add(step, 0, {"loss": torch.tensor(loss), "accuracy": torch.tensor(0.9)})
    events, bad = log.drain()
    assert [e.step for e in events] == [1, 2, 3, 4]
    assert bad.step == 3 and bad.last_finite == pytest.approx(0.4) and bad.last_finite_step == 2
    assert "at step 3" in bad.message() and "0.4" in bad.message()
    log.add(5, 0, {"loss": torch.tensor(0.2)})  # different keys: still one event per step
    assert [e.values for e in log.drain()[0]] == [{"loss": pytest.approx(0.2)}]


def test_step_log_reads_int_half_and_one_element_metrics_as_floats():
    log = StepLog()
    log.add(1, 0, {"loss": torch.tensor(0.5, dtype=torch.float16),
                   "correct": torch.tensor(100_000), "n": torch.ones(1)})
    log.add(2, 0, {"loss": torch.tensor(0.25, dtype=torch.float16),
                   "correct": torch.tensor(7), "n": torch.ones(1)})
    events, bad = log.drain()
    assert bad is None
    assert [e.values for e in events] == [{"loss": 0.5, "correct": 100_000.0, "n": 1.0},
                                          {"loss": 0.25, "correct": 7.0, "n": 1.0}]


def test_control_pause_resume_stop_across_threads():
    control = Control()
    assert control.take() == ("running", False)
    control.pause()
    assert control.pending and control.take() == ("paused", False)
    seen = []
    waiter = threading.Thread(target=lambda: seen.append(control.wait_while_paused(5)))
    waiter.start()
    control.resume()
    waiter.join(5)
    assert seen == ["running"]
    control.stop()
    control.resume()  # stopping is final
    assert control.state == "stopping"


def test_checkpoints_are_atomic_and_never_lose_the_last_good_one(tmp_path, monkeypatch):
    net = nn.Linear(3, 2)
    folder = tmp_path / "checkpoint"
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(folder, {"main": net}, {"opt": opt.state_dict()}, {"step": 1})
    before = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(folder, {"main": net}, {}, {"step": 2})
    monkeypatch.undo()
    state, meta = load_checkpoint(folder, {"main": net})
    assert meta["step"] == 1 and torch.equal(net.weight, before)
    assert "state" in state["opt"]
    assert weights_finite({"main": net})
    with torch.no_grad():
        net.weight[0, 0] = math.inf
    assert not weights_finite({"main": net})


def test_events_become_plain_json():
    summary = EpochSummary(0, 10, {"loss": 0.5}, {"loss": math.nan}, 1.0,
                           {"confusion": np.eye(2, dtype=np.int64)})
    record = to_json(summary)
    assert record["event"] == "epoch_summary" and record["val"] == {"loss": None}
    assert record["extras"]["confusion"] == [[1, 0], [0, 1]]
    json.dumps(record, allow_nan=False)
    assert to_json(Failure(3, "oom", "no"))["event"] == "failure"


def test_device_selection():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cuda", "mps", "cpu")
    with pytest.raises(DeviceError, match="device must be one of"):
        select_device("tpu")


def test_statistics_sampling_keeps_within_its_cost_budget():
    from runtime.report import Reporter, Watch

    reporter = Reporter(Watch(stride=10, stats_every_s=0, budget=0.01), {"m": object()},
                        lambda e: None, every_steps=0, step=0)
    assert not reporter.measuring(0) and reporter.measuring(10)  # skips the warm-up step
    for _ in range(5):
        reporter.timed(False, 0.001)
    reporter.timed(True, 0.0015)  # measuring costs half a step: once in 50 steps
    assert not reporter.measuring(19) and reporter.measuring(20)
    assert not reporter.measuring(69) and reporter.measuring(70)
    reporter.timed(True, 0.0015)
    reporter.timed(True, 0.0015)
    assert reporter._gap() == 50
