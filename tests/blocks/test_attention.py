"""Attention blocks: shape rules against torch, FLOPs, errors, torch equivalence, and the fused
path of multi-head attention against the one that draws its weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from support import as_tuple as _as_tuple
from support import check_rule as _check
from support import spec_params as _params
from support import tensors as _tensors
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from builder import blocks
from builder.codegen import _Writer
from builder.shapes import ShapeError

TYPES = ["Attention", "MultiHeadAttention", "CrossAttention", "TransformerEncoderLayer",
         "TransformerDecoderLayer"]


@pytest.mark.parametrize("block", TYPES)
def test_defaults_run_and_match_rule(block):
    spec = blocks.get(block)
    assert spec.category == "Attention"
    assert spec.concept
    assert len(spec.example_inputs) == len(spec.input_ports(spec.defaults()))
    _check(block)


def test_attention_has_its_own_palette_category():
    cats = blocks.by_category()
    assert [s.type for s in cats["Attention"]] == TYPES
    assert not {"Attention", "MultiHeadAttention"} & {s.type for s in cats["Recurrent"]}
    assert blocks.CATEGORIES.index("Attention") == blocks.CATEGORIES.index("Sequence") + 1


def test_symbolic_length_passes_through():
    spec, p = _params("Attention")
    assert spec.shape(p, [("T", 8), ("S", 8), None]) == [("T", 8), ("T", "S")]
    spec, p = _params("MultiHeadAttention", heads=2)
    assert spec.shape(p, [("T", 8), None, None]) == [("T", 8), ("T", "T")]


@pytest.mark.parametrize("score", ["scaled_dot", "dot", "additive"])
def test_attention_variants(score):
    _check("Attention", [(6, 8), (9, 8), None], score=score, units=5)
    _check("Attention", [(6, 8), (9, 8), (9, 3)], score=score, units=5)
    if score == "additive":
        _check("Attention", [(6, 8), (9, 4), (9, 3)], score=score, units=5)


def test_attention_matches_sdpa_and_weights_sum_to_one():
    spec, p = _params("Attention")
    q, k, v = torch.randn(2, 6, 8), torch.randn(2, 9, 8), torch.randn(2, 9, 3)
    m = spec.build(p, [(6, 8), (9, 8), (9, 3)])()
    context, weights = m(q, k, v)
    torch.testing.assert_close(context, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6))
    spec, p = _params("Attention", score="dot")
    context, _ = spec.build(p, [(6, 8), (9, 8), None])()(q, k, None)
    torch.testing.assert_close(context, torch.softmax(q @ k.transpose(1, 2), -1) @ k)


def test_additive_attention_formula():
    spec, p = _params("Attention", score="additive", units=5)
    m = spec.build(p, [(2, 4), (3, 6), None])()
    q, k = torch.randn(1, 2, 4), torch.randn(1, 3, 6)
    _, weights = m(q, k, None)
    with torch.no_grad():
        scores = torch.tensor([[[float(m.v(torch.tanh(m.w_query(q[0, i]) + m.w_keys(k[0, j]))))
                                 for j in range(3)] for i in range(2)]])
    torch.testing.assert_close(weights, torch.softmax(scores, -1))


@pytest.mark.parametrize("ins", [[(10, 16), None, None], [(10, 16), (7, 16), None],
                                 [(10, 16), (7, 12), None], [(10, 16), (7, 12), (7, 5)],
                                 [(10, 16), None, (10, 3)]])
def test_mha_variants(ins):
    _check("MultiHeadAttention", ins, heads=4)


def test_mha_matches_torch():
    torch.manual_seed(0)
    spec, p = _params("MultiHeadAttention", heads=4)
    ours = spec.build(p, [(5, 16), (7, 16), None])()
    ref = nn.MultiheadAttention(16, 4, batch_first=True)
    ref.load_state_dict(ours.state_dict())
    q, k = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    for a, b in zip(ours(q, k, None), ref(q, k, k), strict=True):
        torch.testing.assert_close(a, b)
    # self-attention when key and value are unconnected
    for a, b in zip(ours(q), ref(q, q, q), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("ins", [[(10, 16), None, None], [(10, 16), (7, 12), (7, 5)]])
@pytest.mark.parametrize("train", [True, False])
def test_mha_fused_path_gives_the_numbers_of_the_drawn_one(ins, train):
    """Without its weights wanted, y comes from the fused kernel: the same numbers (and
    gradients) as the path that builds the attention map."""
    torch.manual_seed(0)
    spec, p = _params("MultiHeadAttention", heads=4)
    drawn = spec.build(p, ins)().train(train)
    fused = spec.build(p, ins)().train(train)
    fused.load_state_dict(drawn.state_dict())
    fused.need_weights = False
    xs = [None if t is None else t.requires_grad_() for t in _tensors(ins, 3)]
    y, weights = drawn(*xs)
    y_fused, none = fused(*xs)
    assert none is None and weights.shape == (3, 10, ins[1][0] if ins[1] else 10)
    torch.testing.assert_close(y_fused, y)
    if train:
        g = torch.autograd.grad(y.square().sum(), drawn.in_proj_weight if ins[1] is None
                                else drawn.q_proj_weight)
        g_fused = torch.autograd.grad(y_fused.square().sum(), fused.in_proj_weight
                                      if ins[1] is None else fused.q_proj_weight)
        torch.testing.assert_close(g_fused, g)


def test_mha_fused_path_keeps_shape_rule_and_flops():
    """On the meta device (what analysis counts) the fused path costs what the rule says."""
    spec, p = _params("MultiHeadAttention", heads=4)
    ins = [(10, 32), (6, 32), None]
    m = spec.build(p, ins)().to("meta")
    m.need_weights = False
    y, _ = m(*_tensors(ins, 2, "meta"))
    assert tuple(y.shape[1:]) == spec.shape(p, ins)[0]
    with FlopCounterMode(display=False) as counter:
        m(*_tensors(ins, 1, "meta"))
    assert spec.flops(p, ins, spec.shape(p, ins)) == counter.get_total_flops()


def test_mha_eval_fast_path_gives_the_same_numbers():
    spec, p = _params("MultiHeadAttention", heads=4)
    m = spec.build(p, [(10, 32), None, None])()
    x = torch.randn(2, 10, 32)
    train = m(x)
    m.eval()
    with torch.no_grad():
        for a, b in zip(train, m(x), strict=True):
            torch.testing.assert_close(a.detach(), b)
        m.need_weights = False
        torch.testing.assert_close(train[0].detach(), m(x)[0])


@pytest.mark.parametrize("activation,norm_first", [("relu", False), ("gelu", True)])
def test_transformer_encoder_layer(activation, norm_first):
    _check("TransformerEncoderLayer", [(6, 12)], heads=3, feedforward=20,
           activation=activation, norm_first=norm_first)
    spec, p = _params("TransformerEncoderLayer", heads=3, feedforward=20)
    m = spec.build(p, [(6, 12)])()
    assert sum(t.numel() for t in m.parameters()) == int(
        spec.explain(p, [(6, 12)], [(6, 12)]).rsplit("= ", 1)[1].replace(",", ""))


def test_explain_param_counts_match_modules():
    cases = [("MultiHeadAttention", [(5, 8), (4, 6), None], dict(heads=2)),
             ("MultiHeadAttention", [(5, 8), None, None], dict(heads=2, bias=False)),
             ("Attention", [(5, 8), (4, 6), None], dict(score="additive", units=3))]
    for block, ins, over in cases:
        spec, p = _params(block, **over)
        m = spec.build(p, ins)()
        text = spec.explain(p, ins, spec.shape(p, ins))
        n = sum(t.numel() for t in m.parameters())
        assert f"{n:,}" in text, (block, text, n)


@pytest.mark.parametrize("block,ins,over,words", [
    ("Attention", [(5, 8), (6, 4), None], {}, "same size"),
    ("Attention", [(5, 8), (6, 8), (7, 8)], {}, "one value per key"),
    ("Attention", [(5,), (6, 8), None], {}, "query sequence"),
    ("MultiHeadAttention", [(5, 30), None, None], {"heads": 4}, "4 heads must divide"),
    ("MultiHeadAttention", [(5, 32), (6, 32), (7, 32)], {}, "one value per key"),
    ("TransformerEncoderLayer", [(5, 30)], {"heads": 4}, "embedding size 30"),
    ("TransformerEncoderLayer", [(30,)], {}, "sequence [T, embed]"),
])
def test_invalid_inputs_raise_clear_errors(block, ins, over, words):
    spec, p = _params(block, **over)
    with pytest.raises(ShapeError, match=words.replace("[", r"\[").replace("]", r"\]")):
        spec.shape(p, ins)


@pytest.mark.parametrize("block,ins,over,need_weights", [
    ("Attention", [(5, 4), (6, 3), (6, 2)], dict(score="additive", units=3), None),
    ("Attention", [(5, 4), (6, 4), None], {}, None),
    ("MultiHeadAttention", [(5, 4), (6, 3), None], dict(heads=2), True),
    ("MultiHeadAttention", [(5, 4), None, None], dict(heads=2), False),
    ("MultiHeadAttention", [(5, 4), (6, 3), None, (6,)], dict(heads=2, causal=True), True),
    ("TransformerEncoderLayer", [(5, 4), (5,)], dict(heads=2, causal=True), None),
    ("TransformerDecoderLayer", [(5, 4), (6, 4), None, (6,)], dict(heads=2), True),
    ("TransformerDecoderLayer", [(5, 4), (6, 4), (5,), None], dict(heads=2, norm_first=True),
     False),
])
def test_modules_are_self_contained(block, ins, over, need_weights):
    """Generated code copies a custom module's source with only torch, nn, F and math around."""
    spec, p = _params(block, **over)
    made = spec.build(p, ins)
    writer = _Writer()
    writer.ctor(made)  # collects the class and its custom bases, as code generation does
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    for source in writer.helpers.values():
        exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102
    copy = namespace[made.cls.__name__](*made.args, **dict(made.kwargs)).eval()
    original = made().eval()
    if need_weights is not None:
        copy.need_weights = original.need_weights = need_weights
    copy.load_state_dict(original.state_dict())
    xs = _tensors(ins, 2)
    for a, b in zip(_as_tuple(original(*xs)), _as_tuple(copy(*xs)), strict=True):
        if a is None:
            assert b is None
        else:
            torch.testing.assert_close(a, b)


