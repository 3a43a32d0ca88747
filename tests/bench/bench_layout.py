"""Channels-last on the CPU: gallery templates trained by the Trainer with their convolutions'
weights channels-last (``runtime.devices.CHANNELS_LAST_ON_CPU``, the default) against the
same Trainer with them in PyTorch's default layout, on the same data and seed.

Run:  .venv/bin/python tests/bench/bench_layout.py [--templates a,b] [--steps 60] [--rounds 2]
A template's step time is the time of a run of ``--steps`` steps less that of a run of 10,
divided by the difference, so setup, data and the final pictures cancel out (one unmeasured
run first takes the process's one-time costs).  Templates with
a CLIP stage start their later networks at once (the stage's share set to 0), since that is
where their time goes.  Rounds alternate default / channels-last; the best of each is
printed with the ratio.  Never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import runtime.devices as devices  # noqa: E402
from builder.serialize import load  # noqa: E402
from runtime.trainer import Trainer  # noqa: E402

TEMPLATES = Path(__file__).resolve().parents[2] / "resources" / "templates"
DEFAULT = "dalle2_shapes,imagen_shapes,ddpm_shapes,resnet_small,densenet_small,vqvae_shapes," \
          "dcgan,lenet"
SHORT = 10
STAGE_SHARES = ("clip_share", "text_share")


def _project(name: str):
    project = load(TEMPLATES / f"{name}.loom")
    params = project.dataset.params
    if "n_samples" in params:
        params["n_samples"] = min(int(params["n_samples"]), 3000)
    for share in STAGE_SHARES:
        if share in project.recipe.params:
            project.recipe.params[share] = 0.0
    return project


def _seconds(name: str, steps: int, channels_last: bool) -> float:
    devices.CHANNELS_LAST_ON_CPU = channels_last
    with tempfile.TemporaryDirectory() as run:
        start = time.perf_counter()
        finished = Trainer(_project(name), device="cpu", run_dir=run).fit(max_steps=steps)
        assert finished.reason == "max_steps", finished.reason
        return time.perf_counter() - start


def step_ms(name: str, steps: int, channels_last: bool) -> float:
    short = _seconds(name, SHORT, channels_last)
    return (_seconds(name, steps, channels_last) - short) / (steps - SHORT) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--templates", default=DEFAULT)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ms per training "
          f"step, best of {args.rounds}")
    for name in args.templates.split(","):
        times: dict[bool, list[float]] = {False: [], True: []}
        _seconds(name, SHORT, False)  # one-time costs (imports, caches) out of the rounds
        for _ in range(args.rounds):
            for channels_last in (False, True):
                times[channels_last].append(step_ms(name, args.steps, channels_last))
        plain, fast = min(times[False]), min(times[True])
        print(f"{name:18s} default {plain:7.1f}  channels-last {fast:7.1f}  "
              f"ratio {fast / plain:.2f}", flush=True)


if __name__ == "__main__":
    main()
