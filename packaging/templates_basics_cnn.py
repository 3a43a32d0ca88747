"""Gallery templates of the convolution variants and of small modern CNNs (templates_basics.py
gathers them into its BUILDERS).

The cnn_* family: one CNN on glyph digits, 28×28 grey, whose two middle convolutions (16→32
and 32→64 channels) are the only thing that differs, so the parameter counts and FLOPs in each
summary compare.  The modern CNNs read 32×32 generated shapes and each shows one idea of the
networks that followed AlexNet, built from plain blocks so that the idea is visible on the
canvas.
"""

from __future__ import annotations

from template_parts import _project, _seq, image_in

from builder.document import DatasetConfig, Network, Project

__all__ = ["BUILDERS"]

SHAPES = [3, 32, 32]


def _digits() -> DatasetConfig:
    return DatasetConfig("glyph_digits", {"n_samples": 12_000})


def _shapes() -> DatasetConfig:
    return DatasetConfig("shapes", {"n_samples": 12_000})


def _head(net: Network, last: str) -> None:
    _seq(net, ("GlobalAvgPool", "gap", {}), ("Linear", "logits", {"units": 10}),
         ("Output", "y", {}), after=last)


def _variant(description: str, conv: str, params: dict, pointwise: bool = False) -> Project:
    """conv 3×3 16 → pool → VARIANT 32 → pool → VARIANT 64 → global pool → 10 classes."""
    net = Network("main")
    last = _seq(net, image_in(),
                ("Conv2d", "conv1", {"filters": 16, "kernel": 3, "padding": 1}),
                ("ReLU", "relu1", {}), ("MaxPool2d", "pool1", {"kernel": 2}))
    for i, filters in ((2, 32), (3, 64)):
        last = _seq(net, (conv, f"conv{i}", {"filters": filters, **params}),
                    ("ReLU", f"relu{i}", {}), after=last)
        if pointwise:  # network-in-network: a 1×1 conv mixes the channels after each 3×3
            last = _seq(net, ("PointwiseConv2d", f"mix{i}", {"filters": filters}),
                        ("ReLU", f"mix_relu{i}", {}), after=last)
        if i == 2:
            last = _seq(net, ("MaxPool2d", "pool2", {"kernel": 2}), after=last)
    _head(net, last)
    return _project(description, net, _digits(), epochs=3, batch=64, lr=0.002)


GUIDE = ("Compare the parameters and FLOPs in the summary with the other cnn_* templates: the "
         "same network, only conv2 and conv3 differ.")


def cnn_dilated() -> Project:
    return _variant(
        "Dilated convolutions on glyph digits\n"
        "conv2 and conv3 are 3×3 kernels with dilation 2: their taps are spread one pixel "
        "apart, so each sees a 5×5 window for the weights of a 3×3, and the receptive field "
        "grows faster than with plain convolutions. " + GUIDE,
        "Conv2d", {"kernel": 3, "dilation": 2, "padding": 2})


def cnn_grouped() -> Project:
    return _variant(
        "Grouped convolutions on glyph digits\n"
        "conv2 and conv3 split their channels into 4 groups that never see each other: each "
        "filter reads a quarter of the input channels, so a quarter of the weights and FLOPs "
        "of a full 3×3 convolution. ResNeXt is built on this. " + GUIDE,
        "Conv2d", {"kernel": 3, "padding": 1, "groups": 4})


def cnn_depthwise_separable() -> Project:
    return _variant(
        "Depthwise-separable convolutions on glyph digits\n"
        "conv2 and conv3 are SeparableConv2d: a 3×3 filter per input channel (depthwise), then "
        "a 1×1 convolution mixing the channels (pointwise), as in MobileNet and Xception; "
        "several times fewer weights and multiply-adds than a full 3×3. " + GUIDE,
        "SeparableConv2d", {"kernel": 3, "padding": 1})


def cnn_spatially_separable() -> Project:
    return _variant(
        "Spatially separable convolutions on glyph digits\n"
        "conv2 and conv3 replace a 5×5 kernel by a 5×1 one followed by a 1×5 one, as in "
        "the Inception-v3 factorisations: 10 weights per pair of channels instead of 25. The "
        "first step already widens the channels (16→32), so here the saving is 40%, not 60%: "
        "38,400 weights for the two layers against 64,000 for full 5×5 convolutions. The "
        "other cnn_* templates use 3×3 kernels.",
        "SpatialSeparableConv2d", {"kernel": 5, "padding": 2})


def cnn_pointwise() -> Project:
    return _variant(
        "Pointwise (1×1) convolutions on glyph digits\n"
        "After each 3×3 convolution a 1×1 convolution (mix2, mix3) acts as a small dense layer "
        "across the channels at every pixel: more nonlinearity for few weights, the "
        "network-in-network idea that Inception and bottleneck blocks reuse. " + GUIDE,
        "Conv2d", {"kernel": 3, "padding": 1}, pointwise=True)