def _attention_net(draw_weights: bool):
    from builder.document import Network
    net = Network("main")
    net.add("Input", id="x", shape=[6, 16], kind="sequence")
    net.add("MultiHeadAttention", id="attn", heads=4)
    net.add("Output", id="y")
    net.connect("x", "attn", dst_port="query")
    net.connect("attn", "y", src_port="y")
    if draw_weights:
        net.add("Output", id="map")
        net.connect("attn", "map", src_port="weights")
    return net


@pytest.mark.parametrize("draw", [False, True])
def test_attention_takes_the_fused_path_unless_its_weights_are_read(draw):
    from builder.codegen import generate
    from builder.compiler import compile_network
    from builder.document import Project
    net = _attention_net(draw)
    module = compile_network(net).module
    assert module.attn.need_weights is draw
    code = generate(Project({"main": net}))
    assert ("need_weights=False" in code) is not draw
    x = torch.randn(3, 6, 16)
    out = module(x)
    y = out[0] if draw else out
    assert y.shape == (3, 6, 16)


# --- causal and padding masks ----------------------------------------------------------------

MASKABLE = {  # block → (params, input shapes with the sequence x first)
    "Attention": (dict(score="additive", units=6), [(7, 8), (7, 8), None, None]),
    "MultiHeadAttention": (dict(heads=2), [(7, 8), None, None, None]),
    "TransformerEncoderLayer": (dict(heads=2, feedforward=16), [(7, 8), None]),
    "TransformerDecoderLayer": (dict(heads=2, feedforward=16), [(7, 8), (5, 8), None, None]),
}


