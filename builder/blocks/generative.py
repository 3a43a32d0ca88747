"""Generative and special blocks: the VAE's reparameterisation trick and gradient reversal."""

from __future__ import annotations

import torch
from torch import nn

from builder.blocks.spec import BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

__all__ = ["Reparameterize", "GradientReversal"]


# --- modules (self-contained: code generation copies their source) -------------------------


class Reparameterize(nn.Module):
    """z = μ + σ·ε with ε ~ N(0, I) while training (z = μ in eval), σ = exp(½·log σ²).

    Stores ``aux_loss`` = β · KL(N(μ, σ²) ‖ N(0, I)), summed over the latent dimensions and
    averaged over the batch, after every forward; also ``kl`` (that KL per sample, shape [N],
    unweighted) and ``mu``, ``logvar``, so a training recipe can report the ELBO's parts.
    ``beta`` is a plain attribute: a schedule (KL annealing) may change it between steps.
    """

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = beta
        self.aux_loss = torch.zeros(())
        self.kl = torch.zeros(0)
        self.mu = self.logvar = None

    def forward(self, mu, logvar):
        if mu.shape != logvar.shape:  # no silent broadcasting of one against the other
            raise ValueError(f"Reparameterize needs mu and logvar of the same shape; received "
                             f"{list(mu.shape)} and {list(logvar.shape)}")
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
        self.kl = kl.reshape(kl.shape[0], -1).sum(1)
        self.mu, self.logvar = mu, logvar
        self.aux_loss = self.beta * self.kl.mean()
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class GradientReversal(nn.Module):
    """Identity going forward; multiplies the gradient by −λ going backward (DANN).

    ``x.detach() - λ·(x - x.detach())`` equals x exactly, and its derivative is −λ.
    ``lambd`` is a plain attribute so a training schedule may change it between steps.
    """

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        fixed = x.detach()
        return fixed - self.lambd * (x - fixed)


# --- shape helpers ------------------------------------------------------------------------


def _reparam_shape(p, ins):
    mu, logvar = ins
    check(mu == logvar, f"Reparameterize needs μ and log σ² of the same shape; received "
          f"μ {fmt_shape(mu)} and log σ² {fmt_shape(logvar)}")
    return [mu]


def _reparam_explain(p, ins, outs):
    n = fmt_shape(ins[0])
    return ("z = μ + exp(½·log σ²)·ε, ε ~ N(0, 1) while training; z = μ in eval\n"
            f"aux loss = {p['beta']:g} · mean over batch of Σ over {n} of "
            "−½·(1 + log σ² − μ² − σ²)")


register(
    BlockSpec(
        "Reparameterize",
        "Generative & special",
        "The heart of a variational autoencoder: it samples a latent code z from N(μ, σ²) "
        "as μ + σ·ε, so gradients can flow back into μ and σ. Its KL loss pulls each code "
        "distribution towards N(0, 1), which keeps the latent space smooth enough to sample.",
        params=(
            Param("beta", "float", 1.0, help="Weight β of the KL loss (β-VAE: larger = more "
                                             "disentangled, blurrier).", min=0.0, max=1000.0),
        ),
        inputs=(Port("mu", help="Mean μ of the latent code."),
                Port("logvar", help="Log-variance log σ² of the latent code.")),
        outputs=(Port("z", help="Sampled latent code (μ in eval mode)."),),
        build=lambda p, ins: make(Reparameterize, p["beta"]),
        shape=_reparam_shape,
        explain=_reparam_explain,
        example_inputs=((16,), (16,)),
        has_weights=False,
        aux_loss=True,
        keeps_space=True,
    ),
    BlockSpec(
        "GradientReversal",
        "Generative & special",
        "Passes features through unchanged but flips (and scales by λ) the gradient flowing "
        "back. Placed before a domain classifier, it trains the feature extractor to make "
        "domains indistinguishable: domain-adversarial training (DANN).",
        params=(
            Param("lambd", "float", 1.0, help="λ: the backward gradient is multiplied by −λ.",
                  min=0.0, max=100.0),
        ),
        build=lambda p, ins: make(GradientReversal, p["lambd"]),
        shape=lambda p, ins: [ins[0]],
        explain=lambda p, ins, outs: f"forward: y = x;  backward: ∂L/∂x = −{p['lambd']:g} · "
                                     "∂L/∂y",
        example_inputs=((32,),),
        has_weights=False,
        keeps_space=True,
        title="Gradient reversal",
    ),
)
