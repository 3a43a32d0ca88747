"""Augmentation cost: training steps/s of a small CNN on CIFAR-shaped in-memory data with the
full augmentation pipeline (all seven ops) against none, measured in the same run.

Run:  .venv/bin/python tests/bench/bench_augment.py [--device cpu|cuda] [--quick]
Batches come from ``Splits.batches`` (the trainer's in-memory loader, which applies the
augmentation on the device with the trainer's generator); rounds alternate A/B so that a
noisy shared machine hurts both alike.  Prints ratios; never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from builder.augment_spec import OPS  # noqa: E402
from runtime.data import Augment, DataInfo, FieldInfo, Splits, TensorData  # noqa: E402
from runtime.data.transforms import augment_batch  # noqa: E402

PIPELINE = [{"op": "flip"}, {"op": "rotate", "degrees": 15}, {"op": "crop", "padding": 4},
            {"op": "jitter"}, {"op": "blur"}, {"op": "erase"}, {"op": "noise"}]


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(128, 10))


def splits(n: int, device: str, augment: Augment | None) -> Splits:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    info = DataInfo("bench", "classification", {"x": FieldInfo((3, 32, 32), "image", "float32"),
                                                "y": FieldInfo((), "label", "int64")},
                    num_classes=10, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    d = TensorData({"x": x, "y": y})
    return Splits(d, d, info, augment=augment).to(device)


def steps_per_s(data: Splits, model, opt, device: str, batch: int, steps: int) -> float:
    gen = torch.Generator(device=device).manual_seed(0)
    loss_fn = nn.CrossEntropyLoss()
    done, start = 0, None
    while done < steps + 5:
        for b in data.batches("train", batch, generator=gen, device=device):
            if done == 5:  # warm-up steps are not counted
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(b["x"]), b["y"]).backward()
            opt.step()
            done += 1
            if done >= steps + 5:
                break
    if device == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def op_costs(device: str, batch: int, reps: int) -> dict[str, float]:
    """Milliseconds per batch of each op alone (augmentation only, no training)."""
    x = torch.rand(batch, 3, 32, 32, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    out = {}
    for name in OPS:
        ops = Augment.from_ops([{"op": name}]).pipeline()
        augment_batch(x, ops, gen)
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(reps):
            augment_batch(x, ops, gen)
        if device == "cuda":
            torch.cuda.synchronize()
        out[name] = 1000 * (time.perf_counter() - t) / reps
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.manual_seed(0)
    steps = 15 if args.quick else (200 if args.device == "cuda" else 40)
    rounds = 2 if args.quick else 3
    n = args.batch * (steps + 10)
    model = small_cnn().to(args.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    plain = splits(n, args.device, None)
    full = splits(n, args.device, Augment.from_ops(PIPELINE, plain.info.mean, plain.info.std))
    a, b = [], []
    for _ in range(rounds):
        a.append(steps_per_s(plain, model, opt, args.device, args.batch, steps))
        b.append(steps_per_s(full, model, opt, args.device, args.batch, steps))
    ratios = [y / x for x, y in zip(a, b, strict=True)]
    print(f"device {args.device}, batch {args.batch}, {steps} steps x {rounds} rounds, "
          f"small CNN on 3x32x32")
    print(f"no augmentation:      {max(a):8.1f} steps/s (best)")
    print(f"full pipeline (7 ops): {max(b):7.1f} steps/s (best)")
    print(f"ratio full/none: best {max(b) / max(a):.3f}, median of pairs "
          f"{statistics.median(ratios):.3f}")
    costs = op_costs(args.device, args.batch, 5 if args.quick else 20)
    print("ms per batch, each op alone: " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
    step_ms = 1000 / max(a)
    print(f"all ops {sum(costs.values()):.2f} ms against a {step_ms:.1f} ms training step: "
          f"{sum(costs.values()) / step_ms:.1%} of a step (steady, unlike the noisy ratio)")


if __name__ == "__main__":
    main()
