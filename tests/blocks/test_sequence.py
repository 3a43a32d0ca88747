"""Sequence blocks: padding masks, positional encodings, pooling over time, permutation —
shape rules against torch, the formulas, masks, errors, self-contained modules, training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from support import check_rule as _check
from support import spec_params as _params
from torch import nn

from builder import blocks
from builder.codegen import _Writer
from builder.shapes import ShapeError

TYPES = ["PaddingMask", "PositionalEncoding", "TimePool", "Permute"]
POOL_MODES = ["mean", "max", "last", "attention"]


def _module(block, ins, **over):
    spec, p = _params(block, **over)
    return spec.build(p, ins)().eval()


@pytest.mark.parametrize("block", TYPES)
def test_defaults_run_and_match_rule(block):
    spec = blocks.get(block)
    assert spec.category == "Sequence" and len(spec.concept) > 100
    assert len(spec.example_inputs) == len(spec.input_ports(spec.defaults()))
    assert spec.has_weights == (block in ("PositionalEncoding", "TimePool"))
    _check(block)


def test_sequence_category_follows_recurrent():
    assert blocks.CATEGORIES.index("Sequence") == blocks.CATEGORIES.index("Recurrent") + 1
    assert [s.type for s in blocks.by_category()["Sequence"]] == TYPES
    assert blocks.get("TimePool").label == "Pool over time"
    assert blocks.get("Permute").label == "Permute / transpose"


def test_padding_mask_marks_the_pad_id():
    spec, p = _params("PaddingMask", pad_id=3)
    assert spec.shape(p, [("T",)]) == [("T",)]
    mask = spec.build(p, [(4,)])()(torch.tensor([[5, 3, 3, 1], [3, 0, 2, 3]]))
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[False, True, True, False], [True, False, False, True]]
    with pytest.raises(ShapeError, match=r"token ids \[T\]"):
        spec.shape(p, [(4, 8)])


@pytest.mark.parametrize("d", [8, 7])
def test_sinusoidal_encoding_follows_the_formula(d):
    m = _module("PositionalEncoding", [(60, d)], max_len=64)
    x = torch.zeros(2, 60, d)
    pe = m(x)[0]
    for t in (0, 1, 7, 59):
        for j in range(d):
            i = j // 2
            angle = t / 10000 ** (2 * i / d)
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(float(pe[t, j]) - want) < 1e-5, (t, j)
    assert not list(m.parameters()) and not m.state_dict()  # nothing to train or to save
    y = m(torch.ones(3, 5, d))  # any length up to max_len
    torch.testing.assert_close(y, 1 + pe[:5].expand(3, 5, d))


def test_learned_encoding_is_an_embedding_per_position():
    m = _module("PositionalEncoding", [("T", 6)], mode="learned", max_len=10)
    assert isinstance(m.position, nn.Embedding) and m.position.weight.shape == (10, 6)
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(m(x), x + m.position.weight[:4])
    spec, p = _params("PositionalEncoding", mode="learned", max_len=10)
    text = spec.explain(p, [("T", 6)], [("T", 6)])
    assert "params = 10·6 = 60" in text
    assert sum(t.numel() for t in m.parameters()) == 60
    _check("PositionalEncoding", [(10, 6)], mode="learned", max_len=10, dropout=0.5)


def test_positional_encoding_length_limits():
    spec, p = _params("PositionalEncoding", max_len=16)
    assert spec.shape(p, [("T", 8)]) == [("T", 8)]
    assert spec.shape(p, [(16, 8)]) == [(16, 8)]
    with pytest.raises(ShapeError, match="has 17 steps but max_len is 16"):
        spec.shape(p, [(17, 8)])
    with pytest.raises(ShapeError, match=r"sequence \[T, features\]"):
        spec.shape(p, [(3, 8, 8)])
    m = spec.build(p, [("T", 8)])()
    with pytest.raises(ValueError, match="20 steps but max_len is 16"):
        m(torch.zeros(1, 20, 8))
    assert "sin(t / 10000^(2i/8))" in spec.explain(p, [("T", 8)], [("T", 8)])


def _padded_batch(lengths, t=9, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), t, d, generator=g)
    mask = torch.arange(t).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)
    return x, mask


@pytest.mark.parametrize("mode", POOL_MODES)
def test_masked_time_pool_equals_pooling_the_unpadded_prefix(mode):
    torch.manual_seed(0)
    m = _module("TimePool", [("T", 5), ("T",)], mode=mode)
    x, mask = _padded_batch([9, 4, 1, 6])
    y = m(x, mask)
    for b, n in enumerate([9, 4, 1, 6]):
        torch.testing.assert_close(y[b], m(x[b:b + 1, :n])[0])
    assert torch.equal(m(x, mask.float()), y)  # nonzero = padding, any dtype
    torch.testing.assert_close(m(x, torch.zeros_like(mask)), m(x))


@pytest.mark.parametrize("mode", POOL_MODES)
def test_time_pool_without_mask_and_all_padding(mode):
    torch.manual_seed(0)
    m = _module("TimePool", [("T", 5), None], mode=mode).train()
    x = torch.randn(3, 6, 5, requires_grad=True)
    want = {"mean": x.mean(1), "max": x.amax(1), "last": x[:, -1]}.get(mode)
    if want is None:
        w = torch.softmax(m.query(x).squeeze(-1), 1)
        want = (w.unsqueeze(-1) * x).sum(1)
    torch.testing.assert_close(m(x), want)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[1] = True  # an all-padding sample: zeros, and no NaN anywhere
    y = m(x, mask)
    assert torch.equal(y[1], torch.zeros(5))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    params = [q.grad for q in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in params)


def test_time_pool_rules_and_errors():
    spec, p = _params("TimePool", mode="attention")
    assert spec.shape(p, [("T", 16), ("T",)]) == [(16,)]
    assert spec.flops(p, [(12, 16), None], [(16,)]) == 4 * 12 * 16
    assert "softmax" in spec.explain(p, [(12, 16), None], [(16,)])
    _check("TimePool", [(7, 4), (7,)], mode="last")
    with pytest.raises(ShapeError, match="use GlobalAvgPool"):
        spec.shape(p, [(16, 7, 7), None])
    with pytest.raises(ShapeError, match="one flag per step, 12"):
        spec.shape(p, [(12, 16), (10,)])
    assert "LAST axis" in spec.concept and "GlobalAvgPool" in spec.concept
    for block in ("GlobalAvgPool", "GlobalMaxPool"):
        assert "TimePool" in blocks.get(block).concept


@pytest.mark.parametrize("ins,dims,out", [
    ([(6, 4)], "1 0", (4, 6)),
    ([("T", 16)], "1 0", (16, "T")),
    ([(2, 3, 4)], "2 0 1", (4, 2, 3)),
    ([(2, 3, 4)], "0, 2, 1", (2, 4, 3)),
    ([(5,)], "0", (5,)),
])
def test_permute_shapes(ins, dims, out):
    spec, p = _params("Permute", dims=dims)
    assert spec.shape(p, ins) == [out]
    x = torch.randn(2, *(5 if d == "T" else d for d in ins[0]))
    y = spec.build(p, ins)()(x)
    want = tuple(5 if d == "T" else d for d in out)
    assert tuple(y.shape) == (2, *want)
    assert "→" in spec.explain(p, ins, [out])


@pytest.mark.parametrize("ins,dims,words", [
    ([(6, 4)], "1 1", "exactly once"),
    ([(6, 4)], "0", "exactly once"),
    ([(6, 4)], "0 1 2", "reordering of '0 1'"),
    ([(6, 4)], "1 -0 x", "axis numbers separated by spaces"),
    ([(6, 4)], "", "exactly once"),
])
def test_permute_errors_say_what_is_wrong(ins, dims, words):
    spec, p = _params("Permute", dims=dims)
    with pytest.raises(ShapeError, match=words):
        spec.shape(p, ins)


@pytest.mark.parametrize("block,ins,over", [
    ("PaddingMask", [(6,)], {"pad_id": 2}),
    ("PositionalEncoding", [(6, 5)], {"max_len": 8}),
    ("PositionalEncoding", [(6, 5)], {"mode": "learned", "max_len": 8}),
    ("TimePool", [(6, 5), (6,)], {"mode": "attention"}),
    ("TimePool", [(6, 5), (6,)], {"mode": "last"}),
    ("Permute", [(6, 5)], {"dims": "1 0"}),
])
def test_modules_are_self_contained(block, ins, over):
    """Generated code copies a module's source with only torch, nn, F and math around."""
    spec, p = _params(block, **over)
    made = spec.build(p, ins)
    writer = _Writer()
    writer.ctor(made)
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    for source in writer.helpers.values():
        exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102
    copy = namespace[made.cls.__name__](*made.args, **dict(made.kwargs)).eval()
    original = made().eval()
    copy.load_state_dict(original.state_dict())
    if block == "PaddingMask":
        xs = [torch.randint(0, 4, (2, 6))]
    else:
        xs = [torch.randn(2, *ins[0])] + [torch.rand(2, 6) > 0.5 for _ in ins[1:]]
    torch.testing.assert_close(original(*xs), copy(*xs))


def test_a_masked_sequence_classifier_trains():
    """Embedding → learned positions → attention pooling over the unpadded steps → Linear:
    a few real Adam steps on variable-length sequences whose class is the presence of id 1."""
    from builder.compiler import compile_network
    from builder.document import Network
    net = Network("main")
    net.add("Input", id="ids", shape=["T"], kind="tokens")
    net.add("PaddingMask", id="pad")
    net.add("Embedding", id="embed", vocab=6, dim=8)
    net.add("PositionalEncoding", id="position", mode="learned", max_len=16)
    net.add("TimePool", id="pool", mode="attention")
    net.add("Linear", id="logits", units=2)
    net.add("Output", id="y")
    net.chain("ids", "embed", "position", "pool", "logits", "y")
    net.connect("ids", "pad")
    net.connect("pad", "pool", dst_port="mask")
    model = compile_network(net).module
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 6, (64, 10), generator=g)
    label = torch.randint(0, 2, (64,), generator=g)
    ids[label == 1, torch.randint(0, 5, (int(label.sum()),), generator=g)] = 1
    lengths = torch.randint(5, 11, (64,), generator=g)
    ids[torch.arange(10) >= lengths.unsqueeze(1)] = 0
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(ids), label)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
