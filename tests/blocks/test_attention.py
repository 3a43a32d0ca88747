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

TYPES = ["Attention", "MultiHeadAttention", "TransformerEncoderLayer"]



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
    assert blocks.CATEGORIES.index("Attention") == blocks.CATEGORIES.index("Recurrent") + 1


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
    copy = namespace[made.cls.__name__](*made.args, **dict(made.kwargs))
    original = made()
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
