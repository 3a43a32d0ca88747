"""Attention blocks: single-head attention, multi-head attention, the Transformer encoder layer.

Everything is batch-first and works on per-sample sequences ``[T, features]``.  Queries and
keys may have different lengths (cross-attention: a decoder's steps attending over an
encoder's), which is why the maps are ``[Tq, Tk]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from builder.blocks.spec import BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

__all__ = ["Attention", "MultiHeadAttention"]


# --- modules (self-contained: code generation copies their source) -------------------------


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
    to the key.  Returns (y, attention weights averaged over the heads).

    ``need_weights`` False takes torch's fused scaled-dot-product kernel, which never builds
    the [B, heads, Tq, Tk] map (less memory, faster), and returns None for the weights: set
    it so only where nothing reads the weights output."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, need_weights: bool = True):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim,
                         batch_first=True)
        self.need_weights = need_weights

    def forward(self, query, key=None, value=None):
        if key is None:
            key = query
        if value is None:
            value = key
        return super().forward(query, key, value, need_weights=self.need_weights,
                               average_attn_weights=True)


# --- shape rules, FLOPs and formulas -------------------------------------------------------


def _dim(d) -> int:
    """A size for counting: a symbolic length counts as 1 (FLOPs per step)."""
    return d if isinstance(d, int) else 1


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
    BlockSpec(
        "Attention",
        "Attention",
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
        "Attention",
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
        skippable=(("weights", "need_weights"),),
        build=_mha_build,
        shape=_mha_shape,
        explain=_mha_explain,
        flops=lambda p, ins, outs: _mha_core_flops(*_mha_dims(p, ins)),
        title="Multi-head attention",
        example_inputs=((10, 32), None, None),
    ),
    BlockSpec(
        "TransformerEncoderLayer",
        "Attention",
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
