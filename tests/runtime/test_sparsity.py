"""The weights' sparsity: the share of near-zero weights per layer equals a count by hand, the
trainer reports it with the layer statistics, and a strong L1 penalty raises it within a few
steps while a run without one stays near zero."""

from __future__ import annotations

import pytest
import torch
from rt_helpers import mlp, project
from torch import nn

from runtime.events import WeightStats
from runtime.runlog import MetricsWriter
from runtime.sparsity import SPARSE_BELOW, WeightSparsity
from runtime.trainer import Trainer


def test_the_share_of_near_zero_weights_matches_a_count_by_hand():
    net = nn.Sequential()
    net.add_module("lin", nn.Linear(4, 5))
    net.add_module("act", nn.ReLU())
    net.add_module("conv", nn.Conv1d(1, 2, 3))
    with torch.no_grad():
        net.lin.weight.fill_(0.5)
        net.lin.weight[0, :3] = 1e-4  # 3 of 20 below the threshold
        net.lin.weight[1, 0] = -5e-4  # and a negative one: 4 of 20
        net.lin.bias.zero_()  # biases are not weights: never counted
        net.conv.weight.fill_(-0.2)
        net.conv.weight[0, 0, 0] = 0.0  # 1 of 6
    shares, overall = WeightSparsity("main", net).measure()
    assert shares == {"lin": pytest.approx(4 / 20), "conv": pytest.approx(1 / 6)}
    assert overall == pytest.approx(5 / 26)
    assert SPARSE_BELOW == 1e-3
    frozen = nn.Sequential(nn.Linear(2, 2).requires_grad_(False), nn.Tanh())
    assert WeightSparsity("main", frozen).measure() is None  # nothing trains: nothing to say


def _sparsity(l1: float, steps: int = 30) -> list[WeightStats]:
    p = project(mlp(hidden=16), epochs=1000, batch_size=32, lr=0.05, l1=l1, stats_every=1)
    p.dataset.params["n_samples"] = 200
    seen: list[WeightStats] = []
    Trainer(p, callback=lambda e: seen.append(e) if isinstance(e, WeightStats) else None,
            device="cpu").fit(max_steps=steps)
    return seen


def test_a_strong_l1_penalty_raises_the_sparsity_a_plain_run_keeps_low():
    with_l1, plain = _sparsity(1.0), _sparsity(0.0)
    assert len(with_l1) == len(plain) == 30  # measured on every step (stats_every 1)
    assert list(with_l1[-1].sparsity) == ["hidden1", "hidden2", "logits"]
    assert with_l1[-1].threshold == SPARSE_BELOW
    assert with_l1[-1].overall > max(0.05, 2 * with_l1[0].overall)
    assert with_l1[-1].overall > 5 * max(plain[-1].overall, 1e-3)
    assert plain[-1].overall < 0.02


def test_metrics_csv_holds_the_sparsity_of_each_layer_and_of_the_network(tmp_path):
    writer = MetricsWriter(tmp_path)
    writer(WeightStats(10, "main", {"hidden1": 0.25, "logits": 0.5}, 0.3, SPARSE_BELOW))
    writer.close()
    rows = (tmp_path / "metrics.csv").read_text().splitlines()[1:]
    assert rows == ["10,0,sparsity,main/hidden1,0.25", "10,0,sparsity,main/logits,0.5",
                    "10,0,sparsity,main,0.3"]