def _masked_module(block, need_weights=True, **over):
    torch.manual_seed(0)
    params, ins = MASKABLE[block]
    spec, p = _params(block, **{**params, **over})
    m = spec.build(p, ins)().eval()
    if hasattr(m, "need_weights"):
        m.need_weights = need_weights
    return m


def _attend(block, m, x, pad=None, memory=None, memory_pad=None):
    """(y, weights or None) of ``block`` attending over its own input ``x`` [B, 7, 8]."""
    if block == "Attention":
        return m(x, x, None, pad)
    if block == "MultiHeadAttention":
        return m(x, None, None, pad)
    if block == "TransformerEncoderLayer":
        return m(x, pad), None
    return m(x, memory, pad, memory_pad)


@pytest.mark.parametrize("block,need_weights", [(b, True) for b in MASKABLE]
                         + [("MultiHeadAttention", False), ("TransformerDecoderLayer", False)])
def test_causal_output_never_depends_on_later_steps(block, need_weights):
    m = _masked_module(block, need_weights, causal=True)
    free = _masked_module(block, need_weights, causal=False)
    x, memory = torch.randn(2, 7, 8), torch.randn(2, 5, 8)
    with torch.no_grad():
        y, weights = _attend(block, m, x, memory=memory)
        for t in (0, 3, 6):
            x2 = x.clone()
            x2[:, t] += 1.0 + torch.randn(2, 8)
            y2, _ = _attend(block, m, x2, memory=memory)
            torch.testing.assert_close(y2[:, :t], y[:, :t], rtol=0, atol=1e-6)
            assert not torch.allclose(y2[:, t], y[:, t])
            if t == 3:  # without the switch, earlier steps do see the change
                a, _ = _attend(block, free, x, memory=memory)
                b, _ = _attend(block, free, x2, memory=memory)
                assert not torch.allclose(a[:, :t], b[:, :t])
    if weights is not None and block != "TransformerDecoderLayer":  # its map is over memory
        assert torch.equal(torch.triu(weights, 1), torch.zeros_like(weights))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block,need_weights", [(b, True) for b in MASKABLE]
                         + [("MultiHeadAttention", False), ("TransformerDecoderLayer", False)])
