"""The DALL·E miniature's pieces that are not the recipe: drawing one code from a row of
logits (temperature and top-k) and writing a code sequence one token at a time.

No recipe is defined here (every ``Recipe`` subclass with a name in this package is
registered), only functions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from runtime.recipes import tokens

__all__ = ["top_k_pick", "write_codes"]


def top_k_pick(logits: Tensor, temperature: float, top_k: int,
               generator: torch.Generator | None = None) -> Tensor:
    """One id per row of ``[N, V]`` logits, drawn among the ``top_k`` likeliest (0: all)
    from softmax(logits / temperature); the likeliest at temperature ≈ 0."""
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, -1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return tokens.pick(logits, temperature, generator)


def write_codes(code_logits: Callable[[Tensor], Tensor], n: int, length: int,
                temperature: float, top_k: int, generator: torch.Generator | None,
                device: torch.device, grow: bool = True) -> Tensor:
    """``[n, length]`` codes written left to right.  ``code_logits(codes)`` runs the prior
    and returns its scores ``[n, m, V]`` for each of the ``m`` codes given, each from the
    codes before it alone (a causal network).  So the codes not yet written may be anything:
    with ``grow`` the prior reads only the codes written so far and one placeholder, else
    all ``length`` (zeros after them).  No key-value cache: at 64 codes a pass per code
    costs little."""
    codes = torch.zeros(n, length, dtype=torch.long, device=device)
    for i in range(length):
        logits = code_logits(codes[:, :i + 1] if grow else codes)[:, i]
        codes[:, i] = top_k_pick(logits.float(), temperature, top_k, generator)
    return codes
