"""The convolution demo: kernels on one image, output sizes, equivariance and pooling's
invariance."""

import numpy as np
import torch
from torch import nn

from builder.gallery import template_path
from builder.serialize import load
from runtime import conv_demo as cd


def test_sobel_x_responds_on_a_vertical_edge_only():
    img = np.zeros((16, 16))
    img[:, 8:] = 1.0
    out = cd.convolve(img, cd.KERNELS["edge: Sobel x"])  # 14×14, column j sees j..j+2
    cols = np.abs(out).max(0)
    assert cols[6] == cols[7] == 4.0 and cols[:5].max() == 0 and cols[9:].max() == 0
    assert np.abs(cd.convolve(img, cd.KERNELS["edge: Sobel y"])).max() == 0


def test_conv_commutes_with_a_shift_away_from_the_border():
    img = cd.synthetic_image(28)
    for name, kernel in cd.KERNELS.items():
        _, _, err = cd.equivariance(img, kernel, cd.Geometry(padding=(1, 1)), 3, 2)
        assert err < 1e-12, name
    # stride 2: a 4-pixel shift moves the map by 2
    _, _, err = cd.equivariance(img, cd.KERNELS["sharpen"], cd.Geometry(stride=(2, 2)), 4, 4)
    assert err < 1e-12


def test_output_size_matches_the_formula_and_a_real_conv2d():
    img = np.random.default_rng(0).random((23, 19))
    for k, s, p, d in [(3, 1, 0, 1), (5, 2, 2, 1), (3, 3, 1, 2), (4, 2, 0, 1)]:
        geo = cd.geometry({"kernel": k, "stride": s, "padding": p, "dilation": d})
        out = cd.convolve(img, np.ones((k, k)), geo)
        real = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)(
            torch.zeros(1, 1, 23, 19)).shape[2:]
        assert out.shape == tuple(real) == (cd.out_size(23, k, s, p, d),
                                            cd.out_size(19, k, s, p, d))
        text = cd.size_text(img, np.ones((k, k)), geo).splitlines()
        assert text[0].endswith(f"= {out.shape[0]}") and text[1].endswith(f"= {out.shape[1]}")
    assert cd.size_text(np.zeros((9, 9)), np.ones((3, 3)), cd.Geometry()) == \
        "H, W: ⌊(9 + 2·0 − 1·(3−1) − 1)/1⌋ + 1 = 7"
    assert cd.geometry({"kernel": 2, "stride": "kernel"}).stride == (2, 2)


def test_max_pooling_barely_changes_when_a_blocky_image_moves_one_pixel():
    img = np.kron(np.random.default_rng(1).random((7, 7)), np.ones((4, 4)))  # 4×4 blocks
    a, b, same = cd.invariance(img, "MaxPool2d", {"kernel": 2})
    assert a.shape == b.shape == (14, 14) and same > 0.6
    conv = cd.convolve(img, cd.KERNELS["identity"])
    moved = cd.convolve(cd.shift(img, 0, 1), cd.KERNELS["identity"])
    assert np.isclose(conv, moved).mean() < same  # the map itself is not invariant
    _, _, avg = cd.invariance(img, "AvgPool2d", {"kernel": 2})
    assert 0 < avg <= 1


def test_lenet_conv1_filter_and_data_image():
    project = load(template_path("lenet"))
    kernel, said = cd.layer_filter(project, "main", "conv1", 3)
    assert kernel.shape == (5, 5) and "filter 3 of 6" in said
    image, where = cd.data_image(project)
    assert image.shape == (28, 28) and "sample" in where


def test_layer_filter_reads_a_runs_weights(tmp_path):
    from builder.compiler import compile_network
    from runtime.checkpoint import save_weights

    project = load(template_path("lenet"))
    module = compile_network(project.networks["main"]).module
    with torch.no_grad():
        module.conv1.weight[2] = 0.5  # every input channel of filter 2
    save_weights(module, tmp_path / "main.safetensors")
    kernel, said = cd.layer_filter(project, "main", "conv1", 2, tmp_path)
    assert np.allclose(kernel, 0.5) and f"run {tmp_path.name}" in said
    fresh, _ = cd.layer_filter(project, "main", "conv1", 2)
    assert np.array_equal(fresh, cd.layer_filter(project, "main", "conv1", 2)[0])  # stable
    assert not np.allclose(fresh, 0.5)