def test_padding_keys_get_no_weight_and_change_nothing(block, need_weights, causal):
    m = _masked_module(block, need_weights, causal=causal)
    x, memory = torch.randn(2, 7, 8), torch.randn(2, 5, 8)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[0, 4:] = True  # sample 0: 4 steps and 3 of padding
    with torch.no_grad():
        y, weights = _attend(block, m, x, pad, memory)
        x2 = x.clone()
        x2[0, 4:] = torch.randn(3, 8) * 5
        y2, _ = _attend(block, m, x2, pad.float(), memory)  # nonzero = padding, any dtype
    torch.testing.assert_close(y2[0, :4], y[0, :4], rtol=0, atol=1e-6)
    torch.testing.assert_close(y2[1], y[1], rtol=0, atol=1e-6)
    assert not torch.allclose(y2[0, 4:], y[0, 4:])
    if weights is not None and block != "TransformerDecoderLayer":
        assert torch.equal(weights[0, :, 4:], torch.zeros(7, 3))
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 7))


@pytest.mark.parametrize("causal", [False, True])
def test_decoder_memory_padding_gets_no_weight_and_changes_nothing(causal):
    m = _masked_module("TransformerDecoderLayer", causal=causal)
    x, memory = torch.randn(2, 7, 8), torch.randn(2, 5, 8)
    memory_pad = torch.tensor([[False, False, True, False, True], [False] * 5])
    with torch.no_grad():
        y, weights = m(x, memory, None, memory_pad)
        memory2 = memory.clone()
        memory2[0, 2] += 3.0
        memory2[0, 4] -= 3.0
        y2, _ = m(x, memory2, None, memory_pad)
    assert weights.shape == (2, 7, 5)
    assert torch.equal(weights[0, :, [2, 4]], torch.zeros(7, 2))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 7))
    torch.testing.assert_close(y2, y, rtol=0, atol=1e-6)


