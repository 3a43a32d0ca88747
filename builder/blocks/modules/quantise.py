"""The torch module of the vector quantiser block (spec: ``builder/blocks/quantise.py``).

Self-contained: code generation copies the class's source into the generated file.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

__all__ = ["VectorQuantiser"]


class VectorQuantiser(nn.Module):
    """Each position's vector x (``dim`` numbers on axis ``axis``) is replaced by its nearest
    codebook row q (squared distance); returns (y, codes).

    y = x + sg[q − x] while training (the straight-through estimator: the value is q, the
    gradient to x is the identity), y = q in eval; codes are the row indices (int64), the
    input's shape without the vector axis.  After every forward ``aux_loss`` =
    ‖sg[x] − q‖² + β‖x − sg[q]‖² (means over the values: the codebook loss moves the codes
    towards the encoder, the commitment loss keeps the encoder near its codes); the two
    parts are kept as ``codebook_loss`` and ``commitment_loss`` and the codes as ``codes``.

    While training, buffers track each code's share of the positions (an exponential moving
    average, ``usage()``) and how many training batches it went unchosen; a code unchosen
    for ``restart_after`` batches (0: never) moves onto a random encoder output of the batch,
    so codes that lost the race are not wasted (codebook collapse).  Codes start out idle,
    so the first batch places every code that no position chose among the data.
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, axis: int = 1,
                 restart_after: int = 20, decay: float = 0.99):
        super().__init__()
        self.codebook = nn.Embedding(num_codes, dim)
        self.beta = beta
        self.axis = axis
        self.restart_after = restart_after
        self.decay = decay
        self.register_buffer("usage_share", torch.full((num_codes,), 1.0 / num_codes))
        self.register_buffer("idle", torch.full((num_codes,), restart_after, dtype=torch.long))
        self.aux_loss = torch.zeros(())
        self.codebook_loss = self.commitment_loss = torch.zeros(())
        self.codes = torch.zeros(0, dtype=torch.long)

    def forward(self, x):
        v = x.movedim(self.axis, -1) if self.axis != -1 else x  # vectors on the last axis
        codes = self.nearest(v)
        q = F.embedding(codes, self.codebook.weight).to(v.dtype)
        self.codebook_loss = (q - v.detach()).float().square().mean()
        self.commitment_loss = (v - q.detach()).float().square().mean()
        self.aux_loss = self.codebook_loss + self.beta * self.commitment_loss
        self.codes = codes
        if self.training:
            with torch.no_grad():
                self._track(v.detach(), codes)
            y = v + (q - v).detach()
        else:
            y = q
        return (y.movedim(y.dim() - 1, self.axis) if self.axis != -1 else y), codes

    def nearest(self, v):
        """Index of the nearest code for each vector of ``v`` [..., dim]: ‖v‖² − 2v·e + ‖e‖²,
        in float32 even under mixed precision (half-precision distances pick wrong codes)."""
        device = v.device.type
        if torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return self.nearest(v.float())
        w = self.codebook.weight.to(v.dtype)
        scores = (w * w).sum(1) - 2 * (v.detach() @ w.detach().t())  # ‖v‖² is the same for all
        return scores.argmin(-1)

    def lookup(self, codes):
        """The quantised latents of integer ``codes`` (what the quantiser outputs for them in
        eval), the vector axis where the input had it: decodes a map of codes."""
        q = self.codebook(codes)
        return q.movedim(q.dim() - 1, self.axis) if self.axis != -1 and q.dim() > 2 else q

    def usage(self):
        """Each code's recent share of the positions, [num_codes], summing to about 1."""
        return self.usage_share.clone()

    def _track(self, v, codes):
        k = self.codebook.num_embeddings
        flat_codes = codes.reshape(-1)
        counts = torch.zeros(k, device=v.device).scatter_add_(
            0, flat_codes, torch.ones(flat_codes.shape, device=v.device))
        self.usage_share.mul_(self.decay).add_(counts / counts.sum().clamp_min(1),
                                               alpha=1 - self.decay)
        self.idle.add_(1).masked_fill_(counts > 0, 0)
        if self.restart_after <= 0 or v.numel() == 0:
            return
        # No data-dependent shapes (no sync, runs on meta): every code gets a candidate row.
        flat = v.reshape(-1, v.shape[-1])
        pick = torch.randint(flat.shape[0], (k,), device=v.device)
        dead = self.idle >= self.restart_after
        weight = self.codebook.weight
        weight.copy_(torch.where(dead[:, None], flat[pick].to(weight.dtype), weight))
        self.idle.masked_fill_(dead, 0)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(weight.data, 0)  # every replica restarts alike
            torch.distributed.broadcast(self.idle, 0)
