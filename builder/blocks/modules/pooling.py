"""The torch modules the pooling blocks build (specs: ``builder/blocks/pooling.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

from torch import nn

__all__ = ["GlobalAvgPool", "GlobalMaxPool"]


class GlobalAvgPool(nn.Module):
    """Mean of each channel over all its positions: [N, C, H, W] (or [N, C, L]) → [N, C]."""

    def forward(self, x):
        return x.flatten(2).mean(-1)


class GlobalMaxPool(nn.Module):
    """Largest value of each channel over all its positions: [N, C, H, W] → [N, C]."""

    def forward(self, x):
        return x.flatten(2).amax(-1)