@pytest.mark.parametrize("block", list(MASKABLE))
def test_a_sample_that_is_all_padding_gives_no_nan(block):
    m = _masked_module(block, causal=True).train()
    x = torch.randn(2, 7, 8, requires_grad=True)
    memory = torch.randn(2, 5, 8, requires_grad=True)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1] = True
    memory_pad = torch.ones(2, 5, dtype=torch.bool)
    y, weights = _attend(block, m, x, pad, memory, memory_pad)
    assert torch.isfinite(y).all()
    if weights is not None:
        assert torch.isfinite(weights).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and all(
        torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_masked_layers_compute_what_torch_computes():
    """Same weights, same masks (torch's boolean masks, True = not allowed): the same numbers
    as nn.MultiheadAttention and the Transformer layers (train mode, no dropout, so torch
    takes its reference path)."""
    torch.manual_seed(0)
    x, memory = torch.randn(3, 7, 8), torch.randn(3, 5, 8)
    causal = torch.triu(torch.ones(7, 7, dtype=torch.bool), 1)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[0, 5:] = True
    memory_pad = torch.zeros(3, 5, dtype=torch.bool)
    memory_pad[1, 3:] = True
    ours = _masked_module("MultiHeadAttention", causal=True).train()
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    ref.load_state_dict(ours.state_dict())
    for a, b in zip(ours(x, None, None, pad),
                    ref(x, x, x, attn_mask=causal, key_padding_mask=pad), strict=True):
        torch.testing.assert_close(a, b)
    ours = _masked_module("TransformerEncoderLayer", causal=True, dropout=0.0).train()
    ref = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).train()
    ref.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x, pad), ref(x, causal, pad))
    for norm_first in (False, True):
        ours = _masked_module("TransformerDecoderLayer", dropout=0.0, norm_first=norm_first,
                              activation="gelu").train()
        ref = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, activation="gelu",
                                         batch_first=True, norm_first=norm_first).train()
        ref.load_state_dict(ours.state_dict())
        y, weights = ours(x, memory, pad, memory_pad)
        torch.testing.assert_close(y, ref(x, memory, tgt_mask=causal, tgt_key_padding_mask=pad,
                                          memory_key_padding_mask=memory_pad))
        assert weights.shape == (3, 7, 5)


@pytest.mark.parametrize("block,ins", [
    ("MultiHeadAttention", [(7, 8), (5, 6), None, (5,)]),
    ("MultiHeadAttention", [(7, 8), (5, 8), None, None]),  # causal alone: is_causal kernel
    ("MultiHeadAttention", [(4, 8), (5, 8), None, None]),
    ("TransformerDecoderLayer", [(7, 8), (5, 8), (7,), (5,)]),
])
def test_fused_path_with_masks_gives_the_numbers_of_the_drawn_one(block, ins):
    torch.manual_seed(0)
    spec, p = _params(block, heads=2, causal=True, dropout=0.0)
    drawn = spec.build(p, ins)().train()
    fused = spec.build(p, ins)().train()
    fused.load_state_dict(drawn.state_dict())
    fused.need_weights = False
    args = [None if s is None else torch.rand(3, *s) > 0.6 if len(s) == 1
            else torch.randn(3, *s, requires_grad=True) for s in ins]
    y, weights = drawn(*args)
    y_fused, none = fused(*args)
    assert none is None and weights.shape == (3, ins[0][0], ins[1][0])
    torch.testing.assert_close(y_fused, y)
    g = torch.autograd.grad(y.square().sum(), args[0])
    g_fused = torch.autograd.grad(y_fused.square().sum(), args[0])
    torch.testing.assert_close(g_fused, g)


@pytest.mark.parametrize("over", [{}, dict(norm_first=True, activation="gelu"),
                                  dict(causal=False, dropout=0.0)])
