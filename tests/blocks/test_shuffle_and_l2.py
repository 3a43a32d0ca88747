"""PixelShuffle and L2Normalize: rules agree with torch, the modules move or scale values as
explained, wrong shapes are refused in a sentence, and both export and generate code."""

from __future__ import annotations

import pytest
import torch
from support import check_block, check_random_params, spec_params
from test_diffusion_blocks import export_and_codegen

from builder.document import Network
from builder.shapes import ShapeError
from runtime.export import TOLERANCE


@pytest.mark.parametrize("ins,over,out", [
    (None, {}, (4, 16, 16)),
    ([(18, 5, 7)], {"factor": 3}, (2, 15, 21)),
    ([(4, "T", 3)], {}, (1, "2*T", 6)),
])
def test_pixel_shuffle_rule_agrees_with_torch(ins, over, out):
    spec, p, _ = check_block("PixelShuffle", ins, **over)
    assert spec.shape(p, list(ins or spec.example_inputs)) == [out]


def test_pixel_shuffle_random_params():
    check_random_params("PixelShuffle", [(16, 4, 4), (12, 3, 5), (9, 2, 2), (8,)])


def test_pixel_shuffle_puts_each_channel_group_into_sub_pixels():
    spec, p = spec_params("PixelShuffle")
    m = spec.build(p, [(4, 1, 1)])()
    x = torch.arange(4.0).reshape(1, 4, 1, 1)
    torch.testing.assert_close(m(x), torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]]))


@pytest.mark.parametrize("shape,match", [
    ((6, 4, 4), r"multiple of 4; received 6 .*a conv with 4 filters"),
    ((8, 4), r"image \[C·r², H, W\]"),
])
def test_pixel_shuffle_refusals_say_why(shape, match):
    spec, p = spec_params("PixelShuffle")
    with pytest.raises(ShapeError, match=match):
        spec.shape(p, [shape])


@pytest.mark.parametrize("ins,over", [(None, {}), ([(5, 8)], {}), ([(3, 4, 4)], {"axis": 0}),
                                      ([("T", 6)], {"axis": 1})])
def test_l2_normalize_rule_agrees_with_torch(ins, over):
    check_block("L2Normalize", ins, **over)


def test_l2_normalize_gives_unit_vectors_and_keeps_zero():
    spec, p = spec_params("L2Normalize")
    m = spec.build(p, [(3,)])()
    x = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(m(x), torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]]))
    spec, p = spec_params("L2Normalize", axis=0)
    m = spec.build(p, [(3, 2, 2)])()
    y = m(torch.randn(2, 3, 2, 2))
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2, 2, 2))
    assert "over axis 0 (3 values)" in spec.explain(p, [(3, 2, 2)], [(3, 2, 2)])


def test_l2_normalize_refuses_a_missing_axis():
    spec, p = spec_params("L2Normalize", axis=2)
    with pytest.raises(ShapeError, match="axis 2 does not exist"):
        spec.shape(p, [(4, 5)])


def test_both_export_and_generate_code(tmp_path):
    net = Network("upnorm")
    net.add("Input", id="x", shape=(8, 3, 3), kind="image")
    net.add("PixelShuffle", id="shuffle")
    net.add("L2Normalize", id="unit", axis=0)
    net.add("Output", id="y")
    net.chain("x", "shuffle", "unit", "y")
    assert export_and_codegen(net, tmp_path) <= TOLERANCE
