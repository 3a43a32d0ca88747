"""Regenerate the gallery templates in resources/templates/ (a developer tool).

The .loom files are the product; this script is how they were written, so a change of block
params or layout can be applied to all of them at once:  python packaging/build_templates.py
Templates made elsewhere (gan_2d by the runtime) are left alone.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from template_parts import _project, _seq  # noqa: E402

from builder.document import DatasetConfig, Network, Project  # noqa: E402
from builder.serialize import save  # noqa: E402
from resources import TEMPLATES  # noqa: E402


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
        "LeNet-5 on glyph digits\n"
        "The classic small CNN: two convolution + pooling stages, then three dense layers. "
        "Trains offline on generated 28×28 digits; choose the mnist dataset for the real ones.",
        net, DatasetConfig("glyph_digits"), epochs=3, batch=128, lr=0.002)


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
         ("Linear", "fc8", {"units": 10}),
         ("Output", "logits", {}))
    # Without batch norm, PyTorch's default init shrinks the signal layer by layer until the
    # logits barely depend on the image; He init keeps its scale (fc8 stays small on purpose).
    for node in net.nodes.values():
        if node.block in ("Conv2d", "Linear") and node.id != "fc8":
            node.init = "he"
    # 1,200 generated 227×227 images: 740 MB as float32 (185 MB cached as uint8), what a
    # laptop holds comfortably.  So few images for 58M parameters: the loss sits near chance
    # for about 100 steps, then falls (measured: 42% validation accuracy after 15 epochs,
    # still rising).  For photos choose image_folder and set fc8 to its number of classes.
    return _project(
        "AlexNet (227×227)\n"
        "The 2012 ImageNet winner: ReLU, local response norm, overlapping pooling, dropout. "
        "Trains offline on 227×227 generated shapes; an image folder of photos is one "
        "dataset choice away.",
        net, DatasetConfig("shapes", {"size": "227", "n_samples": 1200}),
        epochs=30, batch=32, lr=1e-4)


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
        "Small ResNet on shapes\n"
        "Residual blocks add a skip connection, y = F(x) + x, so deep stacks still train. "
        "Trains offline on 32×32 generated shapes; CIFAR-10 is one dataset choice away.",
        net, DatasetConfig("shapes", {"n_samples": 20_000}), epochs=3, batch=128, lr=0.002)


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
        "Small DenseNet on shapes\n"
        "Each layer sees the concatenated features of all layers before it in its block. "
        "Trains offline on 32×32 generated shapes; CIFAR-10 is one dataset choice away.",
        net, DatasetConfig("shapes", {"n_samples": 20_000}), epochs=3, batch=64, lr=0.002)


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
        "Small MobileNet on shapes\n"
        "Depthwise-separable convolutions: a fraction of the parameters and FLOPs of full ones. "
        "Trains offline on 32×32 generated shapes; CIFAR-10 is one dataset choice away.",
        net, DatasetConfig("shapes", {"n_samples": 20_000}), epochs=3, batch=128, lr=0.002)


TEMPLATE_BUILDERS = {f.__name__: f for f in (mlp, lenet, alexnet, resnet_small, densenet_small,
                                               mobilenet_small)}


def wgan_gp_2d() -> Project:
    """gan_2d (hand-made, left alone) with a WGAN-GP critic: derived from it, so the two
    stay the same networks and data and differ only in the loss and its settings."""
    from builder.serialize import load

    project = load(TEMPLATES / "gan_2d.loom")
    project.description = (
        "WGAN-GP on a ring of Gaussians\n"
        "The same generator and data as the GAN, but the discriminator is a critic whose raw "
        "scores estimate the Wasserstein distance, kept smooth by a gradient penalty: five "
        "critic steps per generator step, and the estimate falls as the points find the modes.")
    # λ = 0.1, the authors' choice for 2-D toys: with λ = 10 these small nets collapse to
    # one mode in 3,000 steps; with 0.1 they cover all 8 (measured).
    project.recipe.params = {"loss": "wgan_gp", "d_steps": 5, "gp_weight": 0.1}
    for config in project.training.optimizers.values():  # Adam β = (0.5, 0.9), as there
        config.lr, config.params = 0.0005, {"betas": [0.5, 0.9]}
    project.training.samples_every, project.training.samples_unit = 25, "steps"
    return project


TEMPLATE_BUILDERS["wgan_gp_2d"] = wgan_gp_2d

# The families' templates live beside this file, one module each (they share _seq/_project):
# every templates_*.py with a BUILDERS dict is found here, so a new family edits nothing else.
for _path in sorted(Path(__file__).parent.glob("templates_*.py")):
    TEMPLATE_BUILDERS.update(importlib.import_module(_path.stem).BUILDERS)

if __name__ == "__main__":
    for name, build in TEMPLATE_BUILDERS.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        path = TEMPLATES / f"{name}.loom"
        save(build(), path)
        path.with_name(path.name + ".bak").unlink(missing_ok=True)
        print("wrote", path)
