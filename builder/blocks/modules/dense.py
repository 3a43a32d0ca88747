"""The torch modules the dense blocks build (specs: ``builder/blocks/dense.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Add", "Multiply", "Concat", "Reshape", "Slice", "Split", "DropConnectLinear"]


class Add(nn.Module):
    """Element-wise sum of any number of same-shaped tensors."""

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """Element-wise product of any number of same-shaped tensors (gates, attention masks)."""

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """Concatenate along a per-sample axis (0 = channels / features of one sample)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim + 1 if dim >= 0 else dim  # skip the batch axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.dim)


class Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Slice(nn.Module):
    def __init__(self, dim: int, start: int, end: int):
        super().__init__()
        self.dim, self.start, self.end = dim + 1 if dim >= 0 else dim, start, end

    def forward(self, x):
        return x.narrow(self.dim, self.start, self.end - self.start)


class Split(nn.Module):
    def __init__(self, dim: int, parts: int):
        super().__init__()
        self.dim, self.parts = dim + 1 if dim >= 0 else dim, parts

    def forward(self, x):
        return tuple(torch.chunk(x, self.parts, dim=self.dim))


class DropConnectLinear(nn.Linear):
    """Linear layer that drops individual weights (not units) while training, rescaling the
    survivors by 1/(1-p) so that evaluation needs no change."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, p: float = 0.5):
        super().__init__(in_features, out_features, bias)
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return F.linear(x, self.weight, self.bias)
        mask = torch.rand_like(self.weight) >= self.p
        return F.linear(x, self.weight * mask / (1 - self.p), self.bias)
