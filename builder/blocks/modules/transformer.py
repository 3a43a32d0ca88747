"""The torch modules the transformer blocks build (specs: ``builder/blocks/transformer.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

from torch import nn

from builder.blocks.modules.attention import Attending

__all__ = ["EncoderLayer", "DecoderLayer"]


class EncoderLayer(Attending, nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer's weights, batch-first, with a causal switch and a padding
    mask: self-attention, then feed-forward, each with a residual and a LayerNorm."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, causal: bool = False):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation,
                         batch_first=True, norm_first=norm_first)
        self.causal = causal

    def forward(self, x, pad_mask=None):
        mask = self.key_mask(x, x, pad_mask, self.causal)
        if self.norm_first:
            x = x + self._attend(self.norm1(x), mask)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._attend(x, mask))
        return self.norm2(x + self._feed_forward(x))

    def _attend(self, x, mask):
        return self.dropout1(self.attend(self.self_attn, x, x, x, mask, need_weights=False)[0])

    def _feed_forward(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class DecoderLayer(Attending, nn.TransformerDecoderLayer):
    """nn.TransformerDecoderLayer's weights, batch-first: masked self-attention, attention over
    the encoder's ``memory``, feed-forward, each with a residual and a LayerNorm.  Returns
    (y, the cross-attention weights averaged over the heads [B, T, S]; None when
    ``need_weights`` is off, which takes the fused kernel)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, causal: bool = True,
                 need_weights: bool = True):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation,
                         batch_first=True, norm_first=norm_first)
        self.causal = causal
        self.need_weights = need_weights

    def forward(self, x, memory, pad_mask=None, memory_pad_mask=None):
        own = self.key_mask(x, x, pad_mask, self.causal)
        cross = self.key_mask(x, memory, memory_pad_mask)
        if self.norm_first:
            x = x + self._attend_self(self.norm1(x), own)
            y, weights = self._attend_memory(self.norm2(x), memory, cross)
            x = x + y
            x = x + self._feed_forward(self.norm3(x))
        else:
            x = self.norm1(x + self._attend_self(x, own))
            y, weights = self._attend_memory(x, memory, cross)
            x = self.norm2(x + y)
            x = self.norm3(x + self._feed_forward(x))
        return x, weights

    def _attend_self(self, x, mask):
        return self.dropout1(self.attend(self.self_attn, x, x, x, mask, need_weights=False)[0])

    def _attend_memory(self, x, memory, mask):
        y, weights = self.attend(self.multihead_attn, x, memory, memory, mask,
                                 self.need_weights)
        return self.dropout2(y), weights

    def _feed_forward(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))
