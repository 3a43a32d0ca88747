"""Style blocks (StyleGAN): AdaIN, ModulatedConv2d, NoiseInjection, LearnedConstant."""

from __future__ import annotations

import pytest
import torch
from support import check_block

from builder import blocks
from builder.shapes import ShapeError

TYPES = ["AdaIN", "ModulatedConv2d", "NoiseInjection", "LearnedConstant"]


def _built(block, ins, **over):
    spec = blocks.get(block)
    params, errors = spec.coerce_params(over)
    assert not errors, errors
    return spec, params, spec.build(params, ins)()


@pytest.mark.parametrize("block", TYPES)
def test_defaults_match_rule_meta_and_flops(block):
    spec, _, _ = check_block(block)
    assert spec.category == "Generative & special"


@pytest.mark.parametrize("params", [{"kernel": 1}, {"kernel": 3, "padding": 0},
                                    {"kernel": 5, "padding": 1, "demodulate": False,
                                     "bias": False}])
def test_modulated_conv_sizes(params):
    check_block("ModulatedConv2d", ((6, 9, 7), (5,)), filters=4, **params)


def test_shape_errors():
    spec, p, _ = _built("ModulatedConv2d", [(8, 8, 8), (16,)])
    with pytest.raises(ShapeError, match="style vector"):
        spec.shape(p, [(8, 8, 8), (4, 4)])
    with pytest.raises(ShapeError, match="channels, height, width"):
        spec.shape(p, [(64,), (16,)])
    even = dict(p, kernel=4)
    with pytest.raises(ShapeError, match="odd kernel"):
        spec.shape(even, [(8, 8, 8), (16,)])
    spec, p, _ = _built("AdaIN", [(8, 8, 8), (16,)])
    with pytest.raises(ShapeError, match="style vector"):
        spec.shape(p, [(8, 8, 8), ("T",)])


def test_adain_equals_a_hand_computation():
    torch.manual_seed(0)
    _, _, m = _built("AdaIN", [(3, 5, 4), (6,)])
    torch.nn.init.normal_(m.affine.weight)
    torch.nn.init.normal_(m.affine.bias)
    x, w = torch.randn(2, 3, 5, 4) * 3 + 1, torch.randn(2, 6)
    for n in range(2):
        gb = m.affine.weight @ w[n] + m.affine.bias
        for c in range(3):
            xc = x[n, c]
            norm = (xc - xc.mean()) / torch.sqrt(((xc - xc.mean()) ** 2).mean() + 1e-5)
            want = (1 + gb[c]) * norm + gb[3 + c]
            assert torch.allclose(m(x, w)[n, c], want, atol=1e-5)


def test_a_fresh_adain_is_instance_norm():
    _, _, m = _built("AdaIN", [(4, 6, 6), (8,)])
    x = torch.randn(3, 4, 6, 6) * 2 + 5
    want = torch.nn.functional.instance_norm(x, eps=1e-5)
    assert torch.allclose(m(x, torch.randn(3, 8)), want, atol=1e-5)


def test_demodulation_keeps_unit_variance():
    torch.manual_seed(1)
    _, _, m = _built("ModulatedConv2d", [(32, 16, 16), (16,)], filters=32, bias=False)
    x, w = torch.randn(8, 32, 16, 16), torch.randn(8, 16) * 2
    with torch.no_grad():
        y = m.eval()(x, w)
    assert 0.8 < float(y[:, :, 1:-1, 1:-1].std()) < 1.2  # inner pixels: no zero padding
    _, _, raw = _built("ModulatedConv2d", [(32, 16, 16), (16,)], filters=32, bias=False,
                       demodulate=False)
    raw.load_state_dict(m.state_dict())
    with torch.no_grad():  # without demodulation the style's scale passes through
        raw.affine.weight.mul_(3)
        m.affine.weight.mul_(3)
        assert float(raw.eval()(x, w).std()) > 1.5 * float(m.eval()(x, w).std())


def test_per_sample_kernels_differ_and_both_paths_agree():
    torch.manual_seed(2)
    _, _, m = _built("ModulatedConv2d", [(4, 8, 8), (6,)], filters=5)
    x, w = torch.randn(3, 4, 8, 8), torch.randn(3, 6)
    kernels = m.kernels(w)
    assert kernels.shape == (3, 5, 4, 3, 3)
    assert not torch.allclose(kernels[0], kernels[1])
    # demodulated: every filter of every sample has unit norm
    assert torch.allclose(kernels.square().sum(dim=(2, 3, 4)), torch.ones(3, 5), atol=1e-4)
    grouped = m.eval()(x, w)  # eval: one grouped convolution with the per-sample kernels
    scaled = m.train()(x, w)  # training: scale, shared kernel, divide
    assert torch.allclose(grouped, scaled, atol=1e-5)
    # each sample is its own kernel applied to its own input
    one = torch.nn.functional.conv2d(x[1:2], kernels[1], padding=1) + m.bias[None, :, None,
                                                                               None]
    assert torch.allclose(grouped[1:2], one, atol=1e-5)


def test_noise_injection_at_strength_zero_is_identity_and_modes():
    _, _, m = _built("NoiseInjection", [(4, 6, 6)])
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(m.train()(x), x)
    with torch.no_grad():
        m.strength.fill_(0.5)
    a, b = m.train()(x), m.train()(x)
    assert not torch.allclose(a, b)  # fresh noise every training forward
    d = (a - x) / 0.5
    assert torch.allclose(d[:, 0], d[:, 3])  # one noise value per pixel, shared by channels
    assert not torch.allclose(d[0], d[1])  # … and per sample
    m.eval()
    assert torch.equal(m(x), m(x))  # const: a fixed map
    assert torch.allclose(m(x) - x, 0.5 * m.fixed.expand(2, 4, 6, 6))
    m.mode = "none"
    assert torch.equal(m(x), x)
    m.mode = "random"
    assert not torch.allclose(m(x), m(x))
    m.generator = torch.Generator().manual_seed(3)
    first = m(x)
    m.generator = torch.Generator().manual_seed(3)
    assert torch.equal(m(x), first)  # a picture's own generator: repeatable draws


def test_learned_constant_takes_the_batch_size_from_its_input():
    spec, p, m = _built("LearnedConstant", [(16,)], shape=[8, 4, 4])
    assert spec.shape(p, [(16,)]) == [(8, 4, 4)]
    y = m(torch.randn(5, 16))
    assert y.shape == (5, 8, 4, 4) and torch.equal(y[0], y[4])
    y.sum().backward()
    assert m.value.grad is not None and float(m.value.grad.abs().sum()) > 0


def test_catalogue_import_is_torch_free():
    import subprocess
    import sys

    code = ("import sys; import builder.blocks.style; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
