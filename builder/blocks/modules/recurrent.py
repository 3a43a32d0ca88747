"""The torch modules the recurrent blocks build (specs: ``builder/blocks/recurrent.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LastStep", "RNNLayer", "LSTMLayer", "GRULayer", "RepeatVector"]


class LastStep:
    """The recurrent layers' choice of output: the whole sequence, or only the last step (for a
    bidirectional layer the forward direction's last step and the backward one's first)."""

    def select(self, y):
        if self.output != "last":
            return y
        if self.bidirectional:
            n = self.hidden_size
            return torch.cat([y[:, -1, :n], y[:, 0, n:]], dim=-1)
        return y[:, -1]


class RNNLayer(LastStep, nn.RNN):
    """nn.RNN, batch-first, with batch-first states and a choice of the whole output sequence
    or only its last step."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, output: str = "sequence"):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity=nonlinearity,
                         bias=bias, batch_first=True, dropout=dropout,
                         bidirectional=bidirectional)
        self.output = output

    def forward(self, x, h0=None):
        if h0 is not None:
            h0 = h0.transpose(0, 1).contiguous()  # [B, L·D, H] -> [L·D, B, H]
        y, h = super().forward(x, h0)
        y = self.select(y)
        return y, h.transpose(0, 1)


class LSTMLayer(LastStep, nn.LSTM):
    """nn.LSTM, batch-first, with batch-first states (h and c) and a choice of the whole output
    sequence or only its last step.  A missing initial h or c starts at zeros.
    ``forget_bias`` starts the forget gates' biases there (torch: 0, Keras: 1)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 output: str = "sequence", forget_bias: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)
        self.output = output
        if bias and forget_bias:
            with torch.no_grad():  # gate order i, f, g, o; b_ih + b_hh is the gate's bias
                for name, b in self.named_parameters():
                    if name.startswith("bias_"):
                        b[hidden_size:2 * hidden_size] = forget_bias if "ih" in name else 0.0

    def forward(self, x, h0=None, c0=None):
        state = None
        if h0 is not None or c0 is not None:
            ref = h0 if h0 is not None else c0
            h0 = torch.zeros_like(ref) if h0 is None else h0
            c0 = torch.zeros_like(ref) if c0 is None else c0
            state = (h0.transpose(0, 1).contiguous(), c0.transpose(0, 1).contiguous())
        y, (h, c) = super().forward(x, state)
        y = self.select(y)
        return y, h.transpose(0, 1), c.transpose(0, 1)


class GRULayer(LastStep, nn.GRU):
    """nn.GRU, batch-first, with batch-first states and a choice of the whole output sequence
    or only its last step."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 output: str = "sequence"):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)
        self.output = output

    def forward(self, x, h0=None):
        if h0 is not None:
            h0 = h0.transpose(0, 1).contiguous()  # [B, L·D, H] -> [L·D, B, H]
        y, h = super().forward(x, h0)
        y = self.select(y)
        return y, h.transpose(0, 1)


class RepeatVector(nn.Module):
    """[B, d] -> [B, n, d]: the same vector at each of n time steps (encoder–decoder bridge)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):
        return x.unsqueeze(1).repeat(1, self.n, *([1] * (x.dim() - 1)))
