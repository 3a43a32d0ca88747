"""The torch modules the rbm blocks build (specs: ``builder/blocks/rbm.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RBM"]


class RBM(nn.Module):
    """A restricted Boltzmann machine with ``visible`` inputs and ``hidden`` binary units.

    As a layer it computes p(h = 1 | v) = sigmoid(W v + b) (``weight`` W is [hidden,
    visible], ``bias`` b the hidden bias), so a network of RBMs is a sigmoid MLP that exports
    like one.  ``visible_bias`` and the sampling methods serve pre-training: ``cd_loss``
    runs a k-step Gibbs chain and returns F(v₀) − F(v_k) with v_k held constant, whose
    gradient is exactly the contrastive-divergence update (Hinton 2002).  Visible units are
    ``bernoulli`` (data in [0, 1]) or ``gaussian`` (unit variance: standardised data).
    """

    def __init__(self, visible: int, hidden: int, visible_type: str = "bernoulli"):
        super().__init__()
        if visible_type not in ("bernoulli", "gaussian"):
            raise ValueError(f"RBM visible_type must be bernoulli or gaussian; received "
                             f"{visible_type!r}")
        self.visible_type = visible_type
        bound = 1 / math.sqrt(visible)  # as nn.Linear: a fair start for the same MLP
        self.weight = nn.Parameter(torch.empty(hidden, visible).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound))
        self.visible_bias = nn.Parameter(torch.zeros(visible))

    def forward(self, v):
        return torch.sigmoid(F.linear(v, self.weight, self.bias))

    def visible_mean(self, h):
        """E[v | h]: sigmoid(Wᵀh + c) for bernoulli units, Wᵀh + c for gaussian ones."""
        a = F.linear(h, self.weight.t(), self.visible_bias)
        return torch.sigmoid(a) if self.visible_type == "bernoulli" else a

    def sample_h(self, v, generator=None):
        """(p(h = 1 | v), a binary sample of h)."""
        p = self.forward(v)
        return p, torch.bernoulli(p, generator=generator)

    def sample_v(self, h, generator=None):
        """(E[v | h], a sample of v)."""
        mean = self.visible_mean(h)
        if self.visible_type == "bernoulli":
            return mean, torch.bernoulli(mean, generator=generator)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device,
                            dtype=mean.dtype)
        return mean, mean + noise

    def free_energy(self, v):
        """F(v) per sample, with p(v) ∝ exp(−F(v)): the hidden units summed out."""
        hidden = F.softplus(F.linear(v, self.weight, self.bias)).sum(-1)
        if self.visible_type == "bernoulli":
            return -(v * self.visible_bias).sum(-1) - hidden
        return 0.5 * (v - self.visible_bias).square().sum(-1) - hidden

    def gibbs(self, v, k=1, generator=None):
        """v_k after k steps of block Gibbs sampling from v (hidden units sampled, the last
        visible step kept as its mean, as is usual for CD)."""
        mean = v
        for _ in range(k):
            _, h = self.sample_h(v, generator)
            mean, v = self.sample_v(h, generator)
        return mean

    def cd_loss(self, v, k=1, generator=None):
        """(F(v) − F(v_k) averaged over the batch, v_k): back-propagating the first gives the
        CD-k gradient −(⟨v hᵀ⟩_data − ⟨v hᵀ⟩_k) for every parameter."""
        with torch.no_grad():
            negative = self.gibbs(v, k, generator)
        return self.free_energy(v).mean() - self.free_energy(negative).mean(), negative