# --- small modern CNNs on 32×32 shapes ---------------------------------------------------

def _stem(net: Network, filters: int = 32) -> str:
    return _seq(net, ("Input", "image", {"shape": SHAPES, "kind": "image"}),
                ("Conv2d", "stem", {"filters": filters, "kernel": 3, "padding": 1}),
                ("BatchNorm", "stem_bn", {}), ("ReLU", "stem_relu", {}),
                ("MaxPool2d", "stem_pool", {"kernel": 2}))


def vgg_small() -> Project:
    net = Network("main")
    last = _seq(net, ("Input", "image", {"shape": SHAPES, "kind": "image"}))
    for stage, filters in enumerate((16, 32, 64), start=1):
        for j in (1, 2):
            last = _seq(net, ("Conv2d", f"conv{stage}_{j}",
                              {"filters": filters, "kernel": 3, "padding": 1}),
                        ("ReLU", f"relu{stage}_{j}", {}), after=last)
        last = _seq(net, ("MaxPool2d", f"pool{stage}", {"kernel": 2}), after=last)
    _seq(net, ("Flatten", "flatten", {}), ("Linear", "fc", {"units": 128}),
         ("ReLU", "fc_relu", {}), ("Dropout", "drop", {"p": 0.5}),
         ("Linear", "logits", {"units": 10}), ("Output", "y", {}), after=last)
    for node in net.nodes.values():  # no batch norm (VGG had none): He init keeps the scale
        if node.block in ("Conv2d", "Linear") and node.id != "logits":
            node.init = "he"
    return _project(
        "Small VGG on shapes\n"
        "Only 3×3 convolutions, two per stage, then 2×2 pooling that halves the image while "
        "the channels double (16, 32, 64). Two stacked 3×3 convolutions see a 5×5 window with "
        "fewer weights than one 5×5 and one more ReLU between them: VGG's whole idea.",
        net, _shapes(), epochs=4, batch=64, lr=0.001)


def _branch(net: Network, source: str, name: str, *steps: tuple) -> str:
    last = source
    for k, (block, params) in enumerate(steps, start=1):
        last = _seq(net, (block, f"{name}_{k}", params), after=last)
    return last


def inception_small() -> Project:
    net = Network("main")
    x = _stem(net)
    relu = ("ReLU", {})
    ends = [
        _branch(net, x, "b1x1", ("Conv2d", {"filters": 16, "kernel": 1}), relu),
        _branch(net, x, "b3x3", ("Conv2d", {"filters": 16, "kernel": 1}), relu,
                ("Conv2d", {"filters": 24, "kernel": 3, "padding": 1}), relu),
        _branch(net, x, "b5x5", ("Conv2d", {"filters": 4, "kernel": 1}), relu,
                ("Conv2d", {"filters": 8, "kernel": 5, "padding": 2}), relu),
        _branch(net, x, "bpool", ("MaxPool2d", {"kernel": 3, "stride": 1, "padding": 1}),
                ("Conv2d", {"filters": 8, "kernel": 1}), relu),
    ]
    concat = net.add("Concat", id="concat", inputs=4)
    for end in ends:
        net.connect(end, concat)
    last = _seq(net, ("MaxPool2d", "pool", {"kernel": 2}),
                ("InceptionModule", "inception2",
                 {"filters_1x1": 32, "reduce_3x3": 32, "filters_3x3": 48, "reduce_5x5": 8,
                  "filters_5x5": 16, "pool_proj": 16}), after=concat)
    _head(net, last)
    return _project(
        "Small Inception network on shapes\n"
        "The first Inception module is drawn out: 1×1, 3×3 and 5×5 convolutions and a 3×3 "
        "max-pool look at the same input side by side, the cheap 1×1 convolutions shrink the "
        "channels first, and Concat stacks the four answers (16+24+8+8 = 56 channels). The "
        "second, inception2, is the same thing as one InceptionModule block.",
        net, _shapes(), epochs=4, batch=64, lr=0.002)


def _bottleneck(net: Network, x: str, name: str, width: int, out: int, groups: int) -> str:
    """x → 1×1 (width) → 3×3 (width, groups) → 1×1 (out) → + x → ReLU, BN after each conv."""
    last = x
    for k, (filters, kernel, g) in enumerate(((width, 1, 1), (width, 3, groups), (out, 1, 1)),
                                             start=1):
        last = _seq(net, ("Conv2d", f"{name}_conv{k}",
                          {"filters": filters, "kernel": kernel, "padding": kernel // 2,
                           "groups": g, "bias": False}),
                    ("BatchNorm", f"{name}_bn{k}", {}), after=last)
        if k < 3:
            last = _seq(net, ("ReLU", f"{name}_relu{k}", {}), after=last)
    add = net.add("Add", id=f"{name}_add")
    net.connect(last, add)
    net.connect(x, add)  # the skip connection: the block only learns a correction
    return _seq(net, ("ReLU", f"{name}_out", {}), after=add)


