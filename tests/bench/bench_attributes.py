"""The attribute classifier of the prompt-accuracy figure: its training time and its accuracy
on held-out shapes pictures, clean, as a generator might draw them, and at 16 pixels.

Run:  .venv/bin/python tests/bench/bench_attributes.py [--held-out 2000]
Trains afresh in a temporary data folder (never reads a cached one), so the time printed is
what a first use costs on this machine: wall and CPU seconds.  Prints; never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runtime import attributes  # noqa: E402
from runtime.data import shapes  # noqa: E402

FIELDS = {"shape": "shape", "colour": "colour", "size": "size_label", "position": "position"}


def _accuracy(net, x, d) -> str:
    seen = attributes.predict_attributes(x, net)
    return "  ".join(f"{k} {float((seen[k].numpy() == d[f]).mean()):.3f}"
                     for k, f in FIELDS.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-out", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        wall, cpu = time.perf_counter(), time.process_time()
        net = attributes.attribute_classifier(root=root)
        print(f"training: {time.perf_counter() - wall:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU ({attributes.TRAINING})")
    d = shapes.shapes(args.held_out, seed=4242, size=32)
    x = torch.from_numpy(d["x"]).float() / 255
    g = torch.Generator().manual_seed(1)
    soft = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False).lerp(x, 0.5)
    worse = (soft * torch.tensor([0.92, 1.0, 1.08]).view(1, 3, 1, 1) * 0.95 + 0.04
             + torch.randn(x.shape, generator=g) * 0.05).clamp(0, 1)
    small = F.interpolate(x, size=16, mode="bilinear", antialias=True, align_corners=False)
    for name, pictures in (("clean", x), ("tinted, soft, noisy", worse), ("16 px", small)):
        print(f"{name:>20}: {_accuracy(net, pictures, d)}")


if __name__ == "__main__":
    main()
