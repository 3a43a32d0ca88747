"""How sparse a network's weights are: the share of each layer's weights that are (nearly) 0.

An L1 penalty (the ``l1`` training setting) pulls weights to zero and keeps many there; an
unregularised network leaves almost none that small.  The reporter measures this on every
network whose layer statistics it gathers, at each report (a reduction over the weights
every half second or so, not every step), so a run with L1 and one without draw the same
picture and compare.  The weights are the tensors the L1/L2 penalties act on: trainable
matrices and kernels (two or more dimensions), not biases or norm scales.
"""

from __future__ import annotations

import torch
from torch import nn

from runtime.stats import layer_modules

__all__ = ["SPARSE_BELOW", "WeightSparsity"]

# A weight counts as zero below this magnitude.  With Adam, an L1-pulled weight does not
# land on exactly 0 but jitters around it by about the learning rate's size each step, so
# "exactly zero" would count almost none; 1e-3 is well below the weights a layer starts with
# (He/Kaiming scales are 0.05–0.5 for the layers here) and about the lr of the templates.
SPARSE_BELOW = 1e-3


class WeightSparsity:
    """The near-zero share of each top-level layer's weights, and of all of them."""

    def __init__(self, network: str, module: nn.Module, below: float = SPARSE_BELOW):
        self.network = network
        self.below = below
        self.layers: list[tuple[str, list[torch.Tensor]]] = []
        for name, m in layer_modules(module):
            weights = [p for p in m.parameters() if p.requires_grad and p.dim() >= 2]
            if weights:
                self.layers.append((name, weights))

    def measure(self) -> tuple[dict[str, float], float] | None:
        """({layer: share of its weights below ``below``}, the share over all layers), or
        None for a network with no weights.  One host synchronisation."""
        if not self.layers:
            return None
        with torch.no_grad():
            counts = torch.stack([sum((w.detach().abs() < self.below).sum() for w in weights)
                                  for _, weights in self.layers]).tolist()
        sizes = [sum(w.numel() for w in weights) for _, weights in self.layers]
        shares = {name: c / n for (name, _), c, n in zip(self.layers, counts, sizes)}
        return shares, sum(counts) / sum(sizes)
