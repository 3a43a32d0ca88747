"""Convolution blocks: fast shape rules agree with torch (real and meta tensors), FLOPs agree
with FlopCounterMode, errors read well, and custom modules match hand-written torch code."""

from __future__ import annotations

import inspect
import math
import random
import warnings

import pytest
import torch
import torch.nn.functional as F
from support import check_block
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from builder.blocks import get
from builder.blocks.modules.conv import SeparableConv2d, SpatialSeparableConv2d
from builder.shapes import ShapeError, concretize

BLOCKS = ["Conv1d", "Conv2d", "SeparableConv2d", "PointwiseConv2d", "SpatialSeparableConv2d",
          "ConvTranspose2d", "Upsample"]


@pytest.fixture(autouse=True)
def _quiet():
    # torch warns that 'same' padding with an even kernel copies the input: harmless here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*padding='same'.*", category=UserWarning)
        yield


def params(block: str, **kw):
    spec = get(block)
    p, errors = spec.coerce_params(kw)
    assert not errors, errors
    return p


def rule(block, p, ins):
    return [tuple(s) for s in get(block).shape(p, list(ins))]


def run_real(block, p, ins, batch=2):
    module = get(block).build(p, list(ins))()
    with torch.no_grad():
        y = module(*(torch.randn(batch, *s) for s in ins))
    return [tuple(y.shape[1:])], module


def run_meta(block, p, ins):
    with torch.device("meta"):
        module = get(block).build(p, list(ins))()
        with torch.no_grad():
            y = module(*(torch.empty(2, *s) for s in ins))
    return [tuple(y.shape[1:])]


def torch_flops(module, ins):
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        module(*(torch.randn(1, *s) for s in ins))
    return fc.get_total_flops()


def n_params(module):
    return sum(t.numel() for t in module.parameters())


# --- every block, from its defaults and example inputs -------------------------------------


@pytest.mark.parametrize("block", BLOCKS)
def test_defaults_agree_with_torch(block):
    spec = get(block)
    assert spec.category == "Convolution"
    p, ins = spec.defaults(), list(spec.example_inputs)
    out = rule(block, p, ins)
    real, module = run_real(block, p, ins)
    assert real == out
    assert run_meta(block, p, ins) == out
    if spec.flops is not None:
        assert spec.flops(p, ins, out) == torch_flops(module, ins)
    else:
        assert torch_flops(module, ins) == 0
    text = spec.explain(p, ins, out)
    assert 1 <= len(text.splitlines()) <= 3
    if spec.has_weights:
        assert f"= {n_params(module):,}" in text  # the params formula ends in the true count
    else:
        assert n_params(module) == 0
    assert spec.concept and spec.label


def test_titles():
    assert get("SeparableConv2d").title == "Depthwise-separable Conv2d"
    assert get("PointwiseConv2d").title == "Pointwise 1×1"
    assert get("SpatialSeparableConv2d").title == "Spatially separable k×1+1×k"


# --- random params: the fast rule is torch's rule ----------------------------------------


def _pair(r, lo, hi):
    return r.randint(lo, hi) if r.random() < 0.7 else (r.randint(lo, hi), r.randint(lo, hi))


