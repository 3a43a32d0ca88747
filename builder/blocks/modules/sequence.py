"""The torch modules the sequence blocks build (specs: ``builder/blocks/sequence.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PaddingMask", "PositionalEncoding", "TimePool", "Permute"]


class PaddingMask(nn.Module):
    """Token ids [B, T] → booleans [B, T], True where the id is the padding id."""

    def __init__(self, pad_id: int = 0):
        super().__init__()
        self.pad_id = pad_id

    def forward(self, tokens):
        return tokens == self.pad_id


class PositionalEncoding(nn.Module):
    """x [B, T, D] + the encoding of each position t < max_len: Vaswani et al.'s fixed
    sinusoids, PE[t, 2i] = sin(t / 10000^(2i/D)) and PE[t, 2i+1] = cos(t / 10000^(2i/D)),
    or a learned vector per position (nn.Embedding(max_len, D))."""

    def __init__(self, dim: int, max_len: int = 512, mode: str = "sinusoidal",
                 dropout: float = 0.0):
        super().__init__()
        self.mode = mode
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        if mode == "learned":
            self.position = nn.Embedding(max_len, dim)
        else:
            t = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
            rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32)
                             * (-math.log(10000.0) / dim))
            table = torch.zeros(max_len, dim)
            table[:, 0::2] = torch.sin(t * rate)
            table[:, 1::2] = torch.cos(t * rate)[:, :dim // 2]
            # not persistent: computed, never trained, so saved weights need not carry it
            self.register_buffer("table", table, persistent=False)

    def forward(self, x):
        n = x.shape[1]
        if not torch.jit.is_tracing() and n > self.max_len:
            raise ValueError(f"PositionalEncoding: the sequence has {n} steps but max_len is "
                             f"{self.max_len}; raise max_len to at least {n}")
        table = self.position.weight if self.mode == "learned" else self.table
        return self.dropout(x + table[:n])


class TimePool(nn.Module):
    """[B, T, D] → [B, D] over the steps that are not padding (``mask`` [B, T], True or
    nonzero = padding): their mean, their maximum, the last of them, or their average
    weighted by a softmax of a learned query's scores q·x_t.  A sample that is all padding
    gives zeros."""

    def __init__(self, mode: str = "mean", dim: int = 0):
        super().__init__()
        self.mode = mode
        if mode == "attention":
            self.query = nn.Linear(dim, 1, bias=False)

    def forward(self, x, mask=None):
        if mask is None:
            if self.mode == "mean":
                return x.mean(1)
            if self.mode == "max":
                return x.amax(1)
            if self.mode == "last":
                return x[:, -1]
            return self._weigh(x, self.query(x).squeeze(-1))
        keep = mask == 0  # [B, T]
        some = keep.any(1, keepdim=True)  # [B, 1]: the sample has a step that is not padding
        if self.mode == "mean":
            w = keep.to(x.dtype).unsqueeze(-1)
            return (x * w).sum(1) / w.sum(1).clamp(min=1)
        if self.mode == "max":
            y = x.masked_fill(~keep.unsqueeze(-1), float("-inf")).amax(1)
        elif self.mode == "last":
            steps = torch.arange(1, x.shape[1] + 1, device=x.device)
            last = ((keep.long() * steps).amax(1) - 1).clamp(min=0)  # its index, 0 if none
            y = x.gather(1, last.view(-1, 1, 1).expand(-1, 1, x.shape[2])).squeeze(1)
        else:
            scores = self.query(x).squeeze(-1).masked_fill(~keep, float("-inf"))
            y = self._weigh(x, scores.masked_fill(~some, 0.0))  # all padding: no NaN
        return y.masked_fill(~some, 0.0)

    @staticmethod
    def _weigh(x, scores):
        weights = torch.softmax(scores, dim=1)  # [B, T]
        return torch.bmm(weights.unsqueeze(1), x).squeeze(1)


class Permute(nn.Module):
    """Reorders the per-sample axes: ``dims`` is their new order, the batch axis excluded."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(0, *(d + 1 for d in self.dims))
