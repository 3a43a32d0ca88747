"""The U-Net composite: a sound editable sub-network whose output has the input's size,
whose weights are the count a hand sum gives, that refuses sizes it cannot halve, and that
compiles and learns."""

from __future__ import annotations

import pytest
import torch
from test_composite import _assert_sound

from builder import blocks
from builder.compiler import compile_network
from builder.propagate import check
from builder.shapes import ShapeError


def _expand(shape=(3, 32, 32), **over):
    spec = blocks.get("UNet")
    p, errors = spec.coerce_params(over)
    assert not errors
    return spec, p, spec.expand(p, [shape])


@pytest.mark.parametrize("over,shape,out", [
    ({}, (3, 32, 32), (3, 32, 32)),
    ({"depth": 1, "out_channels": 1, "norm": "instance"}, (1, 8, 6), (1, 8, 6)),
    ({"depth": 4, "upsample": "resize", "output": "none", "norm": "none"}, (4, 16, 32),
     (2, 16, 32)),
])
def test_the_expanded_network_is_sound_and_keeps_the_size(over, shape, out):
    over = {"out_channels": out[0], **over}
    spec, p, net = _expand(shape, **over)
    _assert_sound(net)
    assert check(net, {"x": shape}).shapes.inputs["y"]["x"] == out
    y = compile_network(net, {"x": shape}).module(torch.randn(2, *shape))
    assert tuple(y.shape[1:]) == out
    assert spec.explain(p, [shape], [out])


def _conv(c_in, c_out, k, bias):
    return c_out * c_in * k * k + (c_out if bias else 0)


def test_the_weights_are_the_hand_count():
    # depth 2, base 4, batch norm: down1 3→4 (bias, no norm), down2 4→8 (bias: innermost,
    # no norm), up2 8→4 (no bias) + BN(4), concat 4+4, up1 8→4 + BN(4), out 4→2 3×3.
    _, _, net = _expand((3, 8, 8), filters=4, depth=2, out_channels=2)
    hand = (_conv(3, 4, 4, True) + _conv(4, 8, 4, True) + _conv(8, 4, 4, False) + 2 * 4
            + _conv(8, 4, 4, False) + 2 * 4 + _conv(4, 2, 3, True))
    module = compile_network(net, {"x": (3, 8, 8)}).module
    assert sum(q.numel() for q in module.parameters()) == hand == 1830


def test_skips_join_encoder_maps_of_the_same_size():
    _, _, net = _expand((3, 32, 32), filters=8, depth=3)
    shapes = check(net, {"x": (3, 32, 32)}).shapes.inputs
    assert shapes["skip2"]["x1"] == shapes["skip2"]["x2"] == (16, 8, 8)
    assert shapes["skip1"]["x1"] == shapes["skip1"]["x2"] == (8, 16, 16)


@pytest.mark.parametrize("shape,match", [((3, 30, 32), "multiples of 2\\^3 = 8"),
                                         ((3, "H", 32), "fixed height and width"),
                                         ((32,), r"\[C, H, W\]")])
def test_sizes_it_cannot_halve_are_refused_in_a_sentence(shape, match):
    with pytest.raises(ShapeError, match=match):
        _expand(shape)


def test_it_compiles_and_a_step_lowers_the_loss():
    _, _, net = _expand((1, 16, 16), filters=8, depth=2, out_channels=1, output="sigmoid")
    module = compile_network(net, {"x": (1, 16, 16)}).module
    torch.manual_seed(0)
    x = torch.rand(8, 1, 16, 16)
    opt = torch.optim.Adam(module.parameters(), 1e-2)
    losses = []
    for _ in range(5):
        loss = (module(x) - (1 - x)).abs().mean()  # learn to invert the picture
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach().item())
    assert losses[-1] < losses[0]