def _random_case(block, r):
    c = r.choice([1, 2, 3, 4, 6])
    h, w = r.randint(1, 12), r.randint(1, 12)
    bias = r.random() < 0.5
    if block == "Conv1d":
        pad = "same" if r.random() < 0.25 else r.randint(0, 3)
        kw = dict(filters=r.choice([1, 2, 3, 4, 6]), kernel=r.randint(1, 5),
                  stride=r.randint(1, 3), padding=pad, dilation=r.randint(1, 3),
                  groups=r.randint(1, 3), bias=bias)
        return kw, [(c, r.randint(1, 16))]
    if block == "Conv2d":
        pad = "same" if r.random() < 0.25 else _pair(r, 0, 3)
        kw = dict(filters=r.choice([1, 2, 3, 4, 6]), kernel=_pair(r, 1, 5),
                  stride=_pair(r, 1, 3), padding=pad, dilation=_pair(r, 1, 3),
                  groups=r.randint(1, 3), bias=bias)
    elif block == "SeparableConv2d":
        pad = "same" if r.random() < 0.25 else _pair(r, 0, 3)
        kw = dict(filters=r.randint(1, 5), kernel=_pair(r, 1, 5), stride=_pair(r, 1, 3),
                  padding=pad, dilation=_pair(r, 1, 2), depth_multiplier=r.randint(1, 2),
                  bias=bias)
    elif block == "PointwiseConv2d":
        kw = dict(filters=r.choice([1, 2, 3, 4, 6]), stride=_pair(r, 1, 3),
                  groups=r.randint(1, 3), bias=bias)
    elif block == "SpatialSeparableConv2d":
        pad = "same" if r.random() < 0.25 else r.randint(0, 3)
        kw = dict(filters=r.randint(1, 5), kernel=r.randint(1, 5), stride=r.randint(1, 3),
                  padding=pad, bias=bias)
    elif block == "ConvTranspose2d":
        kw = dict(filters=r.randint(1, 5), kernel=_pair(r, 1, 5), stride=_pair(r, 1, 3),
                  padding=_pair(r, 0, 3), output_padding=_pair(r, 0, 2),
                  dilation=_pair(r, 1, 2), bias=bias)
    else:
        kw = dict(scale=r.choice([0.25, 0.3, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
                  mode=r.choice(["nearest", "bilinear"]))
    return kw, [(c, h, w)]


@pytest.mark.parametrize("block", BLOCKS)
def test_random_params_match_torch(block):
    r = random.Random(f"conv-{block}")
    spec = get(block)
    accepted = refused = 0
    for _ in range(150):
        kw, ins = _random_case(block, r)
        p = params(block, **kw)
        try:
            out = rule(block, p, ins)
        except ShapeError as e:
            refused += 1
            assert str(e).startswith((block, spec.label, "Spatially separable")), str(e)
            with pytest.raises((ValueError, RuntimeError)):  # torch refuses too, on real data
                run_real(block, p, ins)
            continue
        accepted += 1
        real, module = run_real(block, p, ins)
        assert real == out, (kw, ins)
        assert run_meta(block, p, ins) == out, (kw, ins)
        if spec.flops is not None:
            assert spec.flops(p, ins, out) == torch_flops(module, ins), (kw, ins)
        if spec.has_weights:
            assert f"= {n_params(module):,}" in spec.explain(p, ins, out), (kw, ins)
        else:
            spec.explain(p, ins, out)
    assert accepted > 30 and (refused > 10 or block == "PointwiseConv2d")


def test_symbolic_length_rule_matches_torch_for_every_length():
    r = random.Random("conv1d-symbolic")
    for _ in range(40):
        kw, _ins = _random_case("Conv1d", r)
        p = params("Conv1d", **dict(kw, groups=1))
        try:
            (out,) = rule("Conv1d", p, [(3, "T")])
        except ShapeError:
            assert kw["padding"] == "same" and kw["stride"] > 1
            continue
        for t in (13, 14, 21, 40):
            (real,), _ = run_real("Conv1d", p, [(3, t)])
            assert concretize(out, {"T": t}) == real, (kw, out, t)


# --- the course examples -------------------------------------------------------------------


def test_alexnet_conv1():
    p = params("Conv2d", filters=96, kernel=11, stride=4)
    ins = [(3, 227, 227)]
    out = rule("Conv2d", p, ins)
    assert out == [(96, 55, 55)]
    real, module = run_real("Conv2d", p, ins, batch=1)
    assert real == out and n_params(module) == 34_944
    text = get("Conv2d").explain(p, ins, out)
    assert "H_out = ⌊(227 + 2·0 − 1·(11−1) − 1)/4⌋ + 1 = 55" in text
    assert "params = 96·(3/1·11·11) + 96 = 34,944" in text
    assert get("Conv2d").rf(p) == (11, 4, 1)


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (5, 1), (3, 2), (4, 1), ((3, 5), 1)])
def test_same_padding_keeps_height_and_width(kernel, dilation):
    p = params("Conv2d", filters=8, kernel=kernel, padding="same", dilation=dilation)
    ins = [(3, 13, 10)]
    assert rule("Conv2d", p, ins) == [(8, 13, 10)]
    assert run_real("Conv2d", p, ins)[0] == [(8, 13, 10)]
    assert "keeps the input's 13×10" in get("Conv2d").explain(p, ins, [(8, 13, 10)])


