"""DCGAN benchmark: the GAN recipe in the Trainer against a hand-written PyTorch DCGAN loop
on the same compiled generator and discriminator, data and batch.

Run:  .venv/bin/python tests/bench/bench_dcgan.py [--device cpu|cuda|mps] [--quick]
Both sides do the same work per step: one discriminator update on a real and a fake batch
(non-saturating loss, Adam β1 = 0.5), then one generator update.  The Trainer runs with its
gradient and activation statistics on; pictures are off (their cost is per picture, not per
step, and the cadence decides it).  Ratios alternate A/B/A/B as in bench_train; never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_train import _sync  # noqa: E402

from builder.compiler import compile_network  # noqa: E402
from builder.document import (  # noqa: E402
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data import DataInfo, FieldInfo, Splits, TensorData  # noqa: E402
from runtime.devices import select_device  # noqa: E402
from runtime.events import Finished, Started  # noqa: E402
from runtime.trainer import Trainer, Watch  # noqa: E402

BATCH = 64
Z = 64
BETAS = (0.5, 0.999)


def generator() -> Network:
    net = Network("generator")
    net.chain(
        net.add("Noise", id="z", shape=[Z]),
        net.add("Linear", id="project", units=128 * 7 * 7),
        net.add("BatchNorm", id="bn0"),
        net.add("ReLU", id="relu0"),
        net.add("Reshape", id="grid", shape=[128, 7, 7]),
        net.add("ConvTranspose2d", id="up1", filters=64),
        net.add("BatchNorm", id="bn1"),
        net.add("ReLU", id="relu1"),
        net.add("ConvTranspose2d", id="up2", filters=1),
        net.add("Sigmoid", id="pixels"),
        net.add("Output", id="image"))
    return net


def discriminator() -> Network:
    net = Network("discriminator")
    net.chain(
        net.add("Input", id="x", shape=[1, 28, 28], kind="image"),
        net.add("Conv2d", id="conv1", filters=64, kernel=4, stride=2, padding=1),
        net.add("LeakyReLU", id="lrelu1", alpha=0.2),
        net.add("Dropout", id="drop1", p=0.3),
        net.add("Conv2d", id="conv2", filters=128, kernel=4, stride=2, padding=1),
        net.add("LeakyReLU", id="lrelu2", alpha=0.2),
        net.add("Dropout", id="drop2", p=0.3),
        net.add("Flatten", id="flat"),
        net.add("Linear", id="score", units=1),
        net.add("Output", id="real"))
    return net


def data(n: int, device: torch.device) -> Splits:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    info = DataInfo("bench", "generative", {"x": FieldInfo((1, 28, 28), "image", "float32")})
    return Splits(TensorData({"x": x}), TensorData({"x": x[:0]}), info).to(device)


def trainer_run(splits: Splits, epochs: int, device: torch.device) -> float:
    """Steps (generator updates) per second of Trainer.fit between Started and Finished."""
    g, d = generator(), discriminator()
    adam = OptimizerConfig("adam", 2e-4, {"betas": list(BETAS)})
    project = Project({g.name: g, d.name: d}, DatasetConfig("bench"),
                      RecipeConfig("gan", {"generator": g.name, "discriminator": d.name},
                                   {"quality": False}),
                      TrainingSettings(epochs=epochs, batch_size=BATCH,
                                       optimizers={"*": adam}))
    marks: dict[str, float] = {}

    def on_event(event):
        if isinstance(event, (Started, Finished)):
            _sync(device)
            marks[type(event).__name__] = time.perf_counter()

    trainer = Trainer(project, data=splits, callback=on_event, device=str(device.type),
                      watch=Watch(gradients=True, activations=True, samples=False))
    finished = trainer.fit()
    assert finished.reason == "completed", trainer.failure
    return finished.step / (marks["Finished"] - marks["Started"])


def bare_run(splits: Splits, epochs: int, device: torch.device) -> float:
    """The DCGAN loop of the PyTorch tutorial, on the same compiled networks and data."""
    torch.manual_seed(0)
    gen = compile_network(generator()).module.to(device).train()
    disc = compile_network(discriminator()).module.to(device).train()
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=BETAS, foreach=True)
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=BETAS, foreach=True)
    x = splits.train["x"]
    n = x.shape[0]
    steps = 0
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for i in range(0, n, BATCH):
            real = x[order[i:i + BATCH]]
            z = torch.randn(real.shape[0], Z, device=device)
            fake = gen(z)
            d_real, d_fake = disc(real).flatten(), disc(fake.detach()).flatten()
            loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                      + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            d_gen = disc(fake).flatten()
            loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            steps += 1
    _sync(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="fewer samples and rounds")
    args = parser.parse_args()
    device = select_device(args.device)
    rounds = 3 if args.quick else 5
    n = 1024 if args.quick else 4096
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {BATCH}")
    splits = data(n, device)
    trainer_run(splits, 1, device)  # warm-up: allocator, kernels, lazy imports
    bare_run(splits, 1, device)
    ours, bare = [], []
    for _ in range(rounds):
        ours.append(trainer_run(splits, 1, device))
        bare.append(bare_run(splits, 1, device))
    best = max(ours) / max(bare)
    paired = statistics.median(o / b for o, b in zip(ours, bare))
    print(f"{'DCGAN 28x28 (G+D steps)':<34} trainer {max(ours):8.1f} steps/s   bare loop "
          f"{max(bare):8.1f} steps/s   ratio {best:.3f} (best of {rounds}; median of pairs "
          f"{paired:.3f})  target >= 0.95")


if __name__ == "__main__":
    main()
