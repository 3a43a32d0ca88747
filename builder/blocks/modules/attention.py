"""The torch modules the attention blocks build (specs: ``builder/blocks/attention.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Attending", "Attention", "MultiHeadAttention", "CrossAttention"]


class Attending:
    """What the attention modules share: the mask of hidden keys, and multi-head attention
    written out.  torch's own F.multi_head_attention_forward, traced for ONNX, bakes the
    sequence length into its reshapes; this one keeps every length dynamic, and with
    ``need_weights`` off takes torch's fused scaled-dot-product kernel."""

    def key_mask(self, query, key, pad_mask=None, causal=False):
        """Keys each query may not see, True = hidden: [Tq, Tk] (causal only), [B, Tq, Tk]
        (with ``pad_mask`` [B, Tk], True or nonzero = padding), or None.  A query left with
        no key keeps the first one, so that its softmax never divides zero by zero (NaN):
        only a padding query, or a sample that is all padding, gets there."""
        if not causal and pad_mask is None:
            return None
        tq, tk = query.shape[1], key.shape[1]
        hidden = None
        if causal:
            steps = torch.arange(tk, device=query.device)
            hidden = steps.unsqueeze(0) > torch.arange(tq, device=query.device).unsqueeze(1)
        if pad_mask is not None:
            pad = (pad_mask != 0).unsqueeze(1).expand(-1, tq, -1)
            hidden = pad if hidden is None else pad | hidden
            blind = hidden.all(-1, keepdim=True)
            hidden = torch.cat([hidden[..., :1] & ~blind, hidden[..., 1:]], -1)
        return hidden

    @staticmethod
    def attend(attn, query, key, value, mask=None, need_weights=True):
        """nn.MultiheadAttention ``attn`` (batch-first) on [B, T, features] inputs; returns
        (y [B, Tq, E], weights averaged over the heads [B, Tq, Tk], or None)."""
        if attn._qkv_same_embed_dim:
            w = attn.in_proj_weight.chunk(3)
        else:
            w = (attn.q_proj_weight, attn.k_proj_weight, attn.v_proj_weight)
        b = (None,) * 3 if attn.in_proj_bias is None else attn.in_proj_bias.chunk(3)
        if query is key and key is value:  # self-attention: one packed projection
            q, k, v = F.linear(query, attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
        else:
            q, k, v = (F.linear(t, wi, bi) for t, wi, bi in zip((query, key, value), w, b))
        q, k, v = (t.unflatten(-1, (attn.num_heads, -1)).transpose(1, 2) for t in (q, k, v))
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # the same for every head
        p = attn.dropout if attn.training else 0.0
        weights = None
        if need_weights:
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf"))
            weights = F.softmax(scores, dim=-1)
            y = torch.matmul(F.dropout(weights, p, attn.training), v)
            weights = weights.mean(1)  # the map before dropout: rows that sum to 1
        elif mask is not None and mask.dim() == 2:  # causal alone: the flash kernel takes it
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if mask is None else ~mask, dropout_p=p)
        return attn.out_proj(y.transpose(1, 2).flatten(2)), weights


class Attention(Attending, nn.Module):
    """Attention of each query step over the key steps.

    score "scaled_dot": q·k/√d, "dot": q·k, "additive" (Bahdanau): vᵀ tanh(W_q q + W_k k).
    Returns (context [B, Tq, dv], weights [B, Tq, Tk]); values default to the keys.
    """

    def __init__(self, score: str = "scaled_dot", query_dim: int = 0, key_dim: int = 0,
                 units: int = 32, causal: bool = False):
        super().__init__()
        self.score = score
        self.causal = causal
        self.scale = 1.0 / math.sqrt(key_dim) if score == "scaled_dot" else 1.0
        if score == "additive":
            self.w_query = nn.Linear(query_dim, units, bias=False)
            self.w_keys = nn.Linear(key_dim, units)
            self.v = nn.Linear(units, 1, bias=False)

    def forward(self, query, keys, values=None, pad_mask=None):
        if values is None:
            values = keys
        if self.score == "additive":
            hidden = torch.tanh(self.w_query(query).unsqueeze(2) + self.w_keys(keys).unsqueeze(1))
            scores = self.v(hidden).squeeze(-1)  # [B, Tq, Tk]
        else:
            scores = torch.matmul(query, keys.transpose(1, 2)) * self.scale
        mask = self.key_mask(query, keys, pad_mask, self.causal)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        weights = F.softmax(scores, dim=-1)
        return torch.matmul(weights, values), weights


class MultiHeadAttention(Attending, nn.MultiheadAttention):
    """nn.MultiheadAttention's weights, batch-first; key defaults to the query (self-attention)
    and value to the key.  Returns (y, attention weights averaged over the heads).

    ``need_weights`` False takes torch's fused scaled-dot-product kernel, which never builds
    the [B, heads, Tq, Tk] map (less memory, faster), and returns None for the weights: set
    it so only where nothing reads the weights output."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, need_weights: bool = True,
                 causal: bool = False):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim,
                         batch_first=True)
        self.need_weights = need_weights
        self.causal = causal

    def forward(self, query, key=None, value=None, pad_mask=None):
        if key is None:
            key = query
        if value is None:
            value = key
        mask = self.key_mask(query, key, pad_mask, self.causal)
        return self.attend(self, query, key, value, mask, self.need_weights)


class CrossAttention(Attending, nn.Module):
    """Multi-head attention of the positions of x (queries) over a context sequence (keys and
    values): an image [B, C, H, W] attends at each of its H·W positions, a sequence
    [B, T, C] at each step.  y = x + attention(LayerNorm(x), context), the shape of x (the
    norm and the residual each optional); weights [B, positions, S] averaged over the heads,
    or None with ``need_weights`` off (the fused kernel)."""

    def __init__(self, channels: int, context_dim: int, num_heads: int, image: bool = True,
                 norm: bool = True, residual: bool = True, need_weights: bool = True):
        super().__init__()
        self.image, self.residual, self.need_weights = image, residual, need_weights
        self.norm = nn.LayerNorm(channels) if norm else None
        self.attn = nn.MultiheadAttention(channels, num_heads, kdim=context_dim,
                                          vdim=context_dim, batch_first=True)

    def forward(self, x, context, pad_mask=None):
        seq = x.flatten(2).transpose(1, 2) if self.image else x  # [B, positions, C]
        query = seq if self.norm is None else self.norm(seq)
        mask = self.key_mask(query, context, pad_mask)
        y, weights = self.attend(self.attn, query, context, context, mask, self.need_weights)
        if self.residual:
            y = seq + y
        if self.image:
            y = y.transpose(1, 2).reshape(x.shape)
        return y, weights
