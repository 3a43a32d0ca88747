"""Composite blocks: the expanded sub-networks are sound, compile, run and compute what the
architectures they are named after compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from builder import blocks
from builder.analysis import analyze
from builder.compiler import compile_network
from builder.document import Network, valid_name
from builder.ports import node_ports, params_of
from builder.propagate import check
from builder.shapes import ShapeError

TYPES = ["ResidualBlock", "DenseBlock", "TransitionLayer", "InceptionModule", "MobileNetBlock"]


def _params(block, **over):
    spec = blocks.get(block)
    params, errors = spec.coerce_params(over)
    assert not errors
    return spec, params


def _expand(block, shape=None, **over):
    spec, p = _params(block, **over)
    shape = spec.example_inputs[0] if shape is None else shape
    return spec, p, spec.expand(p, [shape]), shape


def _assert_sound(net: Network):
    inputs = [n for n in net.nodes.values() if n.block == "Input"]
    outputs = [n for n in net.nodes.values() if n.block == "Output"]
    assert [n.id for n in inputs] == ["x"] and [n.id for n in outputs] == ["y"]
    for node_id, node in net.nodes.items():
        assert node_id == node.id and valid_name(node_id), node_id
        assert node.block in blocks.REGISTRY, node.block
        assert not params_of(node)[1], (node_id, params_of(node)[1])
    seen = set()
    for e in net.edges:
        assert e.src in net.nodes and e.dst in net.nodes, str(e)
        assert e.src_port in [p.name for p in node_ports(net.nodes[e.src])[1]], str(e)
        assert e.dst_port in [p.name for p in node_ports(net.nodes[e.dst])[0]], str(e)
        assert (e.dst, e.dst_port) not in seen, f"two wires into {e.dst}.{e.dst_port}"
        seen.add((e.dst, e.dst_port))
    for node_id, node in net.nodes.items():  # every required input is wired
        for port in node_ports(node)[0]:
            assert port.optional or (node_id, port.name) in seen, (node_id, port.name)
    report = check(net)
    assert report.ok, [p.message for p in report.problems]


def _run(net, shape, batch=2):
    compiled = compile_network(net, {"x": shape})
    y = compiled.module(torch.randn(batch, *shape))
    return compiled.module, y


@pytest.mark.parametrize("block", TYPES)
def test_defaults_expand_sound_and_run(block):
    spec, p, net, shape = _expand(block)
    assert spec.category == "Composite" and spec.concept and spec.build is None
    assert [q.name for q in spec.input_ports(p)] == ["x"]
    assert [q.name for q in spec.output_ports(p)] == ["y"]
    _assert_sound(net)
    module, y = _run(net, shape)
    report = check(net, {"x": shape})
    assert tuple(y.shape[1:]) == report.shapes.inputs["y"]["x"]
    assert spec.explain(p, [shape], [tuple(y.shape[1:])])


@pytest.mark.parametrize("block,over,shape,expected", [
    ("ResidualBlock", {"filters": 64, "stride": 2}, (32, 16, 16), (64, 8, 8)),
    ("ResidualBlock", {"filters": 32, "stride": 1}, (32, 16, 16), (32, 16, 16)),
    ("ResidualBlock", {"filters": 16, "stride": 2}, (16, 15, 9), (16, 8, 5)),
    ("DenseBlock", {"layers": 4, "growth": 12}, (16, 8, 8), (64, 8, 8)),
    ("DenseBlock", {"layers": 3, "growth": 5, "bottleneck": False}, (7, 6, 6), (22, 6, 6)),
    ("TransitionLayer", {"compression": 0.5}, (64, 16, 16), (32, 8, 8)),
    ("TransitionLayer", {"compression": 0.5}, (10, 7, 7), (5, 3, 3)),
    ("TransitionLayer", {"compression": 1.0}, (12, 4, 6), (12, 2, 3)),
    ("InceptionModule", {}, (192, 28, 28), (256, 28, 28)),
    ("InceptionModule", {"filters_1x1": 3, "reduce_3x3": 2, "filters_3x3": 5, "reduce_5x5": 1,
                         "filters_5x5": 4, "pool_proj": 6, "batchnorm": True},
     (8, 9, 9), (18, 9, 9)),
    ("MobileNetBlock", {"filters": 64, "stride": 2}, (32, 16, 16), (64, 8, 8)),
    ("MobileNetBlock", {"filters": 8, "stride": 1}, (3, 5, 5), (8, 5, 5)),
])
def test_output_shapes(block, over, shape, expected):
    _, _, net, _ = _expand(block, shape, **over)
    _assert_sound(net)
    _, y = _run(net, shape)
    assert tuple(y.shape) == (2, *expected)
    assert check(net, {"x": shape}).shapes.inputs["y"]["x"] == expected


def test_residual_projection_only_when_shape_changes():
    _, _, same, _ = _expand("ResidualBlock", (32, 8, 8), filters=32, stride=1)
    assert "shortcut" not in same.nodes
    assert any(e.src == "x" and e.dst == "add" for e in same.edges)
    for over in ({"filters": 64, "stride": 1}, {"filters": 32, "stride": 2}):
        _, _, proj, _ = _expand("ResidualBlock", (32, 8, 8), **over)
        assert proj.nodes["shortcut"].block == "PointwiseConv2d"
        assert proj.nodes["shortcut"].params["stride"] == over["stride"]
        assert not any(e.src == "x" and e.dst == "add" for e in proj.edges)


class _BasicBlock(torch.nn.Module):
    """torchvision's ResNet BasicBlock, written out by hand with the same attribute names."""

    def __init__(self, c, f, s):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(c, f, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(f)
        self.conv2 = nn.Conv2d(f, f, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(f)
        self.shortcut = nn.Conv2d(c, f, 1, s, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(f)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut_bn(self.shortcut(x)))


@pytest.mark.parametrize("train", [True, False])
def test_residual_matches_hand_written_resnet_block(train):
    torch.manual_seed(0)
    _, _, net, _ = _expand("ResidualBlock", (8, 10, 10), filters=16, stride=2)
    module, _ = _run(net, (8, 10, 10))
    ref = _BasicBlock(8, 16, 2)
    ref.load_state_dict(module.state_dict())
    module.train(train)
    ref.train(train)
    x = torch.randn(3, 8, 10, 10)
    torch.testing.assert_close(module(x), ref(x))


def test_dense_block_matches_densenet_loop():
    torch.manual_seed(0)
    shape = (6, 5, 5)
    _, _, net, _ = _expand("DenseBlock", shape, layers=3, growth=4)
    module, _ = _run(net, shape)
    assert module.bottleneck1.out_channels == 16  # 4k
    assert module.conv3.in_channels == 16 and module.bottleneck3.in_channels == 6 + 2 * 4
    x = torch.randn(2, *shape)
    features = [x]
    for i in range(1, 4):
        m = {name: getattr(module, f"{name}{i}") for name in ("bn", "bottleneck",
                                                               "bottleneck_bn", "conv")}
        h = F.relu(m["bn"](torch.cat(features, 1)))
        h = F.relu(m["bottleneck_bn"](m["bottleneck"](h)))
        features.append(m["conv"](h))
    torch.testing.assert_close(module(x), torch.cat(features, 1))


def test_transition_and_mobilenet_are_the_textbook_layers():
    torch.manual_seed(0)
    _, _, net, _ = _expand("TransitionLayer", (10, 8, 8), compression=0.5)
    module, _ = _run(net, (10, 8, 8))
    x = torch.randn(2, 10, 8, 8)
    ref = F.avg_pool2d(module.conv(F.relu(module.bn(x))), 2)
    torch.testing.assert_close(module(x), ref)
    _, _, net, _ = _expand("MobileNetBlock", (12, 8, 8), filters=20, stride=2)
    module, _ = _run(net, (12, 8, 8))
    assert module.depthwise.groups == 12 and module.depthwise.weight.shape == (12, 1, 3, 3)
    assert module.pointwise.weight.shape == (20, 12, 1, 1)
    x = torch.randn(2, 12, 8, 8)
    h = F.relu(module.bn1(F.conv2d(x, module.depthwise.weight, None, 2, 1, groups=12)))
    torch.testing.assert_close(module(x), F.relu(module.bn2(module.pointwise(h))))


def test_inception_matches_branches():
    torch.manual_seed(0)
    shape = (8, 7, 7)
    _, _, net, _ = _expand("InceptionModule", shape, filters_1x1=3, reduce_3x3=2,
                           filters_3x3=5, reduce_5x5=1, filters_5x5=4, pool_proj=6)
    m, _ = _run(net, shape)
    x = torch.randn(2, *shape)
    ref = torch.cat([
        F.relu(m.branch1x1(x)),
        F.relu(m.branch3x3(F.relu(m.branch3x3_reduce(x)))),
        F.relu(m.branch5x5(F.relu(m.branch5x5_reduce(x)))),
        F.relu(m.branch_pool_proj(F.max_pool2d(x, 3, 1, 1))),
    ], 1)
    torch.testing.assert_close(m(x), ref)


@pytest.mark.parametrize("block", TYPES)
def test_inside_an_outer_network_flops_and_receptive_field(block):
    spec, p = _params(block)
    shape = spec.example_inputs[0]
    outer = Network("outer")
    outer.add("Input", id="image", shape=shape, kind="image")
    outer.add(block, id="unit")
    outer.add("Output", id="out")
    outer.chain("image", "unit", "out")
    compiled = compile_network(outer)
    with FlopCounterMode(display=False) as counter:
        y = compiled.module(torch.randn(1, *shape))
    stats = analyze(outer)
    assert stats.nodes["unit"].flops == counter.get_total_flops() > 0
    assert stats.nodes["unit"].params == sum(t.numel() for t in compiled.module.parameters())
    assert tuple(y.shape[1:]) == check(outer).shapes.inputs["out"]["x"]
    # the block's rf() summarises its sub-network's receptive field and jump
    sub = spec.expand(p, [shape])
    inner = analyze(sub, {"x": shape})
    last = next(e.src for e in sub.edges if e.dst == "y")
    k, s, d = spec.rf(p)
    assert (inner.nodes[last].receptive_field, inner.nodes[last].jump) == (1 + (k - 1) * d, s)


def test_symbolic_height_and_width():
    outer = Network("outer")
    outer.add("Input", id="image", shape=(32, "H", "W"), kind="image")
    outer.add("ResidualBlock", id="res", filters=64, stride=2)
    outer.add("MobileNetBlock", id="mob", filters=16)
    outer.add("Output", id="out")
    outer.chain("image", "res", "mob", "out")
    report = check(outer)
    assert report.ok, [q.message for q in report.problems]
    out = report.shapes.inputs["out"]["x"]
    assert out[0] == 16 and all(isinstance(d, str) for d in out[1:])
    sub = blocks.get("ResidualBlock").expand({"filters": 64, "stride": 2},
                                            [(32, "(H+-1)//2+1", "W")])
    assert sub.nodes["x"].params["shape"] == (32, "H", "W")  # a valid Input param
    assert check(sub).ok


@pytest.mark.parametrize("block", TYPES)
def test_invalid_inputs_raise_clear_errors(block):
    spec, p = _params(block)
    with pytest.raises(ShapeError, match=r"images \[C, H, W\] per sample; received \[64\]"):
        spec.expand(p, [(64,)])
    with pytest.raises(ShapeError, match=r"known channel count C; received \[C, 8, 8\]"):
        spec.expand(p, [("C", 8, 8)])
    outer = Network("outer")
    outer.add("Input", id="v", shape=(64,))
    outer.add(block, id="unit")
    outer.add("Output", id="out")
    outer.chain("v", "unit", "out")
    problems = check(outer).problems_of("unit")
    assert problems and "received [64]" in problems[0].message


def test_too_small_image_is_reported_from_inside():
    outer = Network("outer")
    outer.add("Input", id="img", shape=(4, 1, 1), kind="image")
    outer.add("TransitionLayer", id="trans")
    outer.add("Output", id="out")
    outer.chain("img", "trans", "out")
    problems = check(outer).problems_of("trans")
    assert problems and "inside trans" in problems[0].message
