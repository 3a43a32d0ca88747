"""Sequence benchmarks: a character-level LSTM and a small causal transformer trained by the
Trainer (classification recipe, one symbol per step) against a hand-written PyTorch loop on
the same compiled module, token data and batch.

Run:  .venv/bin/python tests/bench/bench_seq.py [--device cpu|cuda|mps] [--quick]
The Trainer runs with its gradient and activation statistics on, pictures off (their cost
is per picture, not per step).  Ratios alternate A/B/A/B as in bench_train; never asserted.
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
T = 64  # characters per window
VOCAB = 64
D = 128


def lstm_net() -> Network:
    net = Network("main")
    net.chain(
        net.add("Input", id="x", shape=[T], kind="tokens"),
        net.add("Embedding", id="embed", vocab=VOCAB, dim=D),
        net.add("LSTM", id="lstm", hidden=D, num_layers=2),
        net.add("TimeDistributedLinear", id="logits", units=VOCAB),
        net.add("Output", id="y"))
    return net


def transformer_net() -> Network:
    net = Network("main")
    net.chain(
        net.add("Input", id="x", shape=[T], kind="tokens"),
        net.add("Embedding", id="embed", vocab=VOCAB, dim=D),
        net.add("PositionalEncoding", id="position"),
        net.add("TransformerEncoderLayer", id="layer1", causal=True, dropout=0.0,
                feedforward=4 * D),
        net.add("TransformerEncoderLayer", id="layer2", causal=True, dropout=0.0,
                feedforward=4 * D),
        net.add("TimeDistributedLinear", id="logits", units=VOCAB),
        net.add("Output", id="y"))
    return net


def data(n: int, device: torch.device) -> Splits:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (n, T + 1), generator=g)
    info = DataInfo("bench", "language",
                    {"x": FieldInfo((T,), "tokens", "int64"),
                     "y": FieldInfo((T,), "tokens", "int64")},
                    vocab=tuple(chr(32 + i) for i in range(VOCAB)))
    train = TensorData({"x": ids[:, :-1].contiguous(), "y": ids[:, 1:].contiguous()})
    empty = TensorData({"x": train["x"][:0], "y": train["y"][:0]})  # pure training throughput
    return Splits(train, empty, info).to(device)


def trainer_run(net: Network, splits: Splits, epochs: int, device: torch.device) -> float:
    project = Project({"main": net}, DatasetConfig("bench"), RecipeConfig("classification"),
                      TrainingSettings(epochs=epochs, batch_size=BATCH,
                                       optimizers={"*": OptimizerConfig("adam", 1e-3)}))
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


def bare_run(net: Network, splits: Splits, epochs: int, device: torch.device) -> float:
    """The next-character loop a user would write by hand."""
    torch.manual_seed(0)
    model = compile_network(net).module.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    x, y = splits.train["x"], splits.train["y"]
    n, steps = x.shape[0], 0
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            logits = model(x[idx])
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), y[idx].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    _sync(device)
    return steps / (time.perf_counter() - start)


def compare(name: str, net_fn, n: int, device, rounds: int) -> float:
    splits = data(n, device)
    trainer_run(net_fn(), splits, 1, device)  # warm-up
    bare_run(net_fn(), splits, 1, device)
    ours, bare = [], []
    for _ in range(rounds):
        ours.append(trainer_run(net_fn(), splits, 1, device))
        bare.append(bare_run(net_fn(), splits, 1, device))
    best = max(ours) / max(bare)
    paired = statistics.median(o / b for o, b in zip(ours, bare))
    print(f"{name:<34} trainer {max(ours):8.1f} steps/s   bare loop {max(bare):8.1f} steps/s"
          f"   ratio {best:.3f} (best of {rounds}; median of pairs {paired:.3f})"
          f"  target >= 0.95")
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="fewer samples and rounds")
    args = parser.parse_args()
    device = select_device(args.device)
    rounds = 3 if args.quick else 5
    n = BATCH * (30 if args.quick else 80)  # enough steps that start-up costs fade
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {BATCH}, {T} steps, vocabulary {VOCAB}, width {D}")
    compare("char LSTM (2 layers)", lstm_net, n, device, rounds)
    compare("causal transformer (2 layers)", transformer_net, n, device, rounds)


if __name__ == "__main__":
    main()
