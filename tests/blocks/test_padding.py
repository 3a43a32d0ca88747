"""ReflectionPad2d: the mirror it makes, its shape rule against torch, and its refusals."""

from __future__ import annotations

import pytest
import torch
from support import check_block

from builder.blocks import get
from builder.shapes import ShapeError


@pytest.mark.parametrize("pad,shape", [(1, (3, 16, 16)), (3, (2, 5, 9)), (0, (1, 4, 4))])
def test_the_shape_rule_agrees_with_torch(pad, shape):
    spec, p, _ = check_block("ReflectionPad2d", [shape], padding=pad)
    assert spec.shape(p, [shape]) == [(shape[0], shape[1] + 2 * pad, shape[2] + 2 * pad)]
    assert not spec.has_weights


def test_the_border_is_a_mirror_not_a_copy_or_zeros():
    spec = get("ReflectionPad2d")
    p, _ = spec.coerce_params({"padding": 2})
    x = torch.arange(1.0, 6.0).view(1, 1, 1, 5).expand(1, 1, 5, 5)  # columns 1 2 3 4 5
    y = spec.build(p, [(1, 5, 5)])()(x)
    assert y[0, 0, 0].tolist() == [3, 2, 1, 2, 3, 4, 5, 4, 3]


def test_padding_as_wide_as_the_image_is_refused_in_a_sentence():
    spec = get("ReflectionPad2d")
    p, _ = spec.coerce_params({"padding": 4})
    with pytest.raises(ShapeError, match="height must be above 4"):
        spec.shape(p, [(3, 4, 8)])
    with pytest.raises(ShapeError, match=r"image \[C, H, W\]"):
        spec.shape(p, [(16,)])
    assert spec.shape(p, [(3, "H", 8)]) == [(3, "H+8", 16)]
    assert "mirrored" in spec.explain(p, [(3, 8, 8)], spec.shape(p, [(3, 8, 8)]))


def test_it_exports_to_onnx_with_parity(tmp_path):
    from builder.compiler import compile_network
    from builder.document import Network
    from runtime.export import export_onnx, parity

    net = Network("pad")
    net.chain(net.add("Input", id="x", shape=[3, 8, 8], kind="image"),
              net.add("ReflectionPad2d", id="pad", padding=2),
              net.add("Conv2d", id="conv", filters=4, kernel=5),
              net.add("Output", id="y"))
    compiled = compile_network(net)
    path = export_onnx(compiled, tmp_path / "pad.onnx")
    assert parity(compiled, path) <= 1e-5
