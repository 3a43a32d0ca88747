"""The torch modules the generative blocks build (specs: ``builder/blocks/generative.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Reparameterize", "GradientReversal"]


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
