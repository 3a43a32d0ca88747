"""Regenerate the gallery templates in resources/templates/ (a developer tool).

The .loom files are the product; this script is how they were written, so a change of block
params or layout can be applied to all of them at once:  python packaging/build_templates.py
Templates made elsewhere (gan_2d by the runtime) are left alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from builder.document import (  # noqa: E402
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from builder.layout import layered_positions  # noqa: E402
from builder.serialize import save  # noqa: E402
from resources import TEMPLATES  # noqa: E402


def _project(description: str, net: Network, dataset: DatasetConfig, epochs: int, batch: int,
             lr: float, optimizer: str = "adam") -> Project:
    for node_id, pos in layered_positions(net).items():
        net.nodes[node_id].pos = pos
    return Project(
        networks={net.name: net},
        dataset=dataset,
        recipe=RecipeConfig("classification", {"model": net.name}),
        training=TrainingSettings(epochs=epochs, batch_size=batch,
                                  optimizers={net.name: OptimizerConfig(optimizer, lr)}),
        description=description,
    )


def _seq(net: Network, *steps: tuple, after: str | None = None) -> str:
    """Add blocks in a chain (after node ``after``); each step is (block, id, params)."""
    prev = after
    for block, node_id, params in steps:
        cur = net.add(block, id=node_id, **params)
        if prev is not None:
            net.connect(prev, cur)
        prev = cur
    return prev


def mlp() -> Project:
    net = Network("main")
    _seq(net,
         ("Input", "x", {"shape": [2], "kind": "vector"}),
         ("Linear", "hidden1", {"units": 32}),
         ("ReLU", "relu1", {}),
         ("Linear", "hidden2", {"units": 32}),
         ("ReLU", "relu2", {}),
         ("Linear", "logits", {"units": 3}),
         ("Output", "y", {}))
    return _project(
        "Multilayer perceptron on spirals\n"
        "Two hidden layers of 32 ReLU units learn to separate three interleaved spirals.",
        net, DatasetConfig("spirals", {"arms": 3, "n_samples": 1500}), epochs=60, batch=64, lr=0.01)


def lenet() -> Project:
    net = Network("main")
    _seq(net,
         ("Input", "image", {"shape": [1, 28, 28], "kind": "image"}),
         ("Conv2d", "conv1", {"filters": 6, "kernel": 5, "padding": 2}),
         ("Tanh", "tanh1", {}),
         ("AvgPool2d", "pool1", {"kernel": 2, "stride": 2}),
         ("Conv2d", "conv2", {"filters": 16, "kernel": 5}),
         ("Tanh", "tanh2", {}),
         ("AvgPool2d", "pool2", {"kernel": 2, "stride": 2}),
         ("Flatten", "flatten", {}),
         ("Linear", "fc1", {"units": 120}),
         ("Tanh", "tanh3", {}),
         ("Linear", "fc2", {"units": 84}),
         ("Tanh", "tanh4", {}),
         ("Linear", "logits", {"units": 10}),
         ("Output", "y", {}))
    return _project(
        "LeNet-5 on MNIST\n"
        "The classic small CNN: two convolution + pooling stages, then three dense layers.",
        net, DatasetConfig("mnist"), epochs=5, batch=128, lr=0.001)


def alexnet() -> Project:
    net = Network("main")
    _seq(net,
         ("Input", "image", {"shape": [3, 227, 227], "kind": "image"}),
         ("Conv2d", "conv1", {"filters": 96, "kernel": 11, "stride": 4}),
         ("ReLU", "relu1", {}),
         ("LocalResponseNorm", "lrn1", {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}),
         ("MaxPool2d", "pool1", {"kernel": 3, "stride": 2}),
         ("Conv2d", "conv2", {"filters": 256, "kernel": 5, "padding": 2}),
         ("ReLU", "relu2", {}),
         ("LocalResponseNorm", "lrn2", {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}),
         ("MaxPool2d", "pool2", {"kernel": 3, "stride": 2}),
         ("Conv2d", "conv3", {"filters": 384, "kernel": 3, "padding": 1}),
         ("ReLU", "relu3", {}),
         ("Conv2d", "conv4", {"filters": 384, "kernel": 3, "padding": 1}),
         ("ReLU", "relu4", {}),
         ("Conv2d", "conv5", {"filters": 256, "kernel": 3, "padding": 1}),
         ("ReLU", "relu5", {}),
         ("MaxPool2d", "pool5", {"kernel": 3, "stride": 2}),
         ("Flatten", "flatten", {}),
         ("Dropout", "drop6", {"p": 0.5}),
         ("Linear", "fc6", {"units": 4096}),
         ("ReLU", "relu6", {}),
         ("Dropout", "drop7", {"p": 0.5}),
         ("Linear", "fc7", {"units": 4096}),
         ("ReLU", "relu7", {}),
         ("Linear", "fc8", {"units": 1000}),
         ("Output", "logits", {}))
    return _project(
        "AlexNet (227×227)\n"
        "The 2012 ImageNet winner: ReLU, local response norm, overlapping pooling, dropout.",
        net, DatasetConfig("image_folder", {"path": "", "image_size": 227, "augment": True,
                                            "jitter": 0.1}),
        epochs=90, batch=128, lr=0.01, optimizer="sgd_momentum")


def _cnn_head(net: Network, last: str, classes: int = 10) -> None:
    _seq(net,
         ("GlobalAvgPool", "gap", {}),
         ("Linear", "logits", {"units": classes}),
         ("Output", "y", {}),
         after=last)


def resnet_small() -> Project:
    net = Network("main")
    last = _seq(net,
                ("Input", "image", {"shape": [3, 32, 32], "kind": "image"}),
                ("Conv2d", "stem", {"filters": 16, "kernel": 3, "padding": 1}),
                ("BatchNorm", "stem_bn", {}),
                ("ReLU", "stem_relu", {}),
                ("ResidualBlock", "res1", {"filters": 16, "stride": 1}),
                ("ResidualBlock", "res2", {"filters": 32, "stride": 2}),
                ("ResidualBlock", "res3", {"filters": 64, "stride": 2}))
    _cnn_head(net, last)
    return _project(
        "Small ResNet on CIFAR-10\n"
        "Residual blocks add a skip connection, y = F(x) + x, so deep stacks still train.",
        net, DatasetConfig("cifar10", {"augment": True}), epochs=20, batch=128, lr=0.001)


def densenet_small() -> Project:
    net = Network("main")
    last = _seq(net,
                ("Input", "image", {"shape": [3, 32, 32], "kind": "image"}),
                ("Conv2d", "stem", {"filters": 24, "kernel": 3, "padding": 1}),
                ("DenseBlock", "dense1", {"layers": 4, "growth": 12}),
                ("TransitionLayer", "trans1", {"compression": 0.5}),
                ("DenseBlock", "dense2", {"layers": 4, "growth": 12}),
                ("BatchNorm", "bn", {}),
                ("ReLU", "relu", {}))
    _cnn_head(net, last)
    return _project(
        "Small DenseNet on CIFAR-10\n"
        "Each layer sees the concatenated features of all layers before it in its block.",
        net, DatasetConfig("cifar10"), epochs=20, batch=64, lr=0.001)


def mobilenet_small() -> Project:
    net = Network("main")
    last = _seq(net,
                ("Input", "image", {"shape": [3, 32, 32], "kind": "image"}),
                ("Conv2d", "stem", {"filters": 32, "kernel": 3, "padding": 1}),
                ("BatchNorm", "stem_bn", {}),
                ("ReLU", "stem_relu", {}),
                ("MobileNetBlock", "mb1", {"filters": 64, "stride": 1}),
                ("MobileNetBlock", "mb2", {"filters": 128, "stride": 2}),
                ("MobileNetBlock", "mb3", {"filters": 128, "stride": 1}),
                ("MobileNetBlock", "mb4", {"filters": 256, "stride": 2}))
    _cnn_head(net, last)
    return _project(
        "Small MobileNet on CIFAR-10\n"
        "Depthwise-separable convolutions: a fraction of the parameters and FLOPs of full ones.",
        net, DatasetConfig("cifar10", {"augment": True}), epochs=20, batch=128, lr=0.001)


TEMPLATE_BUILDERS = {f.__name__: f for f in (mlp, lenet, alexnet, resnet_small, densenet_small,
                                               mobilenet_small)}

if __name__ == "__main__":
    for name, build in TEMPLATE_BUILDERS.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        path = TEMPLATES / f"{name}.loom"
        save(build(), path)
        path.with_name(path.name + ".bak").unlink(missing_ok=True)
        print("wrote", path)
