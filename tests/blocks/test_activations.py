"""Activation blocks: shape rule vs torch (real and meta), FLOPs, errors, numbers vs torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from builder.blocks import by_category, get
from builder.shapes import ShapeError
from tests.blocks.support import _params, check_block, check_random_params

CATEGORY = "Activations"
TYPES = ["ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax",
         "LogSoftmax", "PReLU"]
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
    assert spec.has_weights == (block == "PReLU")


@pytest.mark.parametrize("block", TYPES)
def test_symbolic_and_image_shapes_pass_through(block):
    for ins in [(("T", 8),), ((3, 7, 9),), ((12,),)]:
        spec = get(block)
        assert spec.shape(spec.defaults(), list(ins)) == [ins[0]]
        check_block(block, ins)


@pytest.mark.parametrize("block", TYPES)
def test_random_params_agree_with_meta(block):
    check_random_params(block, [(16,), (4, 6), (3, 5, 5), ("T", 6), (2, 3, 4, 4)])


@pytest.mark.parametrize("block", TYPES)
def test_constructor_args_are_plain_values(block):
    spec = get(block)
    call = spec.build(spec.defaults(), list(spec.example_inputs))
    assert call.cls.__module__.startswith("torch.nn")
    for v in [*call.args, *dict(call.kwargs).values()]:
        assert isinstance(v, (int, float, bool, str, tuple))


# --- numbers against hand-written torch -----------------------------------------------------

CASES = [
    ("ReLU", {}, (16,), lambda x, m: F.relu(x)),
    ("LeakyReLU", {"alpha": 0.2}, (16,), lambda x, m: F.leaky_relu(x, 0.2)),
    ("ELU", {"alpha": 0.5}, (16,), lambda x, m: F.elu(x, 0.5)),
    ("SELU", {}, (16,), lambda x, m: F.selu(x)),
    ("GELU", {}, (16,), lambda x, m: F.gelu(x)),
    ("GELU", {"approximate": "tanh"}, (16,), lambda x, m: F.gelu(x, approximate="tanh")),
    ("SiLU", {}, (16,), lambda x, m: x * torch.sigmoid(x)),
    ("Sigmoid", {}, (16,), lambda x, m: 1 / (1 + torch.exp(-x))),
    ("Tanh", {}, (16,), lambda x, m: torch.tanh(x)),
    ("Softmax", {}, (3, 10), lambda x, m: torch.softmax(x, dim=-1)),
    ("Softmax", {"axis": 0}, (3, 10), lambda x, m: torch.softmax(x, dim=1)),
    ("LogSoftmax", {"axis": 1}, (3, 10), lambda x, m: torch.log_softmax(x, dim=2)),
    ("PReLU", {}, (8, 6, 6), lambda x, m: torch.where(x > 0, x, 0.25 * x)),
    ("PReLU", {"per_channel": True, "init": 0.1}, (8, 6, 6),
     lambda x, m: F.prelu(x, m.weight)),
]


@pytest.mark.parametrize(("block", "params", "shape", "ref"), CASES)
def test_numbers_match_torch(block, params, shape, ref):
    _, _, m = check_block(block, [shape], **params)
    x = torch.randn(4, *shape)
    torch.testing.assert_close(m(x), ref(x, m))


def test_softmax_rows_sum_to_one_on_the_chosen_axis():
    _, _, m = check_block("Softmax", [(3, 10)], axis=0)
    y = m(torch.randn(2, 3, 10))
    torch.testing.assert_close(y.sum(dim=1), torch.ones(2, 10))


def test_prelu_learns_one_or_per_channel_slopes():
    _, _, m = check_block("PReLU", [(8, 6, 6)])
    assert m.weight.numel() == 1 and m.weight.item() == pytest.approx(0.25)
    _, _, m = check_block("PReLU", [(8, 6, 6)], per_channel=True)
    assert m.weight.numel() == 8
    _, _, m = check_block("PReLU", [(32,)], per_channel=True)
    assert m.weight.numel() == 32
    x = torch.randn(4, 8, 6, 6)
    _, _, m = check_block("PReLU", [(8, 6, 6)], per_channel=True)
    m(x).sum().backward()
    assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0


def test_sigmoid_and_tanh_gradients_saturate():
    # The vanishing-gradient lesson the explain strings state: σ′ ≤ 0.25, tanh′ ≤ 1.
    x = torch.linspace(-10, 10, 201, requires_grad=True)
    _, _, sig = check_block("Sigmoid")
    sig(x).sum().backward()
    assert x.grad.max() <= 0.25 + 1e-6 and x.grad[0] < 1e-4
    x.grad = None
    _, _, tanh = check_block("Tanh")
    tanh(x).sum().backward()
    assert x.grad.max() <= 1 + 1e-6 and x.grad[0] < 1e-6


# --- explain --------------------------------------------------------------------------------


def _explain(block, ins=None, **params):
    spec = get(block)
    p = _params(spec, **params)
    ins = list(ins or spec.example_inputs)
    return spec.explain(p, ins, spec.shape(p, ins))


def test_explain_fills_in_the_users_numbers():
    assert _explain("LeakyReLU") == "LeakyReLU(x) = x if x > 0 else 0.01·x"
    assert _explain("LeakyReLU", alpha=0.2) == "LeakyReLU(x) = x if x > 0 else 0.2·x"
    assert _explain("ELU", alpha=0.5) == "ELU(x) = x if x > 0 else 0.5·(eˣ − 1)"
    assert "max(0, x)" in _explain("ReLU")
    assert "0.25" in _explain("Sigmoid")
    assert "over axis 0 (3 values)" in _explain("Softmax", [(3, 10)], axis=0)
    assert "8 values" in _explain("PReLU", [(8, 6, 6)], per_channel=True)
    assert "tanh" in _explain("GELU", approximate="tanh")


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("block", "params", "shape", "words"), [
    ("Softmax", {"axis": 3}, (10,), ["axis 3", "[10]"]),
    ("Softmax", {"axis": -3}, (4, 10), ["axis -3", "[4, 10]"]),
    ("Softmax", {}, (), ["single number per sample"]),
    ("LogSoftmax", {"axis": 2}, (4, 10), ["axis 2", "[4, 10]"]),
    ("PReLU", {"per_channel": True}, ("T", 8), ["known channel count", "[T, 8]"]),
    ("PReLU", {"per_channel": True}, (), ["channel axis"]),
])
def test_invalid_inputs_raise_clear_shape_errors(block, params, shape, words):
    spec = get(block)
    p = _params(spec, **params)
    with pytest.raises(ShapeError) as err:
        spec.shape(p, [shape])
    for w in words:
        assert w in str(err.value)
    assert str(err.value).startswith(spec.type)
    with pytest.raises(ShapeError):
        spec.build(p, [shape])


def test_params_out_of_range_are_refused():
    spec = get("LeakyReLU")
    _, errors = spec.coerce_params({"alpha": -1.0})
    assert errors and errors[0][0] == "alpha"
    _, errors = get("GELU").coerce_params({"approximate": "fast"})
    assert errors
