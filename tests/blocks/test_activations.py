"""Activation blocks: shape rule vs torch (real and meta), FLOPs, errors, numbers vs torch."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from builder.blocks import by_category, get
from builder.shapes import ShapeError, concretize

CATEGORY = "Activations"
TYPES = ["ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax",
         "LogSoftmax", "PReLU"]
SYMBOLS = {"T": 5}


# --- helpers (each block test file keeps its own copy) -------------------------------------


def _params(spec, **over):
    p, errors = spec.coerce_params(over)
    assert not errors, errors
    return p


def _run(spec, p, ins, batch=2, device="cpu", train=True):
    m = spec.build(p, ins)().to(device).train(train)
    xs = [torch.randn(batch, *concretize(s, SYMBOLS), device=device) for s in ins]
    ys = m(*xs)
    return m, xs, ys if isinstance(ys, tuple) else (ys,)


def check_block(block, ins=None, **params):
    """Build from params + inputs; real (batch 2) and meta outputs match the fast rule; FLOPs for
    batch 1 match FlopCounterMode; explain gives text.  Returns (spec, params, module)."""
    spec = get(block)
    p = _params(spec, **params)
    ins = list(ins if ins is not None else spec.example_inputs)
    fast = spec.shape(p, ins)
    want = [concretize(s, SYMBOLS) for s in fast]
    m, _, ys = _run(spec, p, ins)
    assert [tuple(y.shape[1:]) for y in ys] == want
    _, _, ys = _run(spec, p, ins, device="meta")
    assert [tuple(y.shape[1:]) for y in ys] == want
    m.eval()
    with FlopCounterMode(display=False) as counter:
        m(*[torch.randn(1, *concretize(s, SYMBOLS)) for s in ins])
    assert counter.get_total_flops() == (spec.flops(p, ins, fast) if spec.flops else 0)
    if spec.explain is not None:
        text = spec.explain(p, ins, fast)
        assert isinstance(text, str) and text.strip() and text.count("\n") <= 2
    return spec, p, m


def _random_value(param, rng):
    if param.kind == "bool":
        return rng.random() < 0.5
    if param.kind == "choice":
        return rng.choice(param.choices)
    lo = param.min if param.min is not None else -10
    hi = param.max if param.max is not None else 10
    if param.kind == "int":
        return rng.choice([int(lo), int(hi), rng.randint(int(lo), int(min(hi, lo + 64)))])
    return rng.choice([lo, hi, rng.uniform(lo, min(hi, lo + 10))])


def check_random_params(block, shapes, draws=40, seed=0):
    """For random valid params: the fast rule succeeds exactly when the module runs on meta
    tensors, and then with the same shapes."""
    spec = get(block)
    rng = random.Random(seed)
    for _ in range(draws):
        p = _params(spec, **{q.name: _random_value(q, rng) for q in spec.params})
        ins = [rng.choice(shapes)]
        try:
            fast = spec.shape(p, ins)
        except ShapeError:
            fast = None
        try:
            _, _, ys = _run(spec, p, ins, device="meta")
            got = [tuple(y.shape[1:]) for y in ys]
        except Exception:  # noqa: BLE001 - torch refuses in many ways
            got = None
        want = None if fast is None else [concretize(s, SYMBOLS) for s in fast]
        assert got == want, (block, p, ins)


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