def test_depthwise_conv_params():
    p = params("Conv2d", filters=32, kernel=3, padding=1, groups=32)
    ins = [(32, 16, 16)]
    out = rule("Conv2d", p, ins)
    assert out == [(32, 16, 16)]
    _, module = run_real("Conv2d", p, ins)
    assert n_params(module) == 32 * 3 * 3 + 32 == 320
    text = get("Conv2d").explain(p, ins, out)
    assert "params = 32·(32/32·3·3) + 32 = 320" in text and "depthwise" in text
    assert get("Conv2d").flops(p, ins, out) == torch_flops(module, ins) == 2 * 16 * 16 * 32 * 9


def test_grouped_conv_params():
    p = params("Conv2d", filters=256, kernel=5, padding=2, groups=2)
    ins = [(96, 27, 27)]  # AlexNet conv2, split over two GPUs
    out = rule("Conv2d", p, ins)
    assert out == [(256, 27, 27)]
    _, module = run_real("Conv2d", p, ins, batch=1)
    assert n_params(module) == 256 * 48 * 25 + 256
    assert "grouped" in get("Conv2d").explain(p, ins, out)


def test_conv1d_symbolic_length():
    spec = get("Conv1d")
    same = params("Conv1d", filters=8, kernel=5, padding="same")
    assert rule("Conv1d", same, [(4, "T")]) == [(8, "T")]
    keep = params("Conv1d", filters=8, kernel=3, padding=1)
    assert rule("Conv1d", keep, [(4, "T")]) == [(8, "T")]
    strided = params("Conv1d", filters=8, kernel=4, stride=2, padding=1, dilation=2)
    (out,) = rule("Conv1d", strided, [(4, "T")])
    assert out[0] == 8 and isinstance(out[1], str)
    for t in range(6, 40):
        (real,), _ = run_real("Conv1d", strided, [(4, t)])
        assert concretize(out, {"T": t}) == real
    assert spec.flops(same, [(4, "T")], [(8, "T")]) == 2 * 8 * 4 * 5  # per time step
    assert "keeps the input's T" in spec.explain(same, [(4, "T")], [(8, "T")])


# --- errors a student can read ---------------------------------------------------------------


def _error(block, ins, **kw):
    with pytest.raises(ShapeError) as e:
        rule(block, params(block, **kw), ins)
    return str(e.value)


def test_kernel_larger_than_input():
    assert _error("Conv2d", [(3, 8, 8)], kernel=11) == \
        "Conv2d: kernel 11 is larger than the 8×8 input plus padding 0"
    msg = _error("Conv2d", [(3, 8, 8)], kernel=3, dilation=5)
    assert "dilation 5 spans 11" in msg and "8×8 input" in msg
    assert "length-4" in _error("Conv1d", [(3, 4)], kernel=7)
    assert "2×2 input" in _error("SeparableConv2d", [(3, 2, 2)], kernel=5)
    assert "3×3 input" in _error("SpatialSeparableConv2d", [(3, 3, 3)], kernel=5)


def test_same_padding_needs_stride_one():
    msg = _error("Conv2d", [(3, 8, 8)], padding="same", stride=2)
    assert "stride 1" in msg and "stride 2" in msg and "use padding 1" in msg
    assert "stride 1" in _error("Conv1d", [(3, 8)], padding="same", stride=3)
    assert "stride 1" in _error("SeparableConv2d", [(3, 8, 8)], padding="same", stride=2)
    assert "stride 1" in _error("SpatialSeparableConv2d", [(3, 8, 8)], padding="same",
                                stride=2)


def test_groups_must_divide_channels():
    msg = _error("Conv2d", [(16, 8, 8)], filters=32, groups=3)
    assert msg.startswith("Conv2d: groups 3 must divide both the 16 input channels and the 32")
    assert "filters are not divisible by 4" in _error("Conv2d", [(16, 8, 8)], filters=6,
                                                       groups=4)
    assert "groups 5" in _error("PointwiseConv2d", [(16, 8, 8)], groups=5)
    assert "groups 3" in _error("Conv1d", [(16, 8)], groups=3)


def test_wrong_rank_and_unknown_channels():
    assert "[channels, height, width]" in _error("Conv2d", [(784,)])
    assert "Reshape" in _error("Conv2d", [(784,)])
    assert "known number of channels" in _error("Conv2d", [("C", 8, 8)])
    msg = _error("Conv1d", [("T", 8)])
    assert "transposed" in msg and "[T, 8]" in msg
    assert "[channels, length]" in _error("Conv1d", [(3, 8, 8)])
    assert "[channels, height, width]" in _error("Upsample", [(3, 8)])


