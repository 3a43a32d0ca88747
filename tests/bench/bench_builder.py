"""Builder benchmarks: validation + shape propagation, incremental re-propagation, compile,
and the compiled module's speed against the same network written by hand.

Run:  .venv/bin/python tests/bench/bench_builder.py
Each figure is printed with its target and a ratio against a hand-written baseline measured
in the same run (never asserted: shared machines are noisy).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from builder.compiler import compile_network  # noqa: E402
from builder.document import Network  # noqa: E402
from builder.propagate import check, clear_memo, meta_shapes  # noqa: E402

WIDTH = 64


def residual_mlp(n_nodes: int = 1000) -> Network:
    """Input → [Linear → ReLU → Linear → Add(skip)] × k → Output: ~n_nodes nodes."""
    net = Network("big")
    net.add("Input", id="x", shape=[WIDTH])
    prev = "x"
    k = 0
    while len(net.nodes) < n_nodes - 1:
        a = net.add("Linear", id=f"fc{k}a", units=WIDTH)
        r = net.add("ReLU", id=f"act{k}")
        b = net.add("Linear", id=f"fc{k}b", units=WIDTH)
        s = net.add("Add", id=f"add{k}")
        net.connect(prev, a)
        net.chain(a, r, b)
        net.connect(b, s)
        net.connect(prev, s)
        prev, k = s, k + 1
    net.add("Output", id="y")
    net.connect(prev, "y")
    return net


class Hand(nn.Module):
    def __init__(self, blocks: int):
        super().__init__()
        self.a = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(blocks))
        self.b = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(blocks))
        self.act = nn.ReLU()

    def forward(self, x):
        for a, b in zip(self.a, self.b):
            x = b(self.act(a(x))) + x
        return x


def best(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def meta_truth(net: Network) -> None:
    """The ground truth a fast rule replaces: every node's module run on meta tensors."""
    from builder import blocks

    shapes = {"x": (WIDTH,)}
    for node_id, node in net.nodes.items():
        if node.block in {"Input", "Output"}:
            continue
        spec = blocks.get(node.block)
        ins = [(WIDTH,)] * (2 if node.block == "Add" else 1)
        shapes[node_id] = meta_shapes(spec, spec.coerce_params(node.params)[0], ins)


def main() -> None:
    torch.manual_seed(0)
    net = residual_mlp(1000)
    n = len(net.nodes)
    print(f"network: {n} nodes, {len(net.edges)} edges")

    def cold():
        clear_memo()
        check(net)

    t_full = best(cold, 5)
    t_meta = best(lambda: meta_truth(net), 1)
    print(f"validate + propagate, cold : {t_full * 1e3:7.1f} ms  (target < 100 ms; "
          f"meta-tensor truth {t_meta * 1e3:.0f} ms, ratio {t_full / t_meta:.3f})")

    check(net)
    units = iter(range(10_000))

    def edit():
        net.nodes["fc125a"].params["units"] = WIDTH + next(units) % 2  # breaks, then heals
        check(net)

    t_edit = best(edit, 9)
    print(f"re-propagate after an edit : {t_edit * 1e3:7.1f} ms  (target < 20 ms; "
          f"ratio to cold {t_edit / t_full:.3f})")
    net.nodes["fc125a"].params["units"] = WIDTH

    blocks_k = sum(1 for i in net.nodes if i.startswith("add"))
    t_compile = best(lambda: compile_network(net), 3)
    t_hand_build = best(lambda: Hand(blocks_k), 3)
    print(f"compile                    : {t_compile * 1e3:7.1f} ms  (target < 1000 ms; "
          f"building the hand-written module {t_hand_build * 1e3:.0f} ms, ratio "
          f"{t_compile / t_hand_build:.2f})")

    compiled = compile_network(net).module
    hand = Hand(blocks_k)
    state = {}
    for i in range(blocks_k):
        state[f"a.{i}.weight"] = compiled.get_submodule(f"fc{i}a").weight
        state[f"a.{i}.bias"] = compiled.get_submodule(f"fc{i}a").bias
        state[f"b.{i}.weight"] = compiled.get_submodule(f"fc{i}b").weight
        state[f"b.{i}.bias"] = compiled.get_submodule(f"fc{i}b").bias
    hand.load_state_dict(state)
    x = torch.randn(256, WIDTH)
    assert torch.allclose(compiled(x), hand(x), atol=1e-4)

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            model(x).sum().backward()
        return run

    ratios = []
    for _ in range(5):  # interleave to share the machine's noise fairly
        t_c = best(step(compiled), 5)
        t_h = best(step(hand), 5)
        ratios.append(t_c / t_h)
    print(f"forward+backward           : compiled / hand-written = "
          f"{statistics.median(ratios):.3f}  (target ≤ 1.02; {blocks_k} residual blocks, "
          f"batch 256)")


if __name__ == "__main__":
    main()
