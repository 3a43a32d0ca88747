"""TreeCell: a hand computation node by node, batching by level, gradients, the depth limit,
the shape rule and FLOPs against torch, and ONNX parity on real trees."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from builder import blocks
from builder.compiler import compile_network
from builder.document import Network
from builder.propagate import meta_shapes
from builder.shapes import ShapeError
from runtime.data.trees import random_trees
from runtime.export import export_onnx

# (2+(3-1)) in post-order: 0 '2', 1 '3', 2 '1', 3 '-'(1, 2), 4 '+'(0, 3); 5, 6 padding.
LEFT = [-1, -1, -1, 1, 0, -1, -1]
RIGHT = [-1, -1, -1, 2, 3, -1, -1]
X = [[0.5, -1.0], [1.0, 0.0], [0.0, 1.0], [0.2, 0.3], [-0.4, 0.1], [0.0, 0.0], [0.0, 0.0]]
W_X = [[0.3, -0.2], [0.1, 0.4]]  # [H=2, D=2]
B = [0.05, -0.1]
W_LR = [[0.5, -0.3, 0.2, 0.1], [-0.4, 0.6, 0.3, -0.2]]  # [H, 2H]: W_l | W_r


def cell(hidden=2, features=2, activation="tanh", max_depth=3):
    spec = blocks.get("TreeCell")
    p, errors = spec.coerce_params({"hidden": hidden, "activation": activation,
                                    "max_depth": max_depth})
    assert not errors
    return spec.build(p, [(7, features), (7,), (7,), ()])()


def hand_weights(m):
    with torch.no_grad():
        m.w_x.weight.copy_(torch.tensor(W_X))
        m.w_x.bias.copy_(torch.tensor(B))
        m.w_children.weight.copy_(torch.tensor(W_LR))
    return m


def by_hand(act):
    """Each node from its children with plain floats, in post-order."""
    def lin(w, v):
        return [sum(wi * vi for wi, vi in zip(row, v)) for row in w]

    h = []
    for i, x in enumerate(X):
        z = [a + b for a, b in zip(lin(W_X, x), B)]
        if LEFT[i] >= 0:
            z = [a + c for a, c in zip(z, lin(W_LR, h[LEFT[i]] + h[RIGHT[i]]))]
        h.append([act(v) for v in z])
    return h


@pytest.mark.parametrize("activation,act", [("tanh", math.tanh),
                                            ("relu", lambda v: max(0.0, v))])
def test_output_equals_a_hand_computation(activation, act):
    m = hand_weights(cell(activation=activation))
    x = torch.tensor([X])
    h, top = m(x, torch.tensor([LEFT]), torch.tensor([RIGHT]), torch.tensor([4]))
    want = torch.tensor(by_hand(act))
    torch.testing.assert_close(h[0], want, atol=1e-6, rtol=0)
    torch.testing.assert_close(top[0], want[4], atol=1e-6, rtol=0)


def test_each_tree_of_a_batch_is_its_own_and_the_root_can_be_found():
    m = hand_weights(cell())
    # the second sample: (1-3) at positions 0..2, root 2, the rest padding
    left2, right2 = [-1, -1, 0, -1, -1, -1, -1], [-1, -1, 1, -1, -1, -1, -1]
    x = torch.tensor([X, X])
    left, right = torch.tensor([LEFT, left2]), torch.tensor([RIGHT, right2])
    h, top = m(x, left, right, torch.tensor([4, 2]))
    alone, _ = m(x[:1], left[:1], right[:1], torch.tensor([4]))
    torch.testing.assert_close(h[0], alone[0])
    expected = torch.tanh(torch.tensor(W_LR) @ torch.cat([h[1, 0], h[1, 1]])
                          + torch.tensor(W_X) @ x[1, 2] + torch.tensor(B))
    torch.testing.assert_close(top[1], expected)
    _, found = m(x, left, right)  # root unconnected: the first node of greatest height
    torch.testing.assert_close(found, top)


def test_gradients_reach_every_weight_and_training_fits_values():
    tokens, left, right, root, values, _ = random_trees(64, 3, "+-", seed=1)
    torch.manual_seed(0)
    embed, m, head = torch.nn.Embedding(14, 8), cell(hidden=16, features=8), \
        torch.nn.Linear(16, 1)
    params = [*embed.parameters(), *m.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=0.01)
    y = torch.tensor(values, dtype=torch.float32)[:, None]
    args = torch.tensor(left), torch.tensor(right), torch.tensor(root)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(head(m(embed(torch.tensor(tokens)), *args)[1]), y)
        loss.backward()
        if not losses:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]


def test_too_deep_trees_are_refused_in_training_and_kept_as_leaves_in_evaluation():
    m = hand_weights(cell(max_depth=1))
    x, left, right = torch.tensor([X]), torch.tensor([LEFT]), torch.tensor([RIGHT])
    with pytest.raises(ValueError, match="deeper than max_depth = 1"):
        m(x, left, right, torch.tensor([4]))
    m.eval()
    h, top = m(x, left, right, torch.tensor([4]))
    want = by_hand(math.tanh)
    torch.testing.assert_close(h[0, 3], torch.tensor(want[3]))  # level 1: computed
    leaf = torch.tanh(torch.tensor(W_X) @ x[0, 4] + torch.tensor(B))
    torch.testing.assert_close(top[0], leaf)  # level 2 > max_depth: its leaf vector


def test_shape_rule_flops_and_explain_agree_with_torch():
    spec = blocks.get("TreeCell")
    assert spec.category == "Recurrent" and spec.label == "Tree cell (recursive)"
    p = spec.defaults()
    ins = [(15, 16), (15,), (15,), ()]
    outs = spec.shape(p, ins)
    assert outs == [(15, 64), (64,)] == meta_shapes(spec, p, ins)
    assert spec.shape(p, [(15, 16), (15,), (15,), None]) == outs  # root unconnected
    for bad, words in [([(15, 16), (14,), (15,), ()], "left must hold one child position"),
                       ([(15, 16), (15,), (15, 2), ()], "right must hold"),
                       ([(15,), (15,), (15,), ()], "node features x"),
                       ([(15, 16), (15,), (15,), (3,)], "root must be one position")]:
        with pytest.raises(ShapeError, match=words):
            spec.shape(p, bad)
    m = spec.build(p, ins)().eval()
    tokens, left, right, root, _, _ = (torch.tensor(a) for a in random_trees(1, 3, "+-", 0))
    with FlopCounterMode(display=False) as counter:
        m(torch.randn(1, 15, 16), left, right, root)
    assert spec.flops(p, ins, outs) == counter.get_total_flops()
    text = spec.explain(p, ins, outs)
    count = sum(t.numel() for t in m.parameters())
    assert "tanh(W_l·h_left + W_r·h_right + W_x·x + b)" in text and f"{count:,}" in text
    assert count == 16 * 64 + 64 + 2 * 64 * 64


def _tree_network(max_depth: int = 3) -> Network:
    net = Network("main")
    net.add("Input", id="tokens", shape=[15], kind="tokens", field="tokens")
    net.add("Embedding", id="embed", vocab=14, dim=8)
    net.add("TreeCell", id="tree", hidden=16, max_depth=max_depth)
    net.add("Input", id="left", shape=[15], kind="tokens", field="left")
    net.add("Input", id="right", shape=[15], kind="tokens", field="right")
    net.add("LabelInput", id="root", num_classes=15, field="root")
    net.add("Linear", id="value", units=1)
    net.add("Output", id="y")
    net.connect("tokens", "embed")
    net.connect("embed", "tree", dst_port="x")
    for port in ("left", "right", "root"):
        net.connect(port, "tree", dst_port=port)
    net.connect("tree", "value", src_port="top")
    net.connect("value", "y")
    return net


def test_onnx_export_matches_torch_on_real_trees(tmp_path):
    compiled = compile_network(_tree_network())
    path = export_onnx(compiled, tmp_path / "tree.onnx")
    arrays = random_trees(5, 3, "+-", seed=7)[:4]  # another batch size than exported with
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip(["tokens", "left", "right", "root"], arrays)))[0]
    with torch.no_grad():
        want = compiled.module.eval()(*(torch.tensor(a) for a in arrays)).numpy()
    assert got.shape == (5, 1)
    np.testing.assert_allclose(got, want, atol=1e-5)
