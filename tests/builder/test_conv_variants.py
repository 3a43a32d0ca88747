"""The convolution-variants table: every figure equals the textbook hand computation, the
networks are made of the real blocks, and arguments no variant could build are refused."""

import pytest

from builder.conv_variants import (
    HEADER,
    VARIANTS,
    conv_variants,
    headline,
    table_rows,
    variant_networks,
)


def by_name(**kw):
    return {r.variant: r for r in conv_variants(**kw)}


def test_default_figures_equal_hand_computations():
    c, f, k, h, g = 64, 128, 3, 32, 4
    rows = by_name()
    assert list(rows) == list(VARIANTS)
    positions = h * h
    std = rows["Standard"]
    assert std.params == k * k * c * f + f == 73_856
    assert std.flops == 2 * positions * f * c * k * k  # a multiply and an add per weight
    assert std.output_shape == (f, h, h)
    assert std.receptive_field == k and std.params_ratio == std.flops_ratio == 1.0

    dil = rows["Dilated"]
    assert (dil.params, dil.flops) == (std.params, std.flops)  # same weights, wider field
    assert dil.receptive_field == 1 + (k - 1) * 2 == 5

    sep = rows["Depthwise-separable"]
    assert sep.params == (k * k * c + c) + (c * f + f) == 8_960
    assert sep.flops == 2 * positions * (c * k * k + f * c)
    assert sep.flops_ratio == pytest.approx(1 / f + 1 / (k * k))  # the MobileNet ratio
    assert sep.params_ratio == pytest.approx(8_960 / 73_856)
    assert sep.receptive_field == k and sep.output_shape == (f, h, h)

    grouped = rows["Grouped"]
    assert grouped.params == k * k * (c // g) * f + f
    assert grouped.flops_ratio == pytest.approx(1 / g)

    pw = rows["Pointwise 1×1"]
    assert pw.params == c * f + f and pw.receptive_field == 1
    assert pw.flops_ratio == pytest.approx(1 / (k * k))

    ss = rows["Spatially separable"]  # k×1 (c→f) then 1×k (f→f), each with a bias
    assert ss.params == (k * c * f + f) + (k * f * f + f)
    assert ss.flops == 2 * positions * (f * c * k + f * f * k)
    assert ss.receptive_field == k

    tr = rows["Transposed"]
    assert tr.output_shape == (f, 2 * h, 2 * h)  # stride 2 doubles the size
    assert tr.params == c * f * k * k + f
    assert tr.flops == 2 * positions * c * f * k * k  # counted over the input positions
    assert tr.receptive_field is None


@pytest.mark.parametrize("k", [1, 2, 4, 5, 7])
def test_every_kernel_keeps_the_size_and_transposed_doubles_it(k):
    rows = by_name(c_in=8, c_out=16, kernel=k, height=12, width=10, groups=2)
    for r in rows.values():
        want = (16, 24, 20) if r.variant == "Transposed" else (16, 12, 10)
        assert r.output_shape == want, r.variant
    assert rows["Dilated"].receptive_field == 1 + 2 * (k - 1)
    assert rows["Standard"].params == k * k * 8 * 16 + 16


def test_the_networks_use_the_real_blocks():
    nets = {v: (blocks, net) for v, blocks, net in variant_networks(groups=8)}
    _, sep = nets["Depthwise-separable"]
    chain = [n.block for n in sep.nodes.values()]
    assert chain == ["Input", "Conv2d", "PointwiseConv2d", "Output"]
    assert sep.nodes["conv1"].params["groups"] == 64
    assert nets["Grouped"][1].nodes["conv1"].params["groups"] == 8
    assert nets["Dilated"][0] == "Conv2d 3×3 dilation 2"
    assert nets["Spatially separable"][1].nodes["conv1"].block == "SpatialSeparableConv2d"
    assert nets["Transposed"][1].nodes["conv1"].block == "ConvTranspose2d"


@pytest.mark.parametrize("kw, named", [
    ({"groups": 3}, "groups"),
    ({"c_out": 100, "groups": 8}, "groups"),
    ({"kernel": 0}, "kernel"),
    ({"c_in": -1}, "c_in"),
    ({"height": 2.5}, "height"),
])
def test_bad_arguments_are_refused_by_name(kw, named):
    with pytest.raises(ValueError, match=named):
        conv_variants(**kw)


def test_table_rows_and_headline_come_from_the_figures():
    rows = conv_variants()
    table = table_rows(rows)
    assert len(table[0]) == len(HEADER)
    assert table[0][:6] == ("Standard", "Conv2d 3×3", "128×32×32", 73_856, 150_994_944, "3×3")
    assert table[-1][5] == ""  # no single input window for the transposed conv
    text = headline(rows)
    assert "12.1%" in text and "5×5" in text
