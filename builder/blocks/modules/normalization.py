"""The torch modules the normalization blocks build beyond torch.nn's own (specs:
``builder/blocks/normalization.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

__all__ = ["L2Normalize"]


class L2Normalize(nn.Module):
    """y = x / max(‖x‖₂, eps) along one per-sample axis (``dim``, the batch excluded): unit
    vectors, whose dot products are cosine similarities (CLIP's embeddings)."""

    def __init__(self, dim: int = -1, eps: float = 1e-12):
        super().__init__()
        self.dim = dim + 1 if dim >= 0 else dim  # skip the batch axis
        self.eps = eps

    def forward(self, x):
        return F.normalize(x, p=2.0, dim=self.dim, eps=self.eps)
