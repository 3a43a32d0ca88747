"""``layerloom train`` and ``layerloom export``: the exit codes, files and messages scripts rely
on; once through a real subprocess; LeNet end to end on generated IDX files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rt_helpers import project

from builder.document import DatasetConfig
from builder.serialize import load, save
from resources import TEMPLATES
from runtime import export as export_mod
from runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def moons_file(tmp_path) -> Path:
    return save(project(epochs=2), tmp_path / "moons.loom")


def test_mlp_template_reaches_95_percent_on_spirals(tmp_path):
    # Its speed is measured by tests/bench/bench_train.py: wall time on a shared CI machine
    # says nothing about the code.
    run = tmp_path / "run"
    assert main(["train", str(TEMPLATES / "mlp.loom"), "--out", str(run),
                 "--device", "cpu"]) == 0
    rows = list(csv.DictReader(open(run / "metrics.csv", newline="")))
    accuracy = [float(r["value"]) for r in rows if r["split"] == "val" and r["name"] ==
                "accuracy"]
    assert accuracy[-1] >= 0.95, accuracy


def test_train_writes_metrics_weights_and_the_project(moons_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(moons_file), "--out", str(run), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "finished (completed)" in out
    assert "\r" not in out  # not a terminal: plain lines, no progress bar
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "epoch", "split", "name", "value"]
    splits = {r["split"] for r in rows}
    # grad: per-layer norms; sparsity: the share of near-zero weights at the same snapshots
    assert splits == {"train", "train_epoch", "val", "grad", "sparsity"}
    assert any(r["name"] == "lr/main" for r in rows)
    assert max(int(r["step"]) for r in rows) == 26
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    kinds = {r["event"] for r in records}
    assert {"started", "step_metrics", "epoch_summary", "gradient_stats", "finished"} <= kinds
    assert (run / "main.safetensors").is_file() and (run / "checkpoint" / "state.pt").is_file()
    assert load(run / "project.loom").networks.keys() == {"main"}


def test_train_epochs_max_steps_and_resume(moons_file, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(moons_file), "--out", str(run), "--epochs", "3",
                 "--max-steps", "5"]) == 0
    assert load(run / "project.loom").training.epochs == 3
    meta = json.loads((run / "checkpoint" / "meta.json").read_text())
    assert meta["step"] == 5
    assert main(["train", str(moons_file), "--out", str(run), "--epochs", "3",
                 "--resume"]) == 0
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["step"] == 39


def test_train_failures_exit_with_1_and_unreadable_input_with_2(tmp_path, capsys):
    bad = project(lr=1e6, optimizer="sgd")
    assert main(["train", str(save(bad, tmp_path / "nan.loom")), "--out",
                 str(tmp_path / "r")]) == 1
    assert "became" in capsys.readouterr().out
    assert main(["train", str(tmp_path / "missing.loom")]) == 2
    (tmp_path / "junk.loom").write_text("{not json")
    assert main(["train", str(tmp_path / "junk.loom")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("layerloom:")
    with pytest.raises(SystemExit) as e:
        main(["train", str(tmp_path / "nan.loom"), "--epochs", "0"])
    assert e.value.code == 2


def test_export_prints_parity_and_fails_when_it_is_off(moons_file, tmp_path, capsys,
                                                       monkeypatch):
    run = tmp_path / "run"
    assert main(["train", str(moons_file), "--out", str(run), "--max-steps", "3"]) == 0
    capsys.readouterr()
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(moons_file), "--weights", str(run), "--onnx",
                 str(onnx_path), "--code", str(tmp_path / "m.py")]) == 0
    out = capsys.readouterr().out
    assert "parity with onnxruntime: max |torch - onnx| =" in out and " ok" in out
    assert onnx_path.is_file() and (tmp_path / "m.py").is_file()
    assert main(["export", str(moons_file), "--weights", str(tmp_path / "nope"), "--onnx",
                 str(onnx_path)]) == 2
    monkeypatch.setattr(export_mod, "parity", lambda compiled, path, **kw: 1.0)
    assert main(["export", str(moons_file), "--weights", str(run), "--onnx",
                 str(onnx_path), "--force"]) == 1  # the file exists: replaced on request
    assert "FAILED" in capsys.readouterr().out


def test_train_in_a_real_subprocess(moons_file, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "app", "train", str(moons_file), "--out",
                           str(run), "--max-steps", "10"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "finished (max_steps) after 10 steps" in proc.stdout
    assert (run / "main.safetensors").is_file()


def _idx_files(folder: Path, n_train=256, n_test=64) -> None:
    from runtime.data.idx import write_idx

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):  # a bright bar whose row says the digit
            images[i, 2 + 2 * label: 4 + 2 * label, 4:24] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


def test_lenet_runs_end_to_end_on_a_generated_idx_file(tmp_path, monkeypatch, capsys):
    _idx_files(tmp_path / "data" / "mnist")
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path / "data"))
    p = load(TEMPLATES / "lenet.loom")
    p.dataset = DatasetConfig("mnist", {"download": False})  # the template's default is offline
    p.training.batch_size = 32
    file = save(p, tmp_path / "lenet.loom")
    run = tmp_path / "run"
    assert main(["train", str(file), "--out", str(run), "--epochs", "3"]) == 0
    rows = list(csv.DictReader(open(run / "metrics.csv", newline="")))
    val_acc = [float(r["value"]) for r in rows if r["split"] == "val" and r["name"] ==
               "accuracy"]
    assert len(val_acc) == 3 and val_acc[-1] > 0.3  # it learns the bars
    assert main(["export", str(file), "--weights", str(run), "--onnx",
                 str(tmp_path / "lenet.onnx")]) == 0


def test_image_classification_shows_predicted_images(tmp_path, monkeypatch):
    from rt_helpers import Recorder

    from runtime.events import Samples
    from runtime.trainer import Trainer

    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path / "data"))
    p = load(TEMPLATES / "lenet.loom")
    assert p.dataset.name == "glyph_digits"
    p.dataset.params = {"n_samples": 96}
    events = Recorder()
    Trainer(p, callback=events, device="cpu").fit(epochs=1)
    images = [e for e in events.of(Samples) if e.kind == "images"][-1]
    assert images.data.shape == (16, 1, 28, 28) and 0 <= images.data.min()
    assert images.data.max() <= 1 and " / " in images.labels[0]


def test_ctrl_c_stops_cleanly_and_keeps_everything(tmp_path):
    import signal
    import time

    file = save(project(epochs=100000), tmp_path / "long.loom")
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "app", "train", str(file), "--out",
                             str(run)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (run / "metrics.csv").is_file() or (run / "metrics.csv").stat().st_size < 2000:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "finished (stopped)" in out and "Traceback" not in err
    assert (run / "main.safetensors").is_file()
    step = json.loads((run / "checkpoint" / "meta.json").read_text())["step"]
    assert step > 0 and json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])[
        "event"] == "finished"
