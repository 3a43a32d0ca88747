"""The torch modules the regularization blocks build (specs: ``builder/blocks/regularization.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GaussianNoise", "MaskingNoise", "SaltPepperNoise", "ActivitySparsity", "ActivityL1"]


class GaussianNoise(nn.Module):
    """Adds N(0, σ²) noise to every value while training; the identity in eval mode."""

    def __init__(self, sigma: float = 0.1):
        super().__init__()
        self.sigma = sigma

    def forward(self, x):
        if not self.training or self.sigma == 0:
            return x
        return x + self.sigma * torch.randn_like(x)


class MaskingNoise(nn.Module):
    """Sets a random fraction of the values to 0 while training, without rescaling the others
    (the corruption of a denoising autoencoder); the identity in eval mode."""

    def __init__(self, fraction: float = 0.25):
        super().__init__()
        self.fraction = fraction

    def forward(self, x):
        if not self.training or self.fraction == 0:
            return x
        keep = torch.rand_like(x) >= self.fraction
        return x * keep


class SaltPepperNoise(nn.Module):
    """Sets a random fraction of the values to ``low`` (half of them) or ``high`` (the other
    half) while training; the identity in eval mode."""

    def __init__(self, fraction: float = 0.1, low: float = 0.0, high: float = 1.0):
        super().__init__()
        self.fraction, self.low, self.high = fraction, low, high

    def forward(self, x):
        if not self.training or self.fraction == 0:
            return x
        r = torch.rand_like(x)
        half = self.fraction / 2
        x = x.masked_fill(r < half, self.low)
        return x.masked_fill((r >= half) & (r < self.fraction), self.high)


class ActivitySparsity(nn.Module):
    """Passes x through; stores β·Σⱼ KL(ρ ‖ ρ̂ⱼ) in ``aux_loss``, ρ̂ⱼ = unit j's mean over the
    batch.  Expects activations in (0, 1) (after a sigmoid); ρ̂ is clamped for safety."""

    def __init__(self, rho: float = 0.05, beta: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.rho, self.beta, self.eps = rho, beta, eps
        self.aux_loss = torch.zeros(())

    def forward(self, x):
        rho_hat = x.float().mean(dim=0).clamp(self.eps, 1 - self.eps)  # fp32 even under AMP
        rho = self.rho
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        self.aux_loss = self.beta * kl.sum()
        return x


class ActivityL1(nn.Module):
    """Passes x through; stores λ·mean(|x|) in ``aux_loss``, pushing activations towards 0."""

    def __init__(self, weight: float = 0.01):
        super().__init__()
        self.weight = weight
        self.aux_loss = torch.zeros(())

    def forward(self, x):
        self.aux_loss = self.weight * x.abs().mean()
        return x
