"""Regularization blocks: shape rule vs torch, train/eval behaviour, numbers, auxiliary losses."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from builder.blocks import by_category, get
from builder.blocks.modules import regularization as reg
from builder.shapes import ShapeError
from tests.blocks.support import _params, check_block, check_random_params

CATEGORY = "Regularization"
TYPES = ["Dropout", "Dropout2d", "AlphaDropout", "GaussianNoise", "MaskingNoise",
         "SaltPepperNoise", "ActivitySparsity", "ActivityL1"]
RANDOM = ["Dropout", "Dropout2d", "AlphaDropout", "GaussianNoise", "MaskingNoise",
          "SaltPepperNoise"]
AUX = ["ActivitySparsity", "ActivityL1"]
CUSTOM = [reg.GaussianNoise, reg.MaskingNoise, reg.SaltPepperNoise, reg.ActivitySparsity,
          reg.ActivityL1]
SYMBOLS = {"T": 5}


# --- every block ----------------------------------------------------------------------------


def test_category_holds_exactly_these_blocks():
    assert [s.type for s in by_category()[CATEGORY]] == TYPES


@pytest.mark.parametrize("block", TYPES)
def test_defaults_run_with_the_fast_rule_shapes(block):
    spec, _, _ = check_block(block)
    assert spec.category == CATEGORY
    assert spec.keeps_space and not spec.has_weights
    assert spec.concept and spec.explain is not None
    assert all(q.help for q in spec.params)
    assert spec.aux_loss == (block in AUX)


@pytest.mark.parametrize("block", [t for t in TYPES if t != "Dropout2d"])
def test_any_shape_passes_through(block):
    for ins in [(("T", 8),), ((3, 7, 9),), ((12,),)]:
        spec = get(block)
        assert spec.shape(spec.defaults(), list(ins)) == [ins[0]]
        check_block(block, ins)


def test_dropout2d_keeps_symbolic_images():
    check_block("Dropout2d", [(4, "T", 6)])


@pytest.mark.parametrize("block", TYPES)
def test_random_params_agree_with_meta(block):
    shapes = [(3, 5, 5), (8, 2, 2)] if block == "Dropout2d" else \
        [(16,), (4, 6), (3, 5, 5), ("T", 6)]
    check_random_params(block, shapes)


@pytest.mark.parametrize("block", TYPES)
def test_constructor_args_are_plain_values(block):
    spec = get(block)
    call = spec.build(spec.defaults(), list(spec.example_inputs))
    for v in [*call.args, *dict(call.kwargs).values()]:
        assert isinstance(v, (int, float, bool, str, tuple))


@pytest.mark.parametrize("cls", CUSTOM)
def test_custom_modules_are_self_contained(cls):
    """Code generation copies the class source; it may use only torch, nn, F and math."""
    src = inspect.getsource(cls)
    assert "builder" not in src
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(compile(src, "<generated>", "exec"), namespace)  # noqa: S102 - our own source
    fresh = namespace[cls.__name__]()
    x = torch.rand(4, 6)
    fresh.train()(x)
    fresh.eval()(x)


# --- train vs eval --------------------------------------------------------------------------


@pytest.mark.parametrize("block", RANDOM)
def test_identity_in_eval_and_changes_values_in_training(block):
    spec, p, m = check_block(block)
    ins = list(spec.example_inputs)
    x = torch.rand(8, *ins[0]) + 0.5  # no zeros, none at the salt/pepper values
    m.eval()
    assert torch.equal(m(x), x)
    m.train()
    torch.manual_seed(1)
    y = m(x)
    assert y.shape == x.shape and not torch.equal(y, x)


@pytest.mark.parametrize("block", RANDOM)
def test_zero_rate_is_identity_in_training(block):
    name = "sigma" if block == "GaussianNoise" else "fraction" if "Noise" in block else "p"
    spec, p, m = check_block(block, **{name: 0.0})
    x = torch.randn(3, *spec.example_inputs[0])
    assert torch.equal(m.train()(x), x)


@pytest.mark.parametrize("block", AUX)
def test_activity_blocks_pass_activations_through(block):
    _, _, m = check_block(block)
    x = torch.rand(8, 64)
    assert m.train()(x) is x and m.eval()(x) is x


# --- numbers against torch ------------------------------------------------------------------


SEEDED = [
    ("Dropout", {"p": 0.3}, (64,), lambda x: F.dropout(x, 0.3, training=True)),
    ("Dropout2d", {"p": 0.4}, (6, 4, 4), lambda x: F.dropout2d(x, 0.4, training=True)),
    ("AlphaDropout", {"p": 0.2}, (64,), lambda x: F.alpha_dropout(x, 0.2, training=True)),
    ("GaussianNoise", {"sigma": 0.7}, (64,), lambda x: x + 0.7 * torch.randn_like(x)),
]


@pytest.mark.parametrize(("block", "params", "shape", "ref"), SEEDED)
def test_same_seed_same_numbers_as_torch(block, params, shape, ref):
    _, _, m = check_block(block, [shape], **params)
    x = torch.randn(5, *shape)
    torch.manual_seed(123)
    got = m.train()(x)
    torch.manual_seed(123)
    torch.testing.assert_close(got, ref(x))


def test_dropout2d_drops_whole_channels():
    _, _, m = check_block("Dropout2d", [(32, 4, 4)], p=0.5)
    y = m.train()(torch.ones(4, 32, 4, 4))
    per_channel = y.flatten(2)
    assert torch.all(per_channel.amin(-1) == per_channel.amax(-1))
    assert set(per_channel.unique().tolist()) == {0.0, 2.0}


def test_masking_noise_zeroes_a_fraction_without_rescaling():
    _, _, m = check_block("MaskingNoise", fraction=0.3)
    x = torch.rand(200, 500) + 1
    torch.manual_seed(0)
    y = m.train()(x)
    zero = y == 0
    assert zero.float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(y[~zero], x[~zero])


def test_salt_pepper_sets_half_low_half_high():
    _, _, m = check_block("SaltPepperNoise", fraction=0.4, low=-1.0, high=2.0)
    x = torch.full((200, 500), 0.5)
    torch.manual_seed(0)
    y = m.train()(x)
    assert (y == -1).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert (y == 2).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert (y == 0.5).float().mean().item() == pytest.approx(0.6, abs=0.01)
    assert set(y.unique().tolist()) == {-1.0, 0.5, 2.0}


def test_gaussian_noise_has_the_chosen_spread():
    _, _, m = check_block("GaussianNoise", sigma=0.5)
    x = torch.zeros(200, 500)
    y = m.train()(x)
    assert y.mean().item() == pytest.approx(0.0, abs=0.01)
    assert y.std().item() == pytest.approx(0.5, abs=0.01)


# --- auxiliary losses -----------------------------------------------------------------------


def _kl(rho, rho_hat):
    return rho * math.log(rho / rho_hat) + (1 - rho) * math.log((1 - rho) / (1 - rho_hat))


def test_sparsity_aux_loss_equals_a_hand_computation():
    _, _, m = check_block("ActivitySparsity", [(3,)], rho=0.1, beta=2.0)
    x = torch.tensor([[0.2, 0.9, 0.05], [0.4, 0.7, 0.15]])
    m(x)
    means = [0.3, 0.8, 0.1]
    want = 2.0 * sum(_kl(0.1, r) for r in means)
    assert m.aux_loss.dim() == 0
    assert m.aux_loss.item() == pytest.approx(want, rel=1e-5)
    # The third unit already fires at the target rate: it adds nothing.
    assert _kl(0.1, 0.1) == 0


def test_sparsity_aux_loss_is_zero_at_the_target_rate():
    _, _, m = check_block("ActivitySparsity", rho=0.05)
    x = torch.full((6, 64), 0.05)
    x[:3] += 0.02
    x[3:] -= 0.02  # every unit's batch mean is exactly ρ
    m(x)
    assert abs(m.aux_loss.item()) < 1e-6
    m(torch.full((6, 64), 0.5))
    assert m.aux_loss.item() == pytest.approx(3.0 * 64 * _kl(0.05, 0.5), rel=1e-5)


def test_sparsity_is_safe_at_zero_and_one():
    _, _, m = check_block("ActivitySparsity")
    for v in (0.0, 1.0):
        z = torch.full((4, 64), v, requires_grad=True)
        m(z)
        assert torch.isfinite(m.aux_loss)
        m.aux_loss.backward()
        assert torch.isfinite(z.grad).all()


def test_sparsity_gradient_flows_and_pushes_means_towards_rho():
    _, _, m = check_block("ActivitySparsity", rho=0.05, beta=1.0)
    z = torch.zeros(8, 64, requires_grad=True)
    m(torch.sigmoid(z))  # ρ̂ = 0.5 > ρ: the penalty must pull activations down
    m.aux_loss.backward()
    assert z.grad is not None and torch.all(z.grad > 0)
    # Autograd agrees with dKL/dρ̂ = −ρ/ρ̂ + (1−ρ)/(1−ρ̂), through σ′(0) = 1/4 and the 1/8 mean.
    want = (-0.05 / 0.5 + 0.95 / 0.5) * 0.25 / 8
    torch.testing.assert_close(z.grad, torch.full((8, 64), want))


def test_sparsity_works_on_feature_maps_and_in_eval():
    _, _, m = check_block("ActivitySparsity", [(4, 3, 3)])
    m.eval()
    m(torch.full((2, 4, 3, 3), 0.5))
    assert m.aux_loss.item() == pytest.approx(3.0 * 36 * _kl(0.05, 0.5), rel=1e-5)


def test_activity_l1_aux_loss_and_gradient():
    _, _, m = check_block("ActivityL1", [(3,)], weight=0.5)
    x = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.5]], requires_grad=True)
    y = m(x)
    assert y is x
    assert m.aux_loss.dim() == 0
    assert m.aux_loss.item() == pytest.approx(0.5 * 8.0 / 6)
    m.aux_loss.backward()
    torch.testing.assert_close(x.grad, 0.5 * torch.sign(x.detach()) / 6)


@pytest.mark.parametrize("block", AUX)
def test_aux_loss_is_refreshed_on_every_forward(block):
    _, _, m = check_block(block)
    m(torch.full((4, 64), 0.2))
    first = m.aux_loss.item()
    m(torch.full((4, 64), 0.6))
    assert m.aux_loss.item() != first


# --- explain --------------------------------------------------------------------------------


def _explain(block, ins=None, **params):
    spec = get(block)
    p = _params(spec, **params)
    ins = list(ins or spec.example_inputs)
    return spec.explain(p, ins, spec.shape(p, ins))


def test_explain_fills_in_the_users_numbers():
    assert "1/(1 − 0.2) = 1.25" in _explain("Dropout", p=0.2)
    assert "each of the 16 channels" in _explain("Dropout2d")
    assert "N(0, 0.3²)" in _explain("GaussianNoise", sigma=0.3)
    assert "probability 0.25" in _explain("MaskingNoise")
    text = _explain("SaltPepperNoise", fraction=0.2, low=-1.0, high=1.0)
    assert "becomes -1 with probability 0.1, 1 with probability 0.1" in text
    text = _explain("ActivitySparsity", rho=0.1, beta=2.0)
    assert "KL(ρ‖ρ̂) = ρ log ρ/ρ̂ + (1−ρ) log (1−ρ)/(1−ρ̂)" in text
    assert "2 · Σⱼ KL(0.1 ‖ ρ̂ⱼ) over 64 units" in text
    assert "0.5 · mean |x|" in _explain("ActivityL1", weight=0.5)
    assert "sigmoid" in get("ActivitySparsity").concept.lower()
    assert "SELU" in get("AlphaDropout").concept


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64,), (4, 8), (2, 3, 4, 4)])
def test_dropout2d_needs_an_image(shape):
    spec = get("Dropout2d")
    with pytest.raises(ShapeError) as err:
        spec.shape(spec.defaults(), [shape])
    text = str(err.value)
    assert text.startswith("Dropout2d") and "[C, H, W]" in text
    assert "[" + ", ".join(str(d) for d in shape) + "]" in text
    with pytest.raises(ShapeError):
        spec.build(spec.defaults(), [shape])


@pytest.mark.parametrize(("block", "name", "value"), [
    ("Dropout", "p", 1.5), ("Dropout", "p", -0.1), ("GaussianNoise", "sigma", -1.0),
    ("MaskingNoise", "fraction", 1.2), ("ActivitySparsity", "rho", 0.0),
    ("ActivitySparsity", "rho", 1.0), ("ActivityL1", "weight", -1.0),
])
def test_params_out_of_range_are_refused(block, name, value):
    _, errors = get(block).coerce_params({name: value})
    assert errors and errors[0][0] == name
