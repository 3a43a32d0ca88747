"""Recurrent and attention blocks: RNN, LSTM, GRU, the encoder–decoder bridge, attention.

Everything is batch-first.  A sequence is one sample's ``[T, features]`` (T usually the symbol
``"T"``).  Recurrent states travel on wires as per-sample ``[num_layers·D, H]`` tensors (D = 2
when bidirectional): the modules turn torch's ``[L·D, B, H]`` into batch-first ``[B, L·D, H]``
on the way out and back on the way in, so an encoder's final state wires straight into a
decoder's initial state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from builder.blocks.spec import BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

__all__ = ["RNNLayer", "LSTMLayer", "GRULayer", "RepeatVector", "Attention",
           "MultiHeadAttention"]


# --- modules (self-contained: code generation copies their source) -------------------------


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
    sequence or only its last step.  A missing initial h or c starts at zeros."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 output: str = "sequence"):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)
        self.output = output

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


class Attention(nn.Module):
    """Attention of each query step over the key steps.

    score "scaled_dot": q·k/√d, "dot": q·k, "additive" (Bahdanau): vᵀ tanh(W_q q + W_k k).
    Returns (context [B, Tq, dv], weights [B, Tq, Tk]); values default to the keys.
    """

    def __init__(self, score: str = "scaled_dot", query_dim: int = 0, key_dim: int = 0,
                 units: int = 32):
        super().__init__()
        self.score = score
        self.scale = 1.0 / math.sqrt(key_dim) if score == "scaled_dot" else 1.0
        if score == "additive":
            self.w_query = nn.Linear(query_dim, units, bias=False)
            self.w_keys = nn.Linear(key_dim, units)
            self.v = nn.Linear(units, 1, bias=False)

    def forward(self, query, keys, values=None):
        if values is None:
            values = keys
        if self.score == "additive":
            hidden = torch.tanh(self.w_query(query).unsqueeze(2) + self.w_keys(keys).unsqueeze(1))
            scores = self.v(hidden).squeeze(-1)  # [B, Tq, Tk]
        else:
            scores = torch.matmul(query, keys.transpose(1, 2)) * self.scale
        weights = F.softmax(scores, dim=-1)
        return torch.matmul(weights, values), weights


class MultiHeadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention, batch-first; key defaults to the query (self-attention) and value
    to the key.  Returns (y, attention weights averaged over the heads)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim,
                         batch_first=True)

    def forward(self, query, key=None, value=None):
        if key is None:
            key = query
        if value is None:
            value = key
        return super().forward(query, key, value, need_weights=True, average_attn_weights=True)


# --- shape helpers ------------------------------------------------------------------------

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
_GATE_TEXT = {
    "RNN": "h_t = {act}(W_ih·x_t + b_ih + W_hh·h_(t−1) + b_hh)",
    "LSTM": "4 gates (input, forget, cell, output) each W_i·x_t + W_h·h_(t−1) + b; "
            "c_t = f⊙c_(t−1) + i⊙g, h_t = o⊙tanh(c_t)",
    "GRU": "3 gates (reset, update, new); h_t = (1−z)⊙n + z⊙h_(t−1)",
}


def _dim(d) -> int:
    """A size for counting: a symbolic length counts as 1 (FLOPs per step)."""
    return d if isinstance(d, int) else 1


def _sequence(x, block: str):
    check(x is not None and len(x) == 2,
          f"{block} needs a sequence [T, features] per sample; received {fmt_shape(x)}")
    check(isinstance(x[1], int),
          f"{block} needs a known feature size on the last axis; received {fmt_shape(x)}")
    return x


def _rnn_shape(kind: str):
    def rule(p, ins):
        x = _sequence(ins[0], kind)
        d = 2 if p["bidirectional"] else 1
        state = (p["num_layers"] * d, p["hidden"])
        for name, s in zip(("h0", "c0"), ins[1:], strict=False):
            if s is not None:
                check(tuple(s) == state,
                      f"{kind}: the initial state {name} must be [num_layers·directions, "
                      f"hidden] = {fmt_shape(state)}; received {fmt_shape(s)}")
        y = (x[0], d * p["hidden"]) if p["output"] == "sequence" else (d * p["hidden"],)
        return [y, state] + ([state] if kind == "LSTM" else [])
    return rule


def _rnn_build(kind: str):
    def build(p, ins):
        x = _sequence(ins[0], kind)
        cls = {"RNN": RNNLayer, "LSTM": LSTMLayer, "GRU": GRULayer}[kind]
        # torch warns about dropout with a single layer (there is no "between layers" then)
        dropout = p["dropout"] if p["num_layers"] > 1 else 0.0
        given = {"num_layers": p["num_layers"], "nonlinearity": p.get("nonlinearity", "tanh"),
                 "bias": p["bias"], "dropout": dropout, "bidirectional": p["bidirectional"],
                 "output": p["output"]}
        # only what differs from the module's defaults: short, readable generated code
        kwargs = {k: v for k, v in given.items() if v != _RNN_DEFAULTS[k]}
        return make(cls, x[1], p["hidden"], **kwargs)
    return build


_RNN_DEFAULTS = {"num_layers": 1, "nonlinearity": "tanh", "bias": True, "dropout": 0.0,
                 "bidirectional": False, "output": "sequence"}


def _rnn_layer_inputs(p, ins):
    """Input size of each layer: the features, then D·H for the stacked layers."""
    d = 2 if p["bidirectional"] else 1
    return [ins[0][1]] + [d * p["hidden"]] * (p["num_layers"] - 1)


def _rnn_flops(kind: str):
    def flops(p, ins, outs):
        g, h, d = _GATES[kind], p["hidden"], 2 if p["bidirectional"] else 1
        t = _dim(ins[0][0])
        return sum(2 * t * g * h * (n_in + h) * d for n_in in _rnn_layer_inputs(p, ins))
    return flops


def _rnn_explain(kind: str):
    def explain(p, ins, outs):
        g, h, d = _GATES[kind], p["hidden"], 2 if p["bidirectional"] else 1
        b = 2 * g * h if p["bias"] else 0
        sizes = _rnn_layer_inputs(p, ins)
        total = sum((g * h * (n + h) + b) * d for n in sizes)
        gs = f"{g}·" if g > 1 else ""
        bs = f" + {2 * g}·H" if b else ""
        first = f"{gs}{h}·({sizes[0]} + {h})" + (f" + {b}" if b else "")
        text = _GATE_TEXT[kind].format(act=p.get("nonlinearity", "tanh"))
        return (f"{text}\nparams = {gs}H·(in + H){bs} per layer and direction; layer 1: "
                f"{first} = {g * h * (sizes[0] + h) + b:,}; all {p['num_layers']} layer(s) × "
                f"{d} direction(s): {total:,}")
    return explain


def _rnn_params(kind: str):
    params = [
        Param("hidden", "int", 64, help="Size H of the hidden state (and of each output step).",
              min=1, max=65_536),
        Param("num_layers", "int", 1, help="Recurrent layers stacked on each other.", min=1,
              max=16),
        Param("bidirectional", "bool", False,
              help="Also read the sequence backwards; outputs of both directions are joined."),
        Param("dropout", "float", 0.0, help="Dropout between stacked layers (needs 2+ layers).",
              min=0.0, max=0.95),
        Param("output", "choice", "sequence", choices=("sequence", "last"),
              help="Emit every step [T, D·H], or only the last step [D·H] (e.g. to classify)."),
        Param("bias", "bool", True, help="Learn the additive biases b_ih and b_hh."),
    ]
    if kind == "RNN":
        params.insert(1, Param("nonlinearity", "choice", "tanh", choices=("tanh", "relu"),
                               help="Activation applied to the new hidden state."))
    return tuple(params)


_STATE_HELP = "Initial hidden state [num_layers·D, H]; zeros when unconnected."


def _rnn_spec(kind: str, concept: str) -> BlockSpec:
    ins = [Port("x"), Port("h0", optional=True, help=_STATE_HELP)]
    outs = [Port("y", help="Output sequence [T, D·H], or the last step [D·H]."),
            Port("h", help="Final hidden state of every layer and direction [L·D, H].")]
    if kind == "LSTM":
        ins.append(Port("c0", optional=True, help="Initial cell state [L·D, H]; zeros when "
                                                   "unconnected."))
        outs.append(Port("c", help="Final cell state of every layer and direction [L·D, H]."))
    return BlockSpec(
        kind,
        "Recurrent",
        concept,
        params=_rnn_params(kind),
        inputs=tuple(ins),
        outputs=tuple(outs),
        build=_rnn_build(kind),
        shape=_rnn_shape(kind),
        explain=_rnn_explain(kind),
        flops=_rnn_flops(kind),
        example_inputs=((12, 8),) + (None,) * (len(ins) - 1),
    )


def _repeat_shape(p, ins):
    (x,) = ins
    check(len(x) >= 1, "RepeatVector needs a vector per sample; received a scalar")
    return [(p["n"], *x)]


def _time_linear_shape(p, ins):
    x = _sequence(ins[0], "TimeDistributed Linear")
    return [(x[0], p["units"])]


def _attention_dims(p, ins):
    q, k, v = ins
    check(q is not None and len(q) == 2 and isinstance(q[1], int),
          f"Attention needs a query sequence [Tq, d]; received {fmt_shape(q)}")
    check(k is not None and len(k) == 2 and isinstance(k[1], int),
          f"Attention needs a keys sequence [Tk, d]; received {fmt_shape(k)}")
    if v is not None:
        check(len(v) == 2 and isinstance(v[1], int),
              f"Attention needs a values sequence [Tk, dv]; received {fmt_shape(v)}")
        check(not (isinstance(v[0], int) and isinstance(k[0], int)) or v[0] == k[0],
              f"Attention needs one value per key: keys {fmt_shape(k)} but values "
              f"{fmt_shape(v)}")
    if p["score"] != "additive":
        check(q[1] == k[1], f"Attention: a dot-product score needs queries and keys of the same "
              f"size; received query {fmt_shape(q)} and keys {fmt_shape(k)} (use the additive "
              "score, or a Linear layer to match them)")
    return q, k, v if v is not None else k


def _attention_shape(p, ins):
    q, k, v = _attention_dims(p, ins)
    return [(q[0], v[1]), (q[0], k[0])]


def _attention_flops(p, ins, outs):
    q, k, v = _attention_dims(p, ins)
    tq, tk = _dim(q[0]), _dim(k[0])
    out = 2 * tq * tk * v[1]  # weights · values
    if p["score"] == "additive":
        u = p["units"]
        return out + 2 * tq * q[1] * u + 2 * tk * k[1] * u + 2 * tq * tk * u
    return out + 2 * tq * tk * q[1]


def _attention_explain(p, ins, outs):
    q, k, v = _attention_dims(p, ins)
    tail = f"\ncontext = softmax(scores)·V: [{q[0]}×{k[0]}]·[{k[0]}×{v[1]}] → {fmt_shape(outs[0])}"
    if p["score"] == "additive":
        u = p["units"]
        n = q[1] * u + k[1] * u + u + u
        return (f"score(q, k) = vᵀ·tanh(W_q·q + W_k·k + b), W_q {u}×{q[1]}, W_k {u}×{k[1]}"
                f"; params = {q[1]}·{u} + {k[1]}·{u} + {u} + {u} = {n:,}" + tail)
    if p["score"] == "dot":
        return "score(q, k) = q·k" + tail
    return f"score(q, k) = q·k / √{q[1]} = q·k / {math.sqrt(q[1]):.3g}" + tail


def _mha_dims(p, ins, block="MultiHeadAttention"):
    q = ins[0]
    check(q is not None and len(q) == 2 and isinstance(q[1], int),
          f"{block} needs a sequence [T, embed] per sample; received {fmt_shape(q)}")
    e, h = q[1], p["heads"]
    check(e % h == 0, f"{block}: {h} heads must divide the embedding size {e} of the input "
          f"{fmt_shape(q)} evenly (each head gets {e}/{h} features); pick a divisor of {e}")
    k = ins[1] if len(ins) > 1 and ins[1] is not None else q
    v = ins[2] if len(ins) > 2 and ins[2] is not None else k
    for name, s in (("key", k), ("value", v)):
        check(len(s) == 2 and isinstance(s[1], int),
              f"{block} needs a {name} sequence [T, features]; received {fmt_shape(s)}")
    check(not (isinstance(k[0], int) and isinstance(v[0], int)) or k[0] == v[0],
          f"{block} needs one value per key: key {fmt_shape(k)} but value {fmt_shape(v)}")
    return q, k, v


def _mha_shape(p, ins):
    q, k, v = _mha_dims(p, ins)
    return [q, (q[0], k[0])]


def _mha_build(p, ins):
    q, k, v = _mha_dims(p, ins)
    given = {"dropout": p["dropout"], "bias": p["bias"], "kdim": k[1], "vdim": v[1]}
    defaults = {"dropout": 0.0, "bias": True, "kdim": q[1], "vdim": q[1]}
    return make(MultiHeadAttention, q[1], p["heads"],
                **{k: v for k, v in given.items() if v != defaults[k]})


def _mha_core_flops(q, k, v):
    e, tq, tk = q[1], _dim(q[0]), _dim(k[0])
    proj = 2 * tq * e * e + 2 * tk * k[1] * e + 2 * tk * v[1] * e  # Q, K, V projections
    return proj + 4 * tq * tk * e + 2 * tq * e * e  # QKᵀ, weights·V, output projection


def _mha_explain(p, ins, outs):
    q, k, v = _mha_dims(p, ins)
    e, h = q[1], p["heads"]
    b = 4 * e if p["bias"] else 0
    n = e * e + k[1] * e + v[1] * e + e * e + b
    return (f"head_i = softmax(Q_i·K_iᵀ/√{e // h})·V_i with d_head = {e}/{h} = {e // h}; "
            f"y = concat(heads)·W_o\nparams = {e}·{e} + {k[1]}·{e} + {v[1]}·{e} + {e}·{e}"
            + (f" + {b}" if b else "") + f" = {n:,}")


def _encoder_shape(p, ins):
    q, _, _ = _mha_dims(p, ins, "TransformerEncoderLayer")
    return [q]


def _encoder_build(p, ins):
    q, _, _ = _mha_dims(p, ins, "TransformerEncoderLayer")
    given = {"dropout": p["dropout"], "activation": p["activation"],
             "norm_first": p["norm_first"]}
    defaults = {"dropout": 0.1, "activation": "relu", "norm_first": False}
    return make(nn.TransformerEncoderLayer, q[1], p["heads"], p["feedforward"],
                batch_first=True, **{k: v for k, v in given.items() if v != defaults[k]})


def _encoder_flops(p, ins, outs):
    q, _, _ = _mha_dims(p, ins, "TransformerEncoderLayer")
    return _mha_core_flops(q, q, q) + 4 * _dim(q[0]) * q[1] * p["feedforward"]


def _encoder_explain(p, ins, outs):
    q, _, _ = _mha_dims(p, ins, "TransformerEncoderLayer")
    e, h, f = q[1], p["heads"], p["feedforward"]
    n = 4 * e * e + 4 * e + 2 * e * f + f + e + 4 * e
    order = ("x + Attn(LN(x)), then x + FF(LN(x))" if p["norm_first"]
             else "LN(x + Attn(x)), then LN(x + FF(x))")
    return (f"{order}; {h} heads of size {e // h}, FF = Linear {e}→{f}, {p['activation']}, "
            f"Linear {f}→{e}\nparams = 4·{e}² + 4·{e} (attention) + 2·{e}·{f} + {f} + {e} (FF)"
            f" + 4·{e} (2 LayerNorms) = {n:,}")


_HEADS = Param("heads", "int", 4, help="Attention heads; must divide the embedding size.",
               min=1, max=256)

register(
    _rnn_spec(
        "RNN",
        "A simple (Elman) recurrent layer: it reads a sequence one step at a time and keeps a "
        "hidden state that mixes the new input with its memory of the past. Long sequences "
        "make its gradients vanish or explode, which LSTM and GRU were designed to fix.",
    ),
    _rnn_spec(
        "LSTM",
        "A Long Short-Term Memory layer: besides the hidden state it carries a cell state that "
        "gates (forget, input, output) update additively, so information and gradients can "
        "survive over many steps.",
    ),
    _rnn_spec(
        "GRU",
        "A Gated Recurrent Unit: a lighter cousin of the LSTM with two gates (reset, update) "
        "and no separate cell state, often as good with fewer weights.",
    ),
    BlockSpec(
        "RepeatVector",
        "Recurrent",
        "Copies one vector to every one of n time steps: the bridge of a simple encoder–decoder, "
        "where the encoder's summary vector is fed to the decoder at each step.",
        params=(Param("n", "int", 10, help="Number of time steps to produce.", min=1,
                      max=100_000),),
        build=lambda p, ins: make(RepeatVector, p["n"]),
        shape=_repeat_shape,
        explain=lambda p, ins, outs: f"{fmt_shape(ins[0])} → {fmt_shape(outs[0])}: the same "
                                     f"vector at each of {p['n']} steps",
        example_inputs=((16,),),
        has_weights=False,
    ),
    BlockSpec(
        "TimeDistributedLinear",
        "Recurrent",
        "The same Linear layer applied independently at every time step (shared weights), e.g. "
        "to turn each output of an RNN into class scores or a prediction per step.",
        params=(
            Param("units", "int", 32, help="Outputs per time step.", min=1, max=1_000_000),
            Param("bias", "bool", True, help="Learn an additive bias b."),
        ),
        build=lambda p, ins: make(nn.Linear, _sequence(ins[0], "TimeDistributed Linear")[1],
                                  p["units"], bias=p["bias"]),
        shape=_time_linear_shape,
        explain=lambda p, ins, outs: (
            f"y_t = W·x_t + b at each of the {ins[0][0]} steps, W of size "
            f"{p['units']}×{ins[0][1]}\nparams = {ins[0][1]}·{p['units']} + "
            f"{p['units'] if p['bias'] else 0} = "
            f"{ins[0][1] * p['units'] + (p['units'] if p['bias'] else 0):,}"),
        flops=lambda p, ins, outs: 2 * _dim(ins[0][0]) * ins[0][1] * p["units"],
        title="TimeDistributed Linear",
        example_inputs=((12, 16),),
    ),
    BlockSpec(
        "Attention",
        "Recurrent",
        "Each query step looks at all key steps, scores how relevant each is, turns the scores "
        "into weights with a softmax and returns the weighted average of the values: how a "
        "decoder chooses which encoder steps to read. The weights output is the attention map.",
        params=(
            Param("score", "choice", "scaled_dot", choices=("scaled_dot", "dot", "additive"),
                  help="How query and key are compared: q·k/√d, q·k, or Bahdanau's "
                       "vᵀ tanh(W_q q + W_k k)."),
            Param("units", "int", 32, help="Hidden size of the additive score (additive only).",
                  min=1, max=65_536),
        ),
        inputs=(
            Port("query", help="What each output step is looking for [Tq, d]."),
            Port("keys", help="What each input step offers to be matched against [Tk, d]."),
            Port("values", optional=True, help="What each input step returns [Tk, dv]; the keys "
                                               "when unconnected."),
        ),
        outputs=(
            Port("context", help="Attention-weighted values, one per query step [Tq, dv]."),
            Port("weights", help="The attention map [Tq, Tk]; each row sums to 1."),
        ),
        build=lambda p, ins: make(Attention, p["score"], _attention_dims(p, ins)[0][1],
                                  _attention_dims(p, ins)[1][1], p["units"]),
        shape=_attention_shape,
        explain=_attention_explain,
        flops=_attention_flops,
        example_inputs=((6, 16), (10, 16), None),
    ),
    BlockSpec(
        "MultiHeadAttention",
        "Recurrent",
        "Several attention heads in parallel, each projecting queries, keys and values to a "
        "smaller space and attending there, so different heads can follow different relations. "
        "With key and value unconnected it is self-attention: the sequence attends to itself.",
        params=(
            _HEADS,
            Param("dropout", "float", 0.0, help="Dropout on the attention weights while "
                                                "training.", min=0.0, max=0.95),
            Param("bias", "bool", True, help="Learn biases in the projections."),
        ),
        inputs=(
            Port("query"),
            Port("key", optional=True, help="Keys [Tk, dk]; the query when unconnected."),
            Port("value", optional=True, help="Values [Tk, dv]; the key when unconnected."),
        ),
        outputs=(
            Port("y", help="One output per query step [Tq, embed]."),
            Port("weights", help="Attention map averaged over the heads [Tq, Tk]."),
        ),
        build=_mha_build,
        shape=_mha_shape,
        explain=_mha_explain,
        flops=lambda p, ins, outs: _mha_core_flops(*_mha_dims(p, ins)),
        title="Multi-head attention",
        example_inputs=((10, 32), None, None),
    ),
    BlockSpec(
        "TransformerEncoderLayer",
        "Recurrent",
        "One layer of a Transformer encoder: multi-head self-attention lets every step look at "
        "every other, then a small feed-forward network processes each step; both are wrapped "
        "in residual connections and layer normalisation.",
        params=(
            _HEADS,
            Param("feedforward", "int", 128, help="Hidden size of the feed-forward network.",
                  min=1, max=1_000_000),
            Param("dropout", "float", 0.1, help="Dropout after attention and feed-forward.",
                  min=0.0, max=0.95),
            Param("activation", "choice", "relu", choices=("relu", "gelu"),
                  help="Activation inside the feed-forward network."),
            Param("norm_first", "bool", False,
                  help="Pre-norm: normalise before each sub-layer (trains more stably)."),
        ),
        build=_encoder_build,
        shape=_encoder_shape,
        explain=_encoder_explain,
        flops=_encoder_flops,
        title="Transformer encoder layer",
        example_inputs=((10, 32),),
    ),
)