def test_transformer_decoder_layer(over):
    ins = [(6, 12), (9, 12), (6,), (9,)]
    _, p, rule = _check("TransformerDecoderLayer", ins, heads=3, feedforward=20, **over)
    assert rule == [(6, 12), (6, 9)]
    _check("TransformerDecoderLayer", [(6, 12), (9, 12), None, None], heads=3, feedforward=20,
           **over)
    spec = blocks.get("TransformerDecoderLayer")
    m = spec.build(p, ins)()
    text = spec.explain(p, ins, rule)
    assert sum(t.numel() for t in m.parameters()) == int(text.rsplit("= ", 1)[1]
                                                         .replace(",", ""))
    assert ("step t sees steps ≤ t" in text) == p["causal"]
    assert spec.shape(p, [("T", 12), ("S", 12), None, ("S",)]) == [("T", 12), ("T", "S")]


def test_causal_defaults_and_symbolic_masks():
    assert blocks.get("TransformerDecoderLayer").defaults()["causal"] is True
    for block in ("Attention", "MultiHeadAttention", "TransformerEncoderLayer"):
        spec = blocks.get(block)
        assert spec.defaults()["causal"] is False
        assert any(port.name == "pad_mask" and port.optional
                   for port in spec.input_ports(spec.defaults()))
    spec, p = _params("TransformerEncoderLayer", causal=True)
    assert spec.shape(p, [("T", 32), ("T",)]) == [("T", 32)]
    assert "causal" in spec.explain(p, [("T", 32), None], [("T", 32)])
    _check("TransformerEncoderLayer", [(6, 12), (6,)], heads=3, causal=True)
    _check("Attention", [(6, 8), (9, 8), None, (9,)], causal=True)
    _check("MultiHeadAttention", [(6, 8), (9, 4), (9, 3), (9,)], heads=2, causal=True)


@pytest.mark.parametrize("block,ins,over,words", [
    ("TransformerDecoderLayer", [(5, 32), (6, 16), None, None], {}, "as wide as"),
    ("TransformerDecoderLayer", [(5, 32), None, None, None], {}, "memory"),
    ("TransformerDecoderLayer", [(5, 32), (6, 32), None, (5,)], {},
     "memory_pad_mask needs one flag per key step, 6"),
    ("TransformerDecoderLayer", [(5, 30), (6, 30), None, None], {}, "4 heads must divide"),
    ("TransformerEncoderLayer", [(5, 32), (5, 2)], {}, "pad_mask needs one flag per key step"),
    ("MultiHeadAttention", [(5, 32), (6, 32), None, (5,)], {}, "one flag per key step, 6"),
    ("Attention", [(5, 8), (6, 8), None, (7,)], {}, "one flag per key step, 6"),
])
def test_invalid_masks_and_memories_raise_clear_errors(block, ins, over, words):
    spec, p = _params(block, **over)
    with pytest.raises(ShapeError, match=words):
        spec.shape(p, ins)


def test_decoder_takes_the_fused_path_unless_its_map_is_read():
    from builder.codegen import generate
    from builder.compiler import compile_network
    from builder.document import Network, Project
    for draw in (False, True):
        net = Network("main")
        net.add("Input", id="x", shape=["T", 16], kind="sequence")
        net.add("Input", id="memory", shape=["S", 16], kind="sequence", field="m")
        net.add("TransformerDecoderLayer", id="decode", heads=2, feedforward=32)
        net.add("Output", id="y")
        net.connect("x", "decode", dst_port="x")
        net.connect("memory", "decode", dst_port="memory")
        net.connect("decode", "y", src_port="y")
        if draw:
            net.add("Output", id="map")
            net.connect("decode", "map", src_port="weights")
        module = compile_network(net).module
        assert module.decode.need_weights is draw
        code = generate(Project({"main": net}))
        assert ("DecoderLayer(16, 2, 32, need_weights=False)" in code) is not draw
        out = module(torch.randn(3, 6, 16), torch.randn(3, 4, 16))
        assert (out[1].shape == (3, 6, 4)) if draw else (out.shape == (3, 6, 16))
