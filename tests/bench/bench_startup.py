"""Startup benchmark: how long ``layerloom`` takes to answer and to train its first step.

Run:  .venv/bin/python tests/bench/bench_startup.py [--repeat N] [--templates mlp,lenet]

Every figure is the median (and the minimum) of N fresh processes (default 3), measured from
the moment the process is started; the figures are measured in turn, N rounds, so that a
change in the machine's load touches them alike.  Two baselines are measured in the same run:
``python -c "import torch"`` and a hand-written PyTorch script (import torch, a small MLP,
Adam, one step on random data).  The latter pays what every torch training script pays,
notably the first optimizer's import of ``torch._dynamo``.

The first step of ``layerloom train T.loom --max-steps 1`` is the moment the console prints
``step 1``; the process is then killed (its validation pass is not startup).  One warm-up run
per template comes first, not counted: it fills the data cache and the OS file cache.

Goals (issue 17): ``--help`` under 0.3 s; the first step within 1.5 s of the bare torch
import.  Nothing is asserted: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Byte-code caching on, as in an installed package (pip writes the .pyc files): a sandbox's
# PYTHONDONTWRITEBYTECODE would otherwise make every run compile Layerloom's ~120 modules
# afresh (about 0.3 s) while torch's came precompiled.  The warm-up runs write the caches.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TEMPLATES = ROOT / "resources" / "templates"
# What the installed ``layerloom`` script runs.
CLI = "import sys; from app.cli import main; sys.exit(main())"
BARE_STEP = """
import torch
from torch import nn
model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.randn(64, 2), torch.randint(0, 3, (64,))
loss = nn.functional.cross_entropy(model(x), y)
opt.zero_grad()
loss.backward()
opt.step()
print("step 1", float(loss), flush=True)
"""


def elapsed(cmd: list[str]) -> float:
    """Seconds from starting ``cmd`` to its exit (which must be 0)."""
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def until_step(cmd: list[str]) -> float:
    """Seconds from starting ``cmd`` to its printing a line that starts with ``step 1``."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        for line in proc.stdout:
            if line.startswith("step 1"):
                return time.perf_counter() - t
        raise RuntimeError(f"{' '.join(cmd)} printed no step: {proc.stderr.read()[-2000:]}")
    finally:
        proc.kill()
        proc.communicate()


def train_cmd(template: str, out: str) -> list[str]:
    return [sys.executable, "-u", "-c", CLI, "train", str(TEMPLATES / f"{template}.loom"),
            "--max-steps", "1", "--device", "cpu", "--out", out, "--force"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--templates", default="mlp,lenet")
    opts = ap.parse_args()
    py, templates = sys.executable, opts.templates.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        figures = {  # name: (measure, goal as seconds above the torch import, or absolute)
            "python -c pass": (lambda: elapsed([py, "-c", "pass"]), None),
            "python -c 'import torch'": (lambda: elapsed([py, "-c", "import torch"]), None),
            "hand-written torch: first step": (lambda: until_step([py, "-u", "-c", BARE_STEP]),
                                               None),
            "layerloom --help": (lambda: elapsed([py, "-c", CLI, "--help"]), ("abs", 0.3)),
            "layerloom gallery list": (lambda: elapsed([py, "-c", CLI, "gallery", "list"]),
                                       ("abs", 0.3)),
            "layerloom blocks": (lambda: elapsed([py, "-c", CLI, "blocks"]), None),
        }
        for name in templates:
            until_step(train_cmd(name, f"{tmp}/{name}"))  # warm-up: data caches, page cache
            figures[f"train {name}: first step"] = (
                lambda n=name: until_step(train_cmd(n, f"{tmp}/{n}")), ("torch", 1.5))
        # Interleaved, so a change in the machine's load touches every figure alike.
        runs: dict[str, list[float]] = {name: [] for name in figures}
        for _ in range(opts.repeat):
            for name, (measure, _) in figures.items():
                runs[name].append(measure())
    med = {name: statistics.median(v) for name, v in runs.items()}
    torch_s, bare_s = med["python -c 'import torch'"], med["hand-written torch: first step"]
    print(f"{opts.repeat} fresh processes per figure, interleaved; median (min); "
          f"Python {sys.version.split()[0]}")
    print(f"{'':32} {'seconds':>13} {'- torch import':>15} {'/ torch import':>15} "
          f"{'- hand step':>12}  goal")
    for name, (_, goal) in figures.items():
        s = med[name]
        verdict = ""
        if goal is not None:
            limit = goal[1] if goal[0] == "abs" else torch_s + goal[1]
            what = f"< {goal[1]:.1f} s" if goal[0] == "abs" else f"torch + {goal[1]:.1f} s"
            verdict = f"{what}: " + ("met" if s < limit else "MISSED")
        print(f"{name:32} {s:6.2f} ({min(runs[name]):4.2f}) {s - torch_s:+15.2f} "
              f"{s / torch_s:15.2f} {s - bare_s:+12.2f}  {verdict}")


if __name__ == "__main__":
    main()
