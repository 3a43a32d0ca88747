"""Composite blocks: classic building blocks of CNN architectures as editable sub-networks.

Each spec has ``expand(params, in_shapes) -> Network`` instead of ``build``/``shape``: the
sub-network it stands for, made of ordinary blocks, with an Input node ``x`` and an Output node
``y``.  The compiler turns it into a nested module; the editor can open it like a group.
"""

from __future__ import annotations

import math

from builder.blocks.spec import BlockSpec, Param, Port, check, register
from builder.document import Network
from builder.shapes import fmt_shape

__all__: list[str] = []

# Layout of the sub-network on its canvas: columns left to right, branches top to bottom.
_DX, _DY = 180.0, 110.0


def _image(ins, block: str) -> tuple:
    """The [C, H, W] input shape, with a known channel count C."""
    x = ins[0] if ins else None
    check(x is not None and len(x) == 3,
          f"{block} works on images [C, H, W] per sample; received {fmt_shape(x)}")
    check(isinstance(x[0], int),
          f"{block} needs a known channel count C; received {fmt_shape(x)}")
    return tuple(x)


def _start(name: str, x: tuple) -> Network:
    """A network with its Input ``x``.  The compiler feeds the outer shape to it; the shape
    param only documents it, with a size expression (``(H+1)//2+1``) shown as a plain name."""
    net = Network(name)
    shown = tuple(d if isinstance(d, int) or (d.isidentifier() and len(d) <= 16) else n
                  for d, n in zip(x, ("C", "H", "W"), strict=True))
    net.add("Input", id="x", pos=(0.0, 0.0), shape=shown, kind="image")
    return net


