"""Generative & special blocks: Reparameterize (VAE) and GradientReversal (DANN)."""

from __future__ import annotations

import pytest
import torch

from builder import blocks
from builder.shapes import ShapeError

TYPES = ["Reparameterize", "GradientReversal"]


def _params(block, **over):
    spec = blocks.get(block)
    params, errors = spec.coerce_params(over)
    assert not errors
    return spec, params


@pytest.mark.parametrize("block", TYPES)
def test_defaults_run_and_match_rule(block):
    spec, p = _params(block)
    assert spec.category == "Generative & special"
    assert not spec.has_weights and spec.flops is None and spec.keeps_space
    ins = list(spec.example_inputs)
    rule = [tuple(s) for s in spec.shape(p, ins)]
    module = spec.build(p, ins)()
    assert not list(module.parameters())
    out = module(*[torch.randn(2, *s) for s in ins])
    assert [tuple(out.shape[1:])] == rule
    out = module.to("meta")(*[torch.randn(2, *s, device="meta") for s in ins])
    assert [tuple(out.shape[1:])] == rule
    assert spec.explain(p, ins, rule)


def test_reparameterize_shapes_and_errors():
    spec, p = _params("Reparameterize")
    assert spec.shape(p, [(4, 7, 7), (4, 7, 7)]) == [(4, 7, 7)]
    assert spec.shape(p, [("T", 8), ("T", 8)]) == [("T", 8)]
    with pytest.raises(ShapeError, match=r"same shape; received μ \[16\] and log σ² \[8\]"):
        spec.shape(p, [(16,), (8,)])
    assert spec.aux_loss


def test_reparameterize_sampling_and_eval():
    torch.manual_seed(0)
    spec, p = _params("Reparameterize")
    m = spec.build(p, [(3,), (3,)])()
    mu = torch.tensor([[0.0, 1.0, -2.0]]).repeat(20_000, 1)
    logvar = torch.tensor([[0.0, 2 * torch.log(torch.tensor(0.5)).item(), 1.0]]).repeat(20_000, 1)
    z = m(mu, logvar)
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.05, rtol=0)
    torch.testing.assert_close(z.std(0), torch.exp(0.5 * logvar[0]), atol=0.05, rtol=0)
    m.eval()
    assert torch.equal(m(mu, logvar), mu)
    # gradients reach both μ and log σ² through the sample
    m.train()
    mu1, lv1 = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    m(mu1, lv1).sum().backward()
    assert mu1.grad is not None and lv1.grad is not None and lv1.grad.abs().sum() > 0


def test_reparameterize_kl_aux_loss():
    spec, p = _params("Reparameterize", beta=2.5)
    m = spec.build(p, [(3,), (3,)])()
    m(torch.zeros(5, 3), torch.zeros(5, 3))
    assert m.aux_loss.dim() == 0 and float(m.aux_loss) == 0.0  # N(0, 1) already
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    m.eval()  # the loss is reported in eval too
    m(mu, logvar)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = 2.5 * torch.distributions.kl_divergence(q, prior).sum(1).mean()
    torch.testing.assert_close(m.aux_loss, expected)
    # image-shaped latents: summed over every latent dim, averaged over the batch
    mu, logvar = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    m(mu, logvar)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp())
    torch.testing.assert_close(m.aux_loss, 2.5 * kl.sum((1, 2, 3)).mean())


def test_reparameterize_keeps_the_per_sample_kl_and_its_inputs():
    """A recipe reports the ELBO's parts from these; aux_loss stays β times their mean."""
    spec, p = _params("Reparameterize", beta=0.5)
    m = spec.build(p, [(2, 3), (2, 3)])()
    mu, logvar = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    m(mu, logvar)
    kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).sum((1, 2))
    assert m.kl.shape == (4,)
    torch.testing.assert_close(m.kl, kl)
    assert m.mu is mu and m.logvar is logvar
    torch.testing.assert_close(m.aux_loss, 0.5 * kl.mean())
    m.beta = 0.0  # a schedule (KL annealing) changes β between steps; the KL stays
    m(mu, logvar)
    assert float(m.aux_loss) == 0.0
    torch.testing.assert_close(m.kl, kl)


@pytest.mark.parametrize("lambd", [0.0, 0.3, 1.0, 5.0])
def test_gradient_reversal_sign_and_scale(lambd):
    spec, p = _params("GradientReversal", lambd=lambd)
    m = spec.build(p, [(6,)])()
    x = torch.randn(3, 6, requires_grad=True)
    y = m(x)
    assert torch.equal(y, x)  # exactly the identity going forward
    upstream = torch.randn(3, 6)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, -lambd * upstream)
    assert spec.shape(p, [(3, 8, 8)]) == [(3, 8, 8)]


def test_gradient_reversal_lambda_can_change_between_steps():
    spec, p = _params("GradientReversal")
    m = spec.build(p, [(2,)])()
    m.lambd = 0.25
    x = torch.ones(1, 2, requires_grad=True)
    (m(x) * 2).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((1, 2), -0.5))


def test_reparameterize_module_refuses_broadcasting():
    """The module agrees with the shape rule: no silent broadcasting of [4] against [1]."""
    spec, p = _params("Reparameterize")
    m = spec.build(p, [(4,), (4,)])()
    with pytest.raises(ValueError, match="same shape"):
        m(torch.zeros(2, 4), torch.zeros(2, 1))


@pytest.mark.parametrize("block", TYPES)
def test_modules_are_self_contained(block):
    """Generated code copies a custom module's source with only torch, nn, F and math around."""
    import inspect
    import math

    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    spec, p = _params(block)
    ins = list(spec.example_inputs)
    made = spec.build(p, ins)
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(compile(inspect.getsource(made.cls), "<generated>", "exec"), namespace)  # noqa: S102
    copy = namespace[made.cls.__name__](*made.args, **dict(made.kwargs)).eval()
    xs = [torch.randn(2, *s) for s in ins]
    torch.testing.assert_close(copy(*xs), made().eval()(*xs))
