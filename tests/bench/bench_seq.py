"""Sequence benchmarks: a character-level LSTM and a small causal transformer trained by the
Trainer (classification recipe, one symbol per step) against a hand-written PyTorch loop on
the same compiled module, token data and batch.

Run:  .venv/bin/python tests/bench/bench_seq.py [--device cpu|cuda|mps] [--quick]
The Trainer runs with its gradient and activation statistics on, pictures off (their cost
is per picture, not per step).  Ratios alternate A/B/A/B as in bench_train; never asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_train import BATCH, compare  # noqa: E402

from builder.document import (  # noqa: E402
    Network,
)
from runtime.data import DataInfo, FieldInfo, Splits, TensorData  # noqa: E402
from runtime.devices import select_device  # noqa: E402
from runtime.trainer import Watch  # noqa: E402

PICTURES_OFF = Watch(gradients=True, activations=True, samples=False)
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


def token_loss(logits, y):
    """Next-character cross-entropy over every position, as a user would write it."""
    return F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))


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
    splits = data(n, device)
    for name, net_fn in (("char LSTM (2 layers)", lstm_net),
                         ("causal transformer (2 layers)", transformer_net)):
        compare(name, net_fn, splits, 1, device, rounds, PICTURES_OFF, token_loss)


if __name__ == "__main__":
    main()
