"""The vector quantiser: nearest codes, the straight-through gradient, the codebook and
commitment losses against a hand computation, usage counts and dead-code restarts."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from support import check_block, check_random_params
from torch import nn
from torch.nn import functional as F  # noqa: N812

from builder import blocks
from builder.shapes import ShapeError


def _quantiser(ins, **over):
    spec = blocks.get("VectorQuantiser")
    params, errors = spec.coerce_params(over)
    assert not errors
    return spec, params, spec.build(params, ins)()


def _brute_nearest(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """argmin over codes of Σ (x − e)², one vector at a time, no algebraic shortcut."""
    return torch.stack([((codebook - v) ** 2).sum(1).argmin() for v in vectors])


@pytest.mark.parametrize("ins", [[(16, 4, 4)], [(3, 8)], [(8,)]])
def test_module_matches_the_rule_flops_and_explain(ins):
    spec, p, m = check_block("VectorQuantiser", ins, codes=5)
    assert spec.category == "Generative & special" and spec.aux_loss and spec.has_weights
    assert [port.kind for port in spec.output_ports(p)] == ["tensor", "index"]
    assert sum(t.numel() for t in m.parameters()) == 5 * (ins[0][0] if len(ins[0]) == 3
                                                          else ins[0][-1])


def test_shape_rule_conventions_and_refusals():
    spec = blocks.get("VectorQuantiser")
    p = spec.defaults()
    assert spec.shape(p, [(16, 8, 8)]) == [(16, 8, 8), (8, 8)]  # images: D first
    assert spec.shape(p, [("T", 12)]) == [("T", 12), ("T",)]  # sequences: D last
    assert spec.shape(p, [(12,)]) == [(12,), ()]
    with pytest.raises(ShapeError, match=r"received \[2, 3, 4, 5\]"):
        spec.shape(p, [(2, 3, 4, 5)])
    with pytest.raises(ShapeError, match="fixed vector size D"):
        spec.shape(p, [(4, "T")])
    check_random_params("VectorQuantiser", [(8, 4, 4), (5, 6), (7,), (2, 3, 4, 5)])
    text = spec.explain(p, [(16, 8, 8)], spec.shape(p, [(16, 8, 8)]))
    assert "64 positions (8×8)" in text and "64×16 = 1,024" in text and "0.25" in text


@pytest.mark.parametrize("shape,axis", [((4, 6, 3, 5), 1), ((4, 7, 6), -1), ((9, 6), -1)])
def test_codes_are_the_nearest_and_y_is_their_row(shape, axis):
    torch.manual_seed(0)
    _, _, m = _quantiser([shape[1:]], codes=11, restart_after=0)
    x = torch.randn(shape)
    y, codes = m.eval()(x)
    vectors = x.movedim(axis, -1)
    assert codes.dtype == torch.int64 and codes.shape == vectors.shape[:-1]
    want = _brute_nearest(vectors.reshape(-1, 6), m.codebook.weight.detach())
    assert torch.equal(codes.reshape(-1), want)
    torch.testing.assert_close(y.movedim(axis, -1), m.codebook.weight[codes])
    assert torch.equal(m.lookup(codes), y)  # decoding the codes gives the same latents
    assert m.codes is codes


def test_straight_through_gradient_is_the_identity():
    torch.manual_seed(1)
    _, _, m = _quantiser([(6, 3, 3)], codes=8, restart_after=0)
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    y, _ = m.train()(x)
    torch.testing.assert_close(y, m.lookup(m.codes))  # the value is the code's
    upstream = torch.randn_like(y)
    y.backward(upstream)
    assert torch.equal(x.grad, upstream)  # and the gradient passes as if y were x
    assert m.codebook.weight.grad is None  # the codes learn from the aux loss only


def test_codebook_and_commitment_losses_by_hand():
    torch.manual_seed(2)
    beta = 0.4
    _, _, m = _quantiser([(5, 4)], codes=6, beta=beta, restart_after=0)
    x = torch.randn(3, 5, 4, requires_grad=True)
    m.train()(x)
    w = m.codebook.weight
    vectors = x.detach().reshape(-1, 4)  # a sequence [T, D]: vectors on the last axis
    q = w.detach()[_brute_nearest(vectors, w.detach())]
    n = vectors.numel()
    error = ((vectors - q) ** 2).sum() / n
    torch.testing.assert_close(m.codebook_loss, error)
    torch.testing.assert_close(m.commitment_loss, error)
    torch.testing.assert_close(m.aux_loss, (1 + beta) * error)
    m.aux_loss.backward()
    # commitment: d/dx of β·mean (x − sg[q])² = β·2(x − q)/n; nothing of the codebook loss
    grad_x = (beta * 2 * (vectors - q) / n).reshape(3, 5, 4)
    torch.testing.assert_close(x.grad, grad_x)
    # codebook: d/de_k of mean (sg[x] − e)² = Σ over positions choosing k of 2(e_k − x)/n
    codes = m.codes.reshape(-1)
    grad_w = torch.zeros_like(w).index_add_(0, codes, 2 * (q - vectors) / n)
    torch.testing.assert_close(w.grad, grad_w)


def test_usage_is_a_moving_share_and_eval_leaves_it_alone():
    _, _, m = _quantiser([(2,)], codes=4, restart_after=0)
    with torch.no_grad():
        m.codebook.weight.copy_(torch.tensor([[0.0, 0], [10, 0], [0, 10], [10, 10]]))
    x = torch.tensor([[0.1, 0], [0, 0.2], [9, 1], [0.3, 0.1]])  # codes 0, 0, 1, 0
    assert torch.allclose(m.usage(), torch.full((4,), 0.25))
    m.train()(x)
    share = torch.tensor([0.75, 0.25, 0.0, 0.0])
    torch.testing.assert_close(m.usage(), 0.99 * torch.full((4,), 0.25) + 0.01 * share)
    assert m.idle.tolist() == [0, 0, 1, 1]
    before = m.usage()
    m.eval()(x)
    assert torch.equal(m.usage(), before) and m.idle.tolist() == [0, 0, 1, 1]
    assert math.isclose(float(m.usage().sum()), 1.0, rel_tol=1e-6)


def test_a_code_unchosen_for_restart_after_batches_moves_onto_an_encoder_output():
    torch.manual_seed(3)
    _, _, m = _quantiser([(2,)], codes=3, restart_after=2)
    m.idle.zero_()  # not the first batch: every code has been chosen lately
    with torch.no_grad():
        m.codebook.weight.copy_(torch.tensor([[0.0, 0], [1, 1], [100, 100]]))
    x = torch.tensor([[0.1, 0.0], [0.9, 1.1], [0.0, 0.2], [1.2, 0.8]])
    m.train()(x)
    assert float(m.codebook.weight[2, 0].detach()) == 100  # unchosen once: still waiting
    m(x)  # unchosen twice: restarted on one of the batch's vectors
    moved = m.codebook.weight[2].detach()
    assert any(torch.equal(moved, v) for v in x) and m.idle.tolist() == [0, 0, 0]
    torch.testing.assert_close(m.codebook.weight[:2].detach(), torch.tensor([[0.0, 0], [1, 1]]))


def test_the_first_batch_places_every_unchosen_code_among_the_data():
    torch.manual_seed(4)
    _, _, m = _quantiser([(3,)], codes=16)
    x = torch.randn(64, 3) + 5  # far from the N(0, 1) initial codes
    m.train()(x)
    rows = m.codebook.weight.detach()
    chosen = set(m.codes.tolist())
    for k in set(range(16)) - chosen:
        assert any(torch.equal(rows[k], v) for v in x)
    m(x)
    assert len(set(m.codes.tolist())) > len(chosen)  # the restarted codes now take part


def test_restarts_off_keep_the_codebook():
    _, _, m = _quantiser([(3,)], codes=16, restart_after=0)
    before = m.codebook.weight.detach().clone()
    for _ in range(3):
        m.train()(torch.randn(8, 3) + 5)
    assert torch.equal(m.codebook.weight.detach(), before)


def test_mixed_precision_still_picks_the_float32_nearest():
    torch.manual_seed(5)
    _, _, m = _quantiser([(32, 4, 4)], codes=64, restart_after=0)
    x = torch.randn(4, 32, 4, 4)
    _, exact = m.eval()(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, codes = m(x)
    assert torch.equal(codes, exact)


def test_module_is_self_contained():
    """Generated code copies a custom module's source with only torch, nn, F and math around."""
    _, p, _ = _quantiser([(4, 3, 3)])
    made = blocks.get("VectorQuantiser").build(p, [(4, 3, 3)])
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(compile(inspect.getsource(made.cls), "<generated>", "exec"), namespace)  # noqa: S102
    torch.manual_seed(0)
    copy = namespace[made.cls.__name__](*made.args, **dict(made.kwargs)).eval()
    torch.manual_seed(0)
    original = made().eval()
    x = torch.randn(2, 4, 3, 3)
    for a, b in zip(copy(x), original(x)):
        assert torch.equal(a, b)
