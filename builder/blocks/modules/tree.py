"""The torch modules the tree blocks build (specs: ``builder/blocks/tree.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TreeCell"]


class TreeCell(nn.Module):
    """One cell over a batch of trees, a level at a time.  A leaf's vector is
    act(W_x·x + b); an inner node's is act(W_l·h_left + W_r·h_right + W_x·x + b), with
    [W_l W_r] one Linear over [h_left; h_right].

    Heights (leaves 0) come from ``max_depth + 1`` vectorised passes: after pass k each node
    holds min(height, k), so the extra pass shows a tree too deep.  Then for level 1..max_depth
    every node of that height across the batch is computed at once from its children's final
    vectors (a gather and a torch.where): a fixed loop, which unrolls in ONNX.  Training
    refuses trees deeper than ``max_depth``; in evaluation (and in an exported model, which
    cannot raise) their nodes above ``max_depth`` keep their leaf vector.
    """

    def __init__(self, features: int, hidden: int, activation: str = "tanh",
                 max_depth: int = 6):
        super().__init__()
        self.w_x = nn.Linear(features, hidden)  # W_x and b, applied to every node
        self.w_children = nn.Linear(2 * hidden, hidden, bias=False)  # [W_l W_r]
        self.activation = activation
        self.max_depth = max_depth

    def act(self, z):
        return torch.tanh(z) if self.activation == "tanh" else torch.relu(z)

    def heights(self, left, right):
        """min(height, max_depth + 1) of every node, [B, M] (leaves and padding 0)."""
        m = left.shape[1]
        has_l, has_r = left >= 0, right >= 0
        li, ri = left.clamp(0, m - 1), right.clamp(0, m - 1)
        none = torch.full_like(left, -1)  # a missing child: 1 + max(-1, -1) = 0 for a leaf
        height = torch.zeros_like(left)
        for _ in range(self.max_depth + 1):
            height = 1 + torch.maximum(torch.where(has_l, height.gather(1, li), none),
                                       torch.where(has_r, height.gather(1, ri), none))
        return height

    def forward(self, x, left, right, root=None):
        m, size = x.shape[1], self.w_x.out_features
        left, right = left.long(), right.long()
        height = self.heights(left, right)
        if self.training and not torch.jit.is_tracing() and not x.is_meta:
            deepest = int(height.max()) if height.numel() else 0
            if deepest > self.max_depth:
                raise ValueError(
                    f"TreeCell: a tree in this batch is deeper than max_depth = "
                    f"{self.max_depth} levels above its leaves (or its left/right positions "
                    "do not form a tree): raise max_depth")
        has_l, has_r = (left >= 0).unsqueeze(-1), (right >= 0).unsqueeze(-1)
        at_l = left.clamp(0, m - 1).unsqueeze(-1).expand(-1, -1, size)
        at_r = right.clamp(0, m - 1).unsqueeze(-1).expand(-1, -1, size)
        base = self.w_x(x)  # W_x·x + b of every node
        h = self.act(base)  # the leaves' final vectors; inner nodes are replaced below
        zero = torch.zeros_like(h)
        for level in range(1, self.max_depth + 1):
            h_l = torch.where(has_l, h.gather(1, at_l), zero)
            h_r = torch.where(has_r, h.gather(1, at_r), zero)
            new = self.act(self.w_children(torch.cat([h_l, h_r], -1)) + base)
            h = torch.where((height == level).unsqueeze(-1), new, h)
        if root is None:  # the first node of greatest height: the root of a post-order tree
            root = height.argmax(1)
        at_root = root.long().reshape(-1, 1, 1).clamp(0, m - 1).expand(-1, 1, size)
        return h, h.gather(1, at_root).squeeze(1)
