"""``train`` under torchrun: two CPU processes with gloo, sharded data, one writer, and
weights that stay identical across ranks."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from rt_helpers import project

from builder.serialize import save

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_in_step(tmp_path):
    file = save(project(epochs=3), tmp_path / "moons.loom")
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "-m", "app", "train", str(file), "--out", str(run), "--device", "cpu"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("finished (completed)") == 1  # rank 0 alone speaks
    report = json.loads((run / "ddp.json").read_text())
    assert report["world_size"] == 2
    assert report["max_weight_difference"] == 0.0  # DDP kept the replicas identical
    # Each rank sees half of the 800 training samples: 400 / 64 → 7 steps per epoch.
    assert report["steps"] == 21
    rows = list(csv.DictReader(open(run / "metrics.csv", newline="")))
    val = [float(r["value"]) for r in rows if r["split"] == "val" and r["name"] == "loss"]
    assert len(val) == 3 and val[-1] < val[0]  # training proceeds
    assert (run / "main.safetensors").is_file()