def _conv(net: Network, id: str, col: float, row: float, filters: int, kernel: int,
          stride: int = 1, groups: int = 1, bias: bool = False) -> str:
    """A k×k convolution with 'half' padding (k // 2): the size only changes with the stride."""
    return net.add("Conv2d", id=id, pos=(col * _DX, row * _DY), filters=filters, kernel=kernel,
                   stride=stride, padding=kernel // 2, groups=groups, bias=bias)


def _pointwise(net: Network, id: str, col: float, row: float, filters: int, stride: int = 1,
               bias: bool = False) -> str:
    return net.add("PointwiseConv2d", id=id, pos=(col * _DX, row * _DY), filters=filters,
                   stride=stride, bias=bias)


def _bn(net: Network, id: str, col: float, row: float) -> str:
    return net.add("BatchNorm", id=id, pos=(col * _DX, row * _DY))


def _relu(net: Network, id: str, col: float, row: float) -> str:
    return net.add("ReLU", id=id, pos=(col * _DX, row * _DY))


def _finish(net: Network, src: str, col: float) -> Network:
    net.add("Output", id="y", pos=(col * _DX, 0.0))
    net.connect(src, "y")
    return net


# --- Residual block -------------------------------------------------------------------------


def _residual(p, ins) -> Network:
    x = _image(ins, "Residual block")
    f, s = p["filters"], p["stride"]
    net = _start("residual_block", x)
    _conv(net, "conv1", 1, 0, f, 3, s)
    _bn(net, "bn1", 2, 0)
    _relu(net, "relu1", 3, 0)
    _conv(net, "conv2", 4, 0, f, 3)
    _bn(net, "bn2", 5, 0)
    net.chain("x", "conv1", "bn1", "relu1", "conv2", "bn2")
    net.add("Add", id="add", pos=(6 * _DX, 0.0), inputs=2)
    net.connect("bn2", "add", dst_port="x1")
    if s != 1 or x[0] != f:  # the skip must change shape too: a 1×1 projection
        _pointwise(net, "shortcut", 2.5, 1, f, s)
        _bn(net, "shortcut_bn", 4, 1)
        net.chain("x", "shortcut", "shortcut_bn")
        net.connect("shortcut_bn", "add", dst_port="x2")
    else:
        net.connect("x", "add", dst_port="x2")
    _relu(net, "relu2", 7, 0)
    net.connect("add", "relu2")
    return _finish(net, "relu2", 8)


def _residual_explain(p, ins, outs):
    x = ins[0]
    proj = p["stride"] != 1 or (x and x[0] != p["filters"])
    skip = (f"1×1 conv {x[0]}→{p['filters']} (stride {p['stride']}) + BN on the skip, so "
            "its shape matches") if proj else "the skip is the input itself"
    return f"y = ReLU(BN(conv3×3(ReLU(BN(conv3×3(x))))) + skip(x)); {skip}"


# --- Dense block ------------------------------------------------------------------------------


def _dense(p, ins) -> Network:
    x = _image(ins, "Dense block")
    k, n = p["growth"], p["layers"]
    net = _start("dense_block", x)
    features = "x"  # everything so far: the input and every layer's output, concatenated
    for i in range(1, n + 1):
        col = 1 + 6 * (i - 1)
        _bn(net, f"bn{i}", col, 0)
        _relu(net, f"relu{i}", col + 1, 0)
        net.chain(features, f"bn{i}", f"relu{i}")
        last = f"relu{i}"
        if p["bottleneck"]:  # DenseNet-B: 1×1 to 4k channels first
            _pointwise(net, f"bottleneck{i}", col + 2, 0, 4 * k)
            _bn(net, f"bottleneck_bn{i}", col + 2, 1)
            _relu(net, f"bottleneck_relu{i}", col + 3, 1)
            net.chain(last, f"bottleneck{i}", f"bottleneck_bn{i}", f"bottleneck_relu{i}")
            last = f"bottleneck_relu{i}"
        _conv(net, f"conv{i}", col + 4, 0, k, 3)
        net.connect(last, f"conv{i}")
        net.add("Concat", id=f"concat{i}", pos=((col + 5) * _DX, -_DY), inputs=2, axis=0)
        net.connect(features, f"concat{i}", dst_port="x1")
        net.connect(f"conv{i}", f"concat{i}", dst_port="x2")
        features = f"concat{i}"
    return _finish(net, features, 6 * n + 1)


def _dense_explain(p, ins, outs):
    c, k, n = ins[0][0], p["growth"], p["layers"]
    return (f"layer i sees the input and all earlier outputs: channels out = C + L·k = "
            f"{c} + {n}·{k} = {c + n * k}"
            + ("; each layer BN-ReLU-1×1 conv to 4k = " + str(4 * k) + " then BN-ReLU-3×3"
               if p["bottleneck"] else "; each layer BN-ReLU-3×3 conv"))


# --- Transition layer -----------------------------------------------------------------------


def _transition_filters(p, ins) -> int:
    x = _image(ins, "Transition layer")
    return max(1, math.floor(x[0] * p["compression"]))


def _transition(p, ins) -> Network:
    x = _image(ins, "Transition layer")
    net = _start("transition_layer", x)
    _bn(net, "bn", 1, 0)
    _relu(net, "relu", 2, 0)
    _pointwise(net, "conv", 3, 0, _transition_filters(p, ins))
    net.add("AvgPool2d", id="pool", pos=(4 * _DX, 0.0), kernel=2, stride=2)
    net.chain("x", "bn", "relu", "conv", "pool")
    return _finish(net, "pool", 5)


def _transition_explain(p, ins, outs):
    c = ins[0][0]
    return (f"channels ⌊θ·C⌋ = ⌊{p['compression']:g}·{c}⌋ = {_transition_filters(p, ins)}, "
            "then 2×2 average pooling halves height and width")


# --- Inception module -------------------------------------------------------------------------


def _inception(p, ins) -> Network:
    x = _image(ins, "Inception module")
    bn = p["batchnorm"]
    net = _start("inception_module", x)

    def unit(id: str, col: float, row: float, filters: int, kernel: int) -> str:
        """conv (+ BN) + ReLU; returns the last node."""
        if kernel == 1:
            _pointwise(net, id, col, row, filters, bias=not bn)
        else:
            _conv(net, id, col, row, filters, kernel, bias=not bn)
        last = id
        if bn:
            _bn(net, f"{id}_bn", col + 0.5, row + 0.35)
            net.connect(last, f"{id}_bn")
            last = f"{id}_bn"
        _relu(net, f"{id}_relu", col + 1, row)
        net.connect(last, f"{id}_relu")
        return f"{id}_relu"

    ends = [unit("branch1x1", 1, -1.5, p["filters_1x1"], 1)]
    net.connect("x", "branch1x1")
    unit("branch3x3_reduce", 1, -0.5, p["reduce_3x3"], 1)
    net.connect("x", "branch3x3_reduce")
    ends.append(unit("branch3x3", 3, -0.5, p["filters_3x3"], 3))
    net.connect("branch3x3_reduce_relu", "branch3x3")
    unit("branch5x5_reduce", 1, 0.5, p["reduce_5x5"], 1)
    net.connect("x", "branch5x5_reduce")
    ends.append(unit("branch5x5", 3, 0.5, p["filters_5x5"], 5))
    net.connect("branch5x5_reduce_relu", "branch5x5")
    net.add("MaxPool2d", id="branch_pool", pos=(1 * _DX, 1.5 * _DY), kernel=3, stride=1,
            padding=1)
    net.connect("x", "branch_pool")
    ends.append(unit("branch_pool_proj", 3, 1.5, p["pool_proj"], 1))
    net.connect("branch_pool", "branch_pool_proj")
    net.add("Concat", id="concat", pos=(5 * _DX, 0.0), inputs=4, axis=0)
    for i, end in enumerate(ends, 1):
        net.connect(end, "concat", dst_port=f"x{i}")
    return _finish(net, "concat", 6)


def _inception_explain(p, ins, outs):
    parts = (p["filters_1x1"], p["filters_3x3"], p["filters_5x5"], p["pool_proj"])
    return ("four branches side by side (1×1 | 1×1→3×3 | 1×1→5×5 | 3×3 max-pool→1×1), "
            f"concatenated: {' + '.join(map(str, parts))} = {sum(parts)} channels")


# --- MobileNet block ----------------------------------------------------------------------------


def _mobilenet(p, ins) -> Network:
    x = _image(ins, "MobileNet block")
    net = _start("mobilenet_block", x)
    _conv(net, "depthwise", 1, 0, x[0], 3, p["stride"], groups=x[0])
    _bn(net, "bn1", 2, 0)
    _relu(net, "relu1", 3, 0)
    _pointwise(net, "pointwise", 4, 0, p["filters"])
    _bn(net, "bn2", 5, 0)
    _relu(net, "relu2", 6, 0)
    net.chain("x", "depthwise", "bn1", "relu1", "pointwise", "bn2", "relu2")
    return _finish(net, "relu2", 7)


def _mobilenet_explain(p, ins, outs):
    c, f = ins[0][0], p["filters"]
    sep, full = 9 * c + c * f, 9 * c * f
    return (f"depthwise 3×3 (one filter per channel, {c}·9 = {9 * c:,} weights) + pointwise "
            f"1×1 ({c}·{f} = {c * f:,}): {sep:,} weights instead of {full:,} for a full 3×3 "
            f"conv, {full / sep:.1f}× fewer")


_IO = dict(inputs=(Port("x"),), outputs=(Port("y"),))

register(
    BlockSpec(
        "ResidualBlock",
        "Composite",
        "Two 3×3 convolutions learn only a correction F(x) that is added to the input, "
        "y = ReLU(F(x) + x). The identity path lets gradients flow straight through, which is "
        "what makes networks of 50 or 150 layers (ResNet) trainable.",
        params=(
            Param("filters", "int", 64, help="Output channels of both convolutions.", min=1,
                  max=16384),
            Param("stride", "int", 1, help="Stride of the first convolution (2 halves the "
                                           "size; the skip then gets a 1×1 projection).",
                  min=1, max=4),
        ),
        expand=_residual,
        explain=_residual_explain,
        rf=lambda p: (3 + 2 * p["stride"], p["stride"], 1),
        title="Residual block",
        example_inputs=((32, 16, 16),),
        **_IO,
    ),
    BlockSpec(
        "DenseBlock",
        "Composite",
        "Every layer receives the feature maps of all layers before it, concatenated, and adds "
        "k new ones (the growth rate). Features are reused instead of relearned, so DenseNets "
        "reach high accuracy with few parameters.",
        params=(
            Param("layers", "int", 4, help="Number of BN-ReLU-Conv layers L.", min=1, max=64),
            Param("growth", "int", 12, help="Growth rate k: channels each layer adds.", min=1,
                  max=1024),
            Param("bottleneck", "bool", True,
                  help="DenseNet-B: a 1×1 conv to 4k channels before each 3×3 conv."),
        ),
        expand=_dense,
        explain=_dense_explain,
        rf=lambda p: (1 + 2 * p["layers"], 1, 1),
        title="Dense block",
        example_inputs=((16, 8, 8),),
        **_IO,
    ),
    BlockSpec(
        "TransitionLayer",
        "Composite",
        "Sits between two dense blocks: BN-ReLU and a 1×1 convolution shrink the channel "
        "count by the compression factor θ, then 2×2 average pooling halves the image, keeping "
        "a DenseNet's growing width in check.",
        params=(
            Param("compression", "float", 0.5, help="θ: fraction of channels kept (DenseNet-C "
                                                    "uses 0.5).", min=0.05, max=1.0),
        ),
        expand=_transition,
        explain=_transition_explain,
        rf=lambda p: (2, 2, 1),
        title="Transition layer",
        example_inputs=((64, 16, 16),),
        **_IO,
    ),
    BlockSpec(
        "InceptionModule",
        "Composite",
        "Looks at the same input through 1×1, 3×3 and 5×5 convolutions and a max-pool side by "
        "side and concatenates the results, so the network picks the right scale itself; cheap "
        "1×1 convolutions reduce the channels first (GoogLeNet).",
        params=(
            Param("filters_1x1", "int", 64, help="Channels of the 1×1 branch.", min=1,
                  max=16384),
            Param("reduce_3x3", "int", 96, help="1×1 reduction before the 3×3 conv.", min=1,
                  max=16384),
            Param("filters_3x3", "int", 128, help="Channels of the 3×3 branch.", min=1,
                  max=16384),
            Param("reduce_5x5", "int", 16, help="1×1 reduction before the 5×5 conv.", min=1,
                  max=16384),
            Param("filters_5x5", "int", 32, help="Channels of the 5×5 branch.", min=1,
                  max=16384),
            Param("pool_proj", "int", 32, help="1×1 channels after the 3×3 max-pool.", min=1,
                  max=16384),
            Param("batchnorm", "bool", False, help="BatchNorm after every conv (BN-Inception)."),
        ),
        expand=_inception,
        explain=_inception_explain,
        rf=lambda p: (5, 1, 1),
        title="Inception-style module",
        example_inputs=((192, 28, 28),),
        **_IO,
    ),
    BlockSpec(
        "MobileNetBlock",
        "Composite",
        "A depthwise-separable convolution as MobileNet builds it: a 3×3 depthwise conv filters "
        "each channel on its own, a 1×1 pointwise conv mixes channels, each followed by BN and "
        "ReLU. About 8–9× fewer multiply-adds than a full 3×3 conv, for phones.",
        params=(
            Param("filters", "int", 64, help="Output channels of the pointwise conv.", min=1,
                  max=16384),
            Param("stride", "int", 1, help="Stride of the depthwise conv (2 halves the size).",
                  min=1, max=4),
        ),
        expand=_mobilenet,
        explain=_mobilenet_explain,
        rf=lambda p: (3, p["stride"], 1),
        title="MobileNet block",
        example_inputs=((32, 16, 16),),
        **_IO,
    ),
)
