"""Normalization blocks: shape rule vs torch (real and meta), FLOPs, errors, numbers vs torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from builder.blocks import by_category, get
from builder.shapes import ShapeError
from tests.blocks.support import _params, check_block, check_random_params

CATEGORY = "Normalization"
TYPES = ["BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "LocalResponseNorm",
         "L2Normalize"]
SYMBOLS = {"T": 5}


# --- every block ----------------------------------------------------------------------------


def test_category_holds_exactly_these_blocks():
    assert [s.type for s in by_category()[CATEGORY]] == TYPES


@pytest.mark.parametrize("block", TYPES)
def test_defaults_run_with_the_fast_rule_shapes(block):
    spec, _, _ = check_block(block)
    assert spec.category == CATEGORY
    assert spec.keeps_space
    assert spec.concept and spec.explain is not None
    assert all(q.help for q in spec.params)
    assert spec.has_weights == (block not in ("LocalResponseNorm", "L2Normalize"))


VARIANTS = [
    ("BatchNorm", [(16,)], {}),
    ("BatchNorm", [(16, "T")], {"momentum": 0.3, "eps": 1e-3}),
    ("BatchNorm", [(16, 8, 8)], {"affine": False}),
    ("BatchNorm", [(4, 3, 5, 5)], {}),
    ("LayerNorm", [(32,)], {}),
    ("LayerNorm", [("T", 32)], {}),
    ("LayerNorm", [(4, 8, 8)], {"axes": 3, "affine": False}),
    ("LayerNorm", [(4, 8, 8)], {"axes": 2}),
    ("GroupNorm", [(32,)], {}),
    ("GroupNorm", [(32, "T")], {"groups": 4}),
    ("GroupNorm", [(6, 5, 5)], {"groups": 3, "affine": False}),
    ("GroupNorm", [(6, 5, 5)], {"groups": 1}),
    ("InstanceNorm", [(3, "T", 7)], {"affine": True}),
    ("InstanceNorm", [(3, 1, 2)], {}),
    ("LocalResponseNorm", [(16, "T")], {"size": 3}),
    ("LocalResponseNorm", [(4, 3, 3, 3)], {"size": 2, "k": 1.0}),
]


@pytest.mark.parametrize(("block", "ins", "params"), VARIANTS)
def test_variants_run_with_the_fast_rule_shapes(block, ins, params):
    check_block(block, ins, **params)


@pytest.mark.parametrize("block", TYPES)
def test_random_params_agree_with_meta(block):
    check_random_params(block, [(16,), (32, 4), (12, 5, 5), (8, "T"), (24, 2, 3, 3), (4, 1, 1)])


@pytest.mark.parametrize("block", TYPES)
def test_constructor_args_are_plain_values(block):
    spec = get(block)
    call = spec.build(spec.defaults(), list(spec.example_inputs))
    # torch.nn has no L2 normalisation module: that one block's module is Layerloom's own
    assert call.cls.__module__.startswith("torch.nn") or block == "L2Normalize"
    for v in [*call.args, *dict(call.kwargs).values()]:
        assert isinstance(v, (int, float, bool, str, tuple))
        if isinstance(v, tuple):
            assert all(isinstance(d, int) for d in v)


# --- BatchNorm ------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "cls"), [
    ((16,), nn.BatchNorm1d), ((16, "T"), nn.BatchNorm1d), ((16, 8, 8), nn.BatchNorm2d),
    ((4, 3, 5, 5), nn.BatchNorm3d),
])
def test_batchnorm_picks_the_torch_class_from_the_rank(shape, cls):
    _, _, m = check_block("BatchNorm", [shape], momentum=0.2, eps=1e-4, affine=True)
    assert type(m) is cls
    assert (m.num_features, m.momentum, m.eps, m.affine) == (shape[0], 0.2, 1e-4, True)


def test_batchnorm_numbers_match_torch_in_train_and_eval():
    _, _, m = check_block("BatchNorm", [(4, 6, 6)], momentum=0.3)
    with torch.no_grad():
        m.weight.uniform_(0.5, 2)
        m.bias.uniform_(-1, 1)
    ref = nn.BatchNorm2d(4, momentum=0.3)
    ref.load_state_dict(m.state_dict())
    for _ in range(3):
        x = torch.randn(5, 4, 6, 6) * 3 + 1
        torch.testing.assert_close(m.train()(x), ref.train()(x))
    torch.testing.assert_close(m.running_mean, ref.running_mean)
    torch.testing.assert_close(m.running_var, ref.running_var)
    x = torch.randn(5, 4, 6, 6)
    torch.testing.assert_close(m.eval()(x), ref.eval()(x))
    # By hand: per channel over batch and positions, biased variance.
    m.train()
    y = m(x)
    mu = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    w, b = m.weight.view(1, -1, 1, 1), m.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(y, w * (x - mu) / torch.sqrt(var + 1e-5) + b)


# --- LayerNorm ------------------------------------------------------------------------------


def test_layernorm_normalises_the_last_k_axes():
    _, _, m = check_block("LayerNorm", [(4, 8, 8)], axes=2, eps=1e-3)
    assert m.normalized_shape == (8, 8)
    with torch.no_grad():
        m.weight.uniform_(0.5, 2)
        m.bias.uniform_(-1, 1)
    x = torch.randn(3, 4, 8, 8)
    torch.testing.assert_close(m(x), F.layer_norm(x, (8, 8), m.weight, m.bias, 1e-3))
    _, _, m = check_block("LayerNorm", [(4, 8, 8)], axes=3, affine=False)
    y = m(x)
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(1, 2, 3), unbiased=False), torch.ones(3), atol=1e-3,
                               rtol=0)


# --- GroupNorm ------------------------------------------------------------------------------


def test_groupnorm_numbers_match_torch():
    _, _, m = check_block("GroupNorm", [(6, 5, 5)], groups=3, eps=1e-4)
    with torch.no_grad():
        m.weight.uniform_(0.5, 2)
        m.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(m(x), F.group_norm(x, 3, m.weight, m.bias, 1e-4))
    g = x.view(2, 3, 2 * 25)
    by_hand = ((g - g.mean(-1, keepdim=True)) / torch.sqrt(g.var(-1, unbiased=False,
                                                                   keepdim=True) + 1e-4))
    by_hand = by_hand.view(2, 6, 5, 5) * m.weight.view(1, -1, 1, 1) + m.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(m(x), by_hand)


# --- InstanceNorm ---------------------------------------------------------------------------


def test_instancenorm_numbers_match_torch():
    _, _, m = check_block("InstanceNorm", [(3, 6, 7)], affine=True, eps=1e-4)
    assert type(m) is nn.InstanceNorm2d and m.affine
    with torch.no_grad():
        m.weight.uniform_(0.5, 2)
        m.bias.uniform_(-1, 1)
    x = torch.randn(2, 3, 6, 7) * 2 + 3
    torch.testing.assert_close(m(x), F.instance_norm(x, weight=m.weight, bias=m.bias, eps=1e-4))
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    by_hand = (x - mu) / torch.sqrt(var + 1e-4) * m.weight.view(1, -1, 1, 1) \
        + m.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(m(x), by_hand)
    _, _, m = check_block("InstanceNorm")
    assert not m.affine and sum(q.numel() for q in m.parameters()) == 0


# --- LocalResponseNorm ----------------------------------------------------------------------


def test_lrn_defaults_are_alexnets_and_match_the_formula():
    spec = get("LocalResponseNorm")
    assert spec.label == "Local response norm"
    assert spec.defaults() == {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
    _, _, m = check_block("LocalResponseNorm", [(7, 4, 4)])
    x = torch.randn(2, 7, 4, 4) * 10
    torch.testing.assert_close(m(x), F.local_response_norm(x, 5, 1e-4, 0.75, 2.0))
    # b_c = a_c / (k + α/n Σ_{j=c-2}^{c+2} a_j²)^β, with channels outside the range counting 0.
    sq = F.pad(x * x, (0, 0, 0, 0, 2, 2))
    window = torch.stack([sq[:, c:c + 5].sum(1) for c in range(7)], dim=1)
    torch.testing.assert_close(m(x), x / (2.0 + 1e-4 / 5 * window) ** 0.75)


# --- explain --------------------------------------------------------------------------------


def _explain(block, ins=None, **params):
    spec = get(block)
    p = _params(spec, **params)
    ins = list(ins or spec.example_inputs)
    return spec.explain(p, ins, spec.shape(p, ins))


@pytest.mark.parametrize(("block", "ins", "params"), VARIANTS + [(t, None, {}) for t in TYPES])
def test_explain_param_count_matches_the_module(block, ins, params):
    spec, p, m = check_block(block, ins, **params)
    text = _explain(block, ins, **params)
    n = sum(q.numel() for q in m.parameters())
    if n:
        assert f"= {n:,} (γ and β)" in text
    elif spec.has_weights:
        assert "no learned params" in text


def test_explain_fills_in_the_users_numbers():
    text = _explain("BatchNorm", [(16, 8, 8)], momentum=0.2)
    assert "8×8 = 64 positions" in text and "BatchNorm2d" in text and "momentum 0.2" in text
    assert "params = 2·16 = 32" in text
    assert "over the batch (BatchNorm1d)" in _explain("BatchNorm", [(16,)])
    assert "last 2 axes [8, 8] (64 values)" in _explain("LayerNorm", [(4, 8, 8)], axes=2)
    assert "last axis [32]" in _explain("LayerNorm", [(10, 32)])
    assert "8 groups of 4" in _explain("GroupNorm", [(32, 8, 8)])
    assert "4×8×8 = 256 values" in _explain("GroupNorm", [(32, 8, 8)])
    assert "2 + 0.0001/5 · Σ a_j²)^0.75" in _explain("LocalResponseNorm")


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("block", "params", "shape", "words"), [
    ("BatchNorm", {}, (), ["channel axis"]),
    ("BatchNorm", {}, ("C", 8, 8), ["known channel count", "[C, 8, 8]"]),
    ("BatchNorm", {}, (2, 3, 4, 5, 6), ["[C, H, W]", "[2, 3, 4, 5, 6]"]),
    ("LayerNorm", {"axes": 3}, (10, 32), ["last 3 axes", "[10, 32]", "only 2"]),
    ("LayerNorm", {"axes": 2}, ("T", 64), ["known sizes", "[T, 64]"]),
    ("GroupNorm", {"groups": 5}, (32, 8, 8), ["5 groups", "32 channels", "[32, 8, 8]",
                                               "1, 2, 4, 8, 16, 32"]),
    ("GroupNorm", {"groups": 64}, (32,), ["64 groups", "32 channels"]),
    ("GroupNorm", {}, ("T", 4), ["known channel count"]),
    ("InstanceNorm", {}, (16, 8), ["[C, H, W]", "[16, 8]"]),
    ("InstanceNorm", {}, (16, 1, 1), ["more than one position", "[16, 1, 1]"]),
    ("LocalResponseNorm", {}, (64,), ["spatial axis", "[64]"]),
])
def test_invalid_inputs_raise_clear_shape_errors(block, params, shape, words):
    spec = get(block)
    p = _params(spec, **params)
    with pytest.raises(ShapeError) as err:
        spec.shape(p, [shape])
    for w in words:
        assert w in str(err.value)
    assert str(err.value).startswith((spec.type, spec.label))
    with pytest.raises(ShapeError):
        spec.build(p, [shape])


def test_torch_agrees_that_these_inputs_fail():
    # The rules refuse what torch itself refuses (not merely what we dislike).
    with pytest.raises(ValueError):
        nn.GroupNorm(5, 32)
    with pytest.raises(ValueError):
        nn.InstanceNorm2d(16)(torch.randn(2, 16, 1, 1))
    with pytest.raises(ValueError):
        nn.LocalResponseNorm(5)(torch.randn(2, 64))
