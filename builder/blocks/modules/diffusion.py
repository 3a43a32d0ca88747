"""The torch modules the conditioning blocks build (specs: ``builder/blocks/diffusion.py``).

Self-contained: code generation copies each class's source into the generated file, so each
class uses only ``math``, ``torch``, ``F`` and ``nn``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["TimestepEmbedding", "FiLM", "BroadcastAdd"]


class TimestepEmbedding(nn.Module):
    """The step number t of a diffusion process as a vector: sines and cosines of t·ω_i with
    frequencies ω_i = max_period^(−i/half) from 1 down to ~1/max_period (the Transformer's
    positional encoding), then optionally Linear → SiLU → Linear.

    t: [B] or [B, 1], any number type (the integer step as a float: 0 … 999).  ``scale``
    multiplies t first, so a fraction in [0, 1] can be spread over the same range (×1000).
    """

    def __init__(self, dim: int = 64, max_period: float = 10000.0, scale: float = 1.0,
                 out: int | None = None):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        # Not a weight: rebuilt from the params, so kept out of the saved state.
        self.register_buffer("freqs", freqs * scale, persistent=False)
        self.mlp = None if out is None else nn.Sequential(
            nn.Linear(dim, out), nn.SiLU(), nn.Linear(out, out))

    def forward(self, t):
        angles = t.reshape(-1, 1).to(self.freqs.dtype) * self.freqs  # [B, half]
        emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
        return emb if self.mlp is None else self.mlp(emb)


class FiLM(nn.Module):
    """Feature-wise linear modulation: y = x·(1 + γ) + β with (γ, β) = Linear(c), one pair per
    channel, the same at every position of x.

    ``rank``: axes of one sample of x: 3 for [C, H, W] (channels first), 2 for [T, C] and
    1 for [C] (channels last).
    """

    def __init__(self, cond_dim: int, channels: int, rank: int = 3):
        super().__init__()
        self.rank = rank
        self.proj = nn.Linear(cond_dim, 2 * channels)
        # Zero at the start: γ = β = 0 makes the block the identity, so a network it is
        # dropped into keeps its behaviour (and its signal scale) until the condition proves
        # useful; the gradient on the weights is not zero, so it still learns.
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, c):
        gamma, beta = self.proj(c).chunk(2, dim=-1)  # [B, C] each
        if self.rank == 3:
            gamma, beta = gamma[:, :, None, None], beta[:, :, None, None]
        elif self.rank == 2:
            gamma, beta = gamma[:, None, :], beta[:, None, :]
        return x * (1 + gamma) + beta


class BroadcastAdd(nn.Module):
    """y = x + P·v: a vector v (projected to the channels of x by a Linear P, or as it is)
    added at every position of x.  ``rank`` as in FiLM."""

    def __init__(self, cond_dim: int = 0, channels: int = 0, rank: int = 3,
                 project: bool = True):
        super().__init__()
        self.rank = rank
        self.proj = nn.Linear(cond_dim, channels) if project else None

    def forward(self, x, v):
        if self.proj is not None:
            v = self.proj(v)
        if self.rank == 3:
            v = v[:, :, None, None]
        elif self.rank == 2:
            v = v[:, None, :]
        return x + v
