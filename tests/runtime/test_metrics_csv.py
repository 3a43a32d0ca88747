"""Per-layer gradient norms reach ``metrics.csv`` (split ``grad``, ``<network>/<layer>``) as
well as ``metrics.jsonl``, as often as the ``stats_every`` training setting asks (issue 10)."""

from __future__ import annotations

import csv
import json
from collections import Counter

from rt_helpers import project

from builder.serialize import load, save
from runtime.cli import main
from runtime.events import GradientStats
from runtime.report import Reporter, Watch
from runtime.runlog import MetricsWriter


def _rows(run) -> list[dict]:
    with open(run / "metrics.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_200_step_run_with_stats_every_10_writes_20_snapshots_per_layer(tmp_path):
    file = save(project(epochs=20, batch_size=32, stats_every=10), tmp_path / "moons.loom")
    assert load(file).training.stats_every == 10  # the setting survives the file
    run = tmp_path / "run"
    assert main(["train", str(file), "--max-steps", "200", "--out", str(run),
                 "--device", "cpu"]) == 0
    grads = [r for r in _rows(run) if r["split"] == "grad"]
    per_layer = Counter(r["name"] for r in grads)
    layers = {n for n in per_layer}
    assert layers and all(n.startswith("main/") for n in layers), layers
    assert min(per_layer.values()) >= 20, per_layer
    assert all(float(r["value"]) >= 0 and int(r["step"]) >= 1 for r in grads)
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    snapshots = [e for e in events if e["event"] == "gradient_stats"]
    assert len(snapshots) == max(per_layer.values())  # the same snapshots in both files


def test_without_the_setting_sampling_stays_automatic(tmp_path):
    reporter = Reporter(Watch().every(0), {"m": object()}, lambda e: None, 0, 0)
    assert reporter.stride == 10 and not reporter.watch.exact
    assert not reporter.measuring(5) and reporter.measuring(10)


def test_exact_sampling_measures_every_n_steps_and_delivers_each():
    reporter = Reporter(Watch().every(3), {"m": object()}, lambda e: None, 0, 0)
    measured = [s for s in range(10) if reporter.measuring(s) and reporter.due(s + 1)]
    assert measured == [0, 3, 6, 9]


def test_gradient_rows_name_network_and_layer(tmp_path):
    writer = MetricsWriter(tmp_path)
    writer(GradientStats(7, "gen", {"fc1": 0.5, "fc2": 2.0}))
    writer.close()
    assert [(r["step"], r["split"], r["name"], float(r["value"])) for r in _rows(tmp_path)] == \
        [("7", "grad", "gen/fc1", 0.5), ("7", "grad", "gen/fc2", 2.0)]