def test_conv_transpose_rules():
    p = params("ConvTranspose2d", filters=8, kernel=4, stride=2, padding=1)
    ins = [(16, 7, 7)]
    out = rule("ConvTranspose2d", p, ins)
    assert out == [(8, 14, 14)]  # doubles the size, as in DCGAN
    text = get("ConvTranspose2d").explain(p, ins, out)
    assert "H_out = (7−1)·2 − 2·1 + 1·(4−1) + 0 + 1 = 14" in text
    assert "params = 16·8·4·4 + 8 = 2,056" in text
    msg = _error("ConvTranspose2d", ins, stride=2, output_padding=2)
    assert "output_padding 2 must be smaller than the stride 2 or the dilation 1" in msg
    assert rule("ConvTranspose2d", params("ConvTranspose2d", stride=1, dilation=2,
                                          output_padding=1), ins) == [(16, 12, 12)]
    assert "trims the whole output" in _error("ConvTranspose2d", [(3, 1, 1)], kernel=1,
                                              stride=1, padding=1)
    sym = params("ConvTranspose2d", filters=4)
    (o,) = rule("ConvTranspose2d", sym, [(3, "H", 5)])
    assert concretize(o, {"H": 6})[1] == 12 and o[2] == 10


def test_upsample():
    p = params("Upsample", scale=2.5, mode="bilinear")
    ins = [(3, 7, 6)]
    out = rule("Upsample", p, ins)
    assert out == [(3, 17, 15)]
    x = torch.randn(2, *ins[0])
    y = get("Upsample").build(p, ins)()(x)
    torch.testing.assert_close(y, F.interpolate(x, scale_factor=2.5, mode="bilinear",
                                                align_corners=False))
    assert "shrinks the 3×3 input to nothing" in _error("Upsample", [(3, 3, 3)], scale=0.25)
    assert rule("Upsample", params("Upsample"), [(3, "H", 4)]) == [(3, "H*2", 8)]


# --- custom modules: identical to hand-written torch ----------------------------------------


def test_separable_equals_depthwise_then_pointwise():
    p = params("SeparableConv2d", filters=12, kernel=3, stride=2, padding=1,
               depth_multiplier=2)
    ins = [(4, 9, 9)]
    module = get("SeparableConv2d").build(p, ins)()
    assert isinstance(module, SeparableConv2d)
    assert module.depthwise.groups == 4 and module.depthwise.bias is None
    assert module.pointwise.kernel_size == (1, 1)
    x = torch.randn(2, *ins[0])
    ref = F.conv2d(x, module.depthwise.weight, stride=2, padding=1, groups=4)
    ref = F.conv2d(ref, module.pointwise.weight, module.pointwise.bias)
    torch.testing.assert_close(module(x), ref)
    out = rule("SeparableConv2d", p, ins)
    assert out == [(12, 5, 5)]
    assert n_params(module) == 4 * 2 * 9 + 12 * 8 + 12
    assert get("SeparableConv2d").rf(p) == (3, 2, 1)


def test_spatial_separable_equals_full_conv_with_rank_one_kernel():
    p = params("SpatialSeparableConv2d", filters=5, kernel=3, padding=1, bias=False)
    ins = [(2, 8, 7)]
    module = get("SpatialSeparableConv2d").build(p, ins)()
    assert isinstance(module, SpatialSeparableConv2d)
    assert module.vertical.kernel_size == (3, 1) and module.horizontal.kernel_size == (1, 3)
    x = torch.randn(2, *ins[0], dtype=torch.float64)
    module = module.double()
    # The composition is one 3×3 conv whose kernel is Σ_m horizontal[o, m] ⊗ vertical[m, c].
    v, h = module.vertical.weight[..., 0], module.horizontal.weight[:, :, 0]
    full = torch.einsum("omj,mci->ocij", h, v)
    torch.testing.assert_close(module(x), F.conv2d(x, full, padding=1))
    assert rule("SpatialSeparableConv2d", p, ins) == [(5, 8, 7)]
    assert get("SpatialSeparableConv2d").rf(p) == (3, 1, 1)


