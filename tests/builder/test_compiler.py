"""The compiled fx module computes exactly what the same network written by hand computes."""

import pytest
import torch
from torch import nn

from builder.compiler import CompileError, aux_losses, compile_network
from builder.document import Network, Node
from tests.conftest import mlp_network


class HandMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 16)
        self.relu = nn.ReLU()
        self.logits = nn.Linear(16, 3)

    def forward(self, x):
        return self.logits(self.relu(self.hidden(x)))


def test_mlp_matches_hand_written_exactly():
    compiled = compile_network(mlp_network())
    hand = HandMLP()
    assert set(compiled.module.state_dict()) == set(hand.state_dict())
    hand.load_state_dict(compiled.module.state_dict())
    x = torch.randn(32, 2)
    assert torch.equal(compiled.module(x), hand(x))
    assert [i.name for i in compiled.inputs] == ["x"] and compiled.outputs == ["y"]
    assert "self.hidden(x)" in compiled.code


def _branchy() -> Network:
    net = Network("main")
    net.add("Input", id="x", shape=[8])
    net.add("Linear", id="a", units=6)
    net.add("Linear", id="b", units=6)
    net.add("Add", id="sum")
    net.add("Split", id="halves", parts=2)
    net.add("Concat", id="cat")
    net.add("Output", id="first")
    net.add("Output", id="joined")
    net.connect("x", "a")
    net.connect("x", "b")
    net.connect("a", "sum")
    net.connect("b", "sum")
    net.connect("sum", "halves")
    net.connect("halves", "first", "y1")
    net.connect("halves", "cat", "y2")
    net.connect("a", "cat")
    net.connect("cat", "joined")
    return net


def test_multi_output_and_branches_match_hand_written():
    compiled = compile_network(_branchy())
    gm = compiled.module
    x = torch.randn(4, 8)
    first, joined = gm(x)
    a, b = gm.a(x), gm.b(x)
    s = a + b
    h1, h2 = torch.chunk(s, 2, dim=1)
    assert torch.equal(first, h1)
    assert torch.equal(joined, torch.cat([h2, a], dim=1))
    assert compiled.outputs == ["first", "joined"]
    nodes = {n.meta.get("layerloom_node") for n in gm.graph.nodes if n.op != "output"}
    assert {"a", "b", "sum", "halves", "cat"} <= nodes


def test_frozen_and_initialised_nodes():
    net = mlp_network()
    net.nodes["hidden"].trainable = False
    net.nodes["logits"].init = "orthogonal"
    gm = compile_network(net).module
    assert not any(p.requires_grad for p in gm.hidden.parameters())
    w = gm.logits.weight  # 3×16 with orthonormal rows
    assert torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)
    assert torch.count_nonzero(gm.logits.bias) == 0


def test_errors_list_every_problem_with_its_node():
    net = mlp_network()
    net.nodes["hidden"].params["units"] = -3
    net.edges = [e for e in net.edges if e.dst != "y"]
    with pytest.raises(CompileError) as info:
        compile_network(net)
    text = str(info.value)
    assert "hidden: units must be" in text and "y: Output input 'x' is not connected" in text


def test_group_compiles_to_nested_module():
    outer = Network("main")
    outer.add("Input", id="x", shape=[2])
    outer.nodes["body"] = Node("body", "Group", subnet=mlp_network("body"))
    outer.add("Output", id="y")
    outer.connect("x", "body", "y", "x")
    outer.connect("body", "y", "y", "x")
    compiled = compile_network(outer)
    x = torch.randn(5, 2)
    inner = compiled.module.body
    assert torch.equal(compiled.module(x), inner.logits(inner.relu(inner.hidden(x))))
    assert "body.hidden.weight" in compiled.module.state_dict()


def test_aux_losses_are_collected():
    net = Network("main")
    net.add("Input", id="x", shape=[4])
    net.add("Linear", id="enc", units=8)
    net.add("Sigmoid", id="act")
    net.add("ActivitySparsity", id="sparse")
    net.add("Output", id="y")
    net.chain("x", "enc", "act", "sparse", "y")
    gm = compile_network(net).module
    gm(torch.randn(16, 4))
    losses = aux_losses(gm)
    assert set(losses) == {"sparse"} and losses["sparse"].item() > 0
