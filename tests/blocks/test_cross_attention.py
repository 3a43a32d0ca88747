"""CrossAttention: positions of an image (or steps of a sequence) attend over a context
sequence.  The rule agrees with torch, the module computes torch's own multi-head attention
plus the input, padding is never read, and it exports with parity and generates code."""

from __future__ import annotations

import pytest
import torch
from support import check_rule, spec_params
from test_diffusion_blocks import export_and_codegen

from builder.document import Network
from builder.shapes import ShapeError
from runtime.export import TOLERANCE


@pytest.mark.parametrize("ins,over,rule", [
    (None, {}, [(16, 4, 4), (16, 6)]),
    ([(7, 16), (5, 12), None], {"heads": 2, "norm": False}, [(7, 16), (7, 5)]),
    ([(8, 3, 5), (4, 8), (4,)], {"heads": 8, "residual": False}, [(8, 3, 5), (15, 4)]),
])
def test_rule_agrees_with_torch(ins, over, rule):
    assert check_rule("CrossAttention", ins, **over)[2] == rule


def test_symbolic_sizes_give_symbolic_positions():
    spec, p = spec_params("CrossAttention")
    assert spec.shape(p, [(16, "H", "W"), ("S", 8), None]) == [(16, "H", "W"), ("H*W", "S")]


def test_it_is_torch_multi_head_attention_on_the_normalised_positions_plus_x():
    spec, p = spec_params("CrossAttention", heads=2)
    m = spec.build(p, [(8, 3, 3), (5, 6), None])().eval()
    x, ctx = torch.randn(2, 8, 3, 3), torch.randn(2, 5, 6)
    y, weights = m(x, ctx)
    seq = x.flatten(2).transpose(1, 2)
    ref, ref_w = m.attn(m.norm(seq), ctx, ctx)  # torch's own forward, the same weights
    torch.testing.assert_close(y, (seq + ref).transpose(1, 2).reshape(2, 8, 3, 3))
    torch.testing.assert_close(weights, ref_w)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 9))
    n = sum(q.numel() for q in m.parameters())
    assert f"= {n:,}" in spec.explain(p, [(8, 3, 3), (5, 6), None], [])
    m.need_weights = False  # the fused kernel: the same y, no map
    y2, none = m(x, ctx)
    assert none is None
    torch.testing.assert_close(y2, y)


def test_padding_in_the_context_is_never_read():
    spec, p = spec_params("CrossAttention", heads=1)
    m = spec.build(p, [(6, 4), (5, 6), (5,)])().eval()
    x, ctx = torch.randn(2, 6, 4), torch.randn(2, 5, 6)
    pad = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 1]])
    with torch.no_grad():
        y, weights = m(x, ctx, pad)
    assert float(weights[0, :, 3:].abs().max()) == 0.0 and float(weights[1, :, 4].max()) == 0
    changed = ctx.clone()
    changed[0, 3:] = 100.0  # what padding holds does not matter
    with torch.no_grad():
        torch.testing.assert_close(m(x, changed, pad)[0], y)


@pytest.mark.parametrize("ins,over,match", [
    ([(6, 4, 4), (5, 6), None], {"heads": 4}, r"4 heads must divide the 6 channels"),
    ([(6,), (5, 6), None], {"heads": 1}, r"sequence \[T, C\] or an image"),
    ([(8, 4, 4), (6,), None], {}, r"context sequence \[S, D\]"),
    ([(8, 4, 4), (5, 6), (4,)], {}, r"one flag per context step, 5"),
])
def test_refusals_say_why(ins, over, match):
    spec, p = spec_params("CrossAttention", **over)
    with pytest.raises(ShapeError, match=match):
        spec.shape(p, ins)


@pytest.mark.parametrize("read_weights", [True, False])
def test_a_caption_conditioned_image_exports_and_generates_code(tmp_path, read_weights):
    net = Network("captioned")
    net.add("Input", id="image", shape=(8, 4, 4), kind="image")
    net.add("Input", id="caption", shape=(6,), kind="tokens", field="caption")
    net.add("Embedding", id="embed", vocab=12, dim=10)
    net.add("PaddingMask", id="pad")
    net.add("CrossAttention", id="read", heads=2)
    net.add("Output", id="y")
    net.chain("caption", "embed")
    net.connect("caption", "pad")
    net.connect("image", "read", dst_port="x")
    net.connect("embed", "read", dst_port="context")
    net.connect("pad", "read", dst_port="pad_mask")
    net.connect("read", "y", src_port="y")
    if read_weights:
        net.add("Output", id="map")
        net.connect("read", "map", src_port="weights")
    assert export_and_codegen(net, tmp_path) <= TOLERANCE