def test_pointwise_is_a_per_pixel_linear_layer():
    p = params("PointwiseConv2d", filters=6, bias=True)
    ins = [(4, 5, 5)]
    module = get("PointwiseConv2d").build(p, ins)()
    x = torch.randn(2, *ins[0])
    ref = torch.einsum("oc,nchw->nohw", module.weight[:, :, 0, 0], x) + \
        module.bias[None, :, None, None]
    torch.testing.assert_close(module(x), ref)
    strided = params("PointwiseConv2d", filters=6, stride=2)
    assert rule("PointwiseConv2d", strided, [(4, 7, 8)]) == [(6, 4, 4)]
    assert get("PointwiseConv2d").rf(strided) == (1, 2, 1)


@pytest.mark.parametrize("cls", [SeparableConv2d, SpatialSeparableConv2d])
def test_custom_modules_are_self_contained(cls):
    """Code generation copies the class source: it may only use torch, nn, F and math."""
    ns = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(compile(inspect.getsource(cls), "<generated>", "exec"), ns)  # noqa: S102
    copy = ns[cls.__name__](3, 4, 3, padding=1)
    assert copy(torch.randn(1, 3, 6, 6)).shape == (1, 4, 6, 6)


def test_rf_for_windowed_blocks():
    assert get("Conv2d").rf(params("Conv2d", kernel=5, stride=2, dilation=2)) == (5, 2, 2)
    assert get("Conv1d").rf(params("Conv1d", kernel=7, stride=3)) == (7, 3, 1)
    assert get("SpatialSeparableConv2d").rf(params("SpatialSeparableConv2d", kernel=7,
                                                   stride=2)) == (7, 2, 1)


def test_rf_is_three_ints_even_for_non_square_windows():
    p = params("Conv2d", kernel=(3, 5), stride=(2, 1), dilation=(1, 2))
    assert get("Conv2d").rf(p) == (5, 2, 2)
    assert get("SeparableConv2d").rf(params("SeparableConv2d", kernel=(1, 7))) == (7, 1, 1)
    assert get("PointwiseConv2d").rf(params("PointwiseConv2d", stride=(1, 2))) == (1, 2, 1)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_fill_the_border_as_named_and_export_with_parity(mode, tmp_path):
    from builder.compiler import compile_network
    from builder.document import Network
    from runtime.export import export_onnx, parity

    spec, p, m = check_block("Conv2d", [(1, 5, 5)], filters=1, kernel=3, padding=1,
                             padding_mode=mode, bias=False)
    assert m.padding_mode == mode
    text = spec.explain(p, [(1, 5, 5)], [(1, 5, 5)])
    assert {"reflect": "mirrored", "replicate": "edge pixels", "circular": "wraps"}[mode] in text
    with torch.no_grad():
        m.weight.zero_()
        m.weight[0, 0, 1, 0] = 1.0  # each output is the input pixel on its left
    x = torch.arange(1.0, 6.0).view(1, 1, 1, 5).expand(1, 1, 5, 5)  # columns 1 2 3 4 5
    left = {"reflect": 2.0, "replicate": 1.0, "circular": 5.0}[mode]
    assert m(x)[0, 0, 0].tolist() == [left, 1, 2, 3, 4]
    net = Network("conv")
    net.chain(net.add("Input", id="x", shape=[3, 8, 8], kind="image"),
              net.add("Conv2d", id="conv", filters=4, kernel=3, padding="same",
                      padding_mode=mode),
              net.add("Output", id="y"))
    compiled = compile_network(net)
    assert parity(compiled, export_onnx(compiled, tmp_path / "conv.onnx")) <= 1e-5


def test_mirrored_padding_wider_than_the_image_is_refused_in_a_sentence():
    spec = get("Conv2d")
    p, _ = spec.coerce_params({"filters": 4, "kernel": 3, "padding": 4,
                               "padding_mode": "reflect"})
    with pytest.raises(ShapeError, match="reflect padding of 4 needs an input wider than 4"):
        spec.shape(p, [(3, 4, 8)])
    p, _ = spec.coerce_params({"filters": 4, "kernel": 9, "padding": "same",
                               "padding_mode": "circular"})
    with pytest.raises(ShapeError, match="circular padding of 4"):
        spec.shape(p, [(3, 16, 3)])
    p, _ = spec.coerce_params({"filters": 4, "kernel": 3, "padding": 4,
                               "padding_mode": "replicate"})  # copies: any width will do
    assert spec.shape(p, [(3, 2, 2)]) == [(4, 8, 8)]