def _resnet(description: str, width: int, groups: int) -> Project:
    net = Network("main")
    last = _bottleneck(net, _stem(net, 64), "block1", width, 64, groups)
    last = _seq(net, ("MaxPool2d", "pool", {"kernel": 2}), after=last)
    last = _bottleneck(net, last, "block2", width, 64, groups)
    _head(net, last)
    return _project(description, net, _shapes(), epochs=4, batch=64, lr=0.002)


def resnet_bottleneck() -> Project:
    return _resnet(
        "ResNet bottleneck blocks on shapes\n"
        "Each block squeezes 64 channels to 16 with a 1×1 convolution, does the 3×3 work on "
        "those 16, widens back to 64 with another 1×1, and adds its input (Add): y = F(x) + x. "
        "The 3×3 costs a sixteenth of one on 64 channels; this is how ResNet-50 and deeper "
        "stay affordable.", 16, 1)


def resnext_small() -> Project:
    return _resnet(
        "ResNeXt blocks on shapes\n"
        "The bottleneck of resnet_bottleneck, but wider (32 channels) with its 3×3 split into 8 "
        "groups of 4: eight parallel paths (the cardinality) whose 3×3 has half the weights of "
        "resnet_bottleneck's, so the whole net costs only a sixth more (13.6k against 11.7k "
        "parameters). Compare its summary and accuracy with resnet_bottleneck.", 32, 8)


def mini_alexnet() -> Project:
    net = Network("main")
    lrn = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
    overlap = {"kernel": 3, "stride": 2}  # overlapping pooling: windows 3 wide, 2 apart
    _seq(net, ("Input", "image", {"shape": SHAPES, "kind": "image"}),
         ("Conv2d", "conv1", {"filters": 32, "kernel": 5, "padding": 2}), ("ReLU", "relu1", {}),
         ("LocalResponseNorm", "lrn1", lrn), ("MaxPool2d", "pool1", overlap),
         ("Conv2d", "conv2", {"filters": 48, "kernel": 5, "padding": 2}), ("ReLU", "relu2", {}),
         ("LocalResponseNorm", "lrn2", lrn), ("MaxPool2d", "pool2", overlap),
         ("Conv2d", "conv3", {"filters": 64, "kernel": 3, "padding": 1}), ("ReLU", "relu3", {}),
         ("Conv2d", "conv4", {"filters": 64, "kernel": 3, "padding": 1}), ("ReLU", "relu4", {}),
         ("Conv2d", "conv5", {"filters": 48, "kernel": 3, "padding": 1}), ("ReLU", "relu5", {}),
         ("MaxPool2d", "pool5", overlap), ("Flatten", "flatten", {}),
         ("Dropout", "drop6", {"p": 0.5}), ("Linear", "fc6", {"units": 128}),
         ("ReLU", "relu6", {}), ("Dropout", "drop7", {"p": 0.5}),
         ("Linear", "fc7", {"units": 128}), ("ReLU", "relu7", {}),
         ("Linear", "fc8", {"units": 10}), ("Output", "y", {}))
    for node in net.nodes.values():  # no batch norm: He init keeps the signal's scale
        if node.block in ("Conv2d", "Linear") and node.id != "fc8":
            node.init = "he"
    data = _shapes()
    data.augment = [{"op": "crop", "padding": 4}, {"op": "flip", "p": 0.5}]
    project = _project(
        "Mini AlexNet on 32×32 shapes\n"
        "AlexNet's recipe at a laptop's scale: five convolutions with ReLU, local response "
        "norm after the first two, overlapping 3×3 pooling with stride 2, dropout before the "
        "dense layers, and augmentation (random crops after 4 pixels of padding, left-right "
        "flips; see the dataset's augment list). Training ▸ Run all variants trains it six "
        "ways, each with one of the five tricks switched off, to see what each is worth. The "
        "full-size network is the alexnet template.", net, data, epochs=6, batch=64, lr=0.003)
    nodes = {block: [n for n, node in net.nodes.items() if node.block == block]
             for block in ("ReLU", "LocalResponseNorm", "MaxPool2d", "Dropout")}
    project.variants = {
        "all_on": {},  # the base, as the canvas shows it
        "tanh": {f"main/{n}.block": "Tanh" for n in nodes["ReLU"]},
        "no_lrn": {f"main/{n}.bypass": True for n in nodes["LocalResponseNorm"]},
        "no_overlap_pooling": {f"main/{n}.{k}": 2 for n in nodes["MaxPool2d"]
                               for k in ("kernel", "stride")},
        "no_dropout": {f"main/{n}.p": 0.0 for n in nodes["Dropout"]},
        "no_augmentation": {"dataset.augment": []},
    }
    return project


BUILDERS = {f.__name__: f for f in (
    cnn_dilated, cnn_grouped, cnn_depthwise_separable, cnn_spatially_separable, cnn_pointwise,
    vgg_small, inception_small, resnet_bottleneck, resnext_small, mini_alexnet)}
