"""Which convolution's filters the training dock draws: the first that has a picture to show."""

from app.training.filters import first_conv
from builder.serialize import load
from resources import TEMPLATES


def test_a_one_by_one_convolution_is_no_picture_and_is_passed_over():
    style = load(TEMPLATES / "stylegan_shapes.loom")
    # The generator's only Conv2d is to_rgb, 1×1: one pixel per channel, a black square.
    assert first_conv(style.networks["generator"]) is None
    assert first_conv(style.networks["discriminator"]) == "d_conv1"  # 4×4 on the RGB input


def test_a_cnn_shows_its_first_convolution():
    lenet = load(TEMPLATES / "lenet.loom")
    (net,) = lenet.networks.values()
    first = first_conv(net)
    assert first is not None and net.nodes[first].params["kernel"] not in (1, [1, 1])
    assert net.nodes[first].block == "Conv2d"
