"""Attention blocks: single-head attention, multi-head attention, the Transformer encoder and
decoder layers.

Everything is batch-first and works on per-sample sequences ``[T, features]``.  Queries and
keys may have different lengths (cross-attention: a decoder's steps attending over an
encoder's), which is why the maps are ``[Tq, Tk]``.  Every block takes a ``causal`` switch
and a ``pad_mask`` of the keys; both become one boolean mask (``Attending.key_mask``).
Multi-head attention is written out (``Attending.attend``) on nn.MultiheadAttention's weights
so that its ONNX export keeps the sequence length dynamic; the fused kernel stays.
"""

from __future__ import annotations

import math

from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.attention")

__all__: list[str] = []


# --- shape rules, FLOPs and formulas -------------------------------------------------------


def _dim(d) -> int:
    """A size for counting: a symbolic length counts as 1 (FLOPs per step)."""
    return d if isinstance(d, int) else 1


def _check_pad(block: str, port: str, mask, keys, step: str = "key step",
               of: str = "the keys") -> None:
    """A padding mask holds one flag per key step: [Tk] where the keys are [Tk, d]."""
    if mask is None:
        return
    check(len(mask) == 1, f"{block}: {port} needs one flag per {step} "
          f"{fmt_shape(keys[:1])}; received {fmt_shape(mask)}")
    check(not (isinstance(mask[0], int) and isinstance(keys[0], int)) or mask[0] == keys[0],
          f"{block}: {port} needs one flag per {step}, {keys[0]} for {of} "
          f"{fmt_shape(keys)}; received {fmt_shape(mask)}")


def _attention_dims(p, ins):
    q, k, v = ins[:3]
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
    _check_pad("Attention", "pad_mask", ins[3] if len(ins) > 3 else None, k)
    return q, k, v if v is not None else k


def _attention_shape(p, ins):
    q, k, v = _attention_dims(p, ins)
    return [(q[0], v[1]), (q[0], k[0])]


def _attention_build(p, ins):
    q, k, _ = _attention_dims(p, ins)
    return make(modules.Attention, p["score"], q[1], k[1], p["units"],
                **({"causal": True} if p["causal"] else {}))


def _attention_flops(p, ins, outs):
    q, k, v = _attention_dims(p, ins)
    tq, tk = _dim(q[0]), _dim(k[0])
    out = 2 * tq * tk * v[1]  # weights · values
    if p["score"] == "additive":
        u = p["units"]
        return out + 2 * tq * q[1] * u + 2 * tk * k[1] * u + 2 * tq * tk * u
    return out + 2 * tq * tk * q[1]


def _masks_text(p) -> str:
    return "; causal: step t sees keys ≤ t" if p["causal"] else ""


def _attention_explain(p, ins, outs):
    q, k, v = _attention_dims(p, ins)
    tail = (f"\ncontext = softmax(scores)·V: [{q[0]}×{k[0]}]·[{k[0]}×{v[1]}] → "
            f"{fmt_shape(outs[0])}{_masks_text(p)}")
    if p["score"] == "additive":
        u = p["units"]
        n = q[1] * u + k[1] * u + u + u
        return (f"score(q, k) = vᵀ·tanh(W_q·q + W_k·k + b), W_q {u}×{q[1]}, W_k {u}×{k[1]}"
                f"; params = {q[1]}·{u} + {k[1]}·{u} + {u} + {u} = {n:,}" + tail)
    if p["score"] == "dot":
        return "score(q, k) = q·k" + tail
    return f"score(q, k) = q·k / √{q[1]} = q·k / {math.sqrt(q[1]):.3g}" + tail


def _mha_dims(p, q, k=None, v=None, block="MultiHeadAttention"):
    check(q is not None and len(q) == 2 and isinstance(q[1], int),
          f"{block} needs a sequence [T, embed] per sample; received {fmt_shape(q)}")
    e, h = q[1], p["heads"]
    check(e % h == 0, f"{block}: {h} heads must divide the embedding size {e} of the input "
          f"{fmt_shape(q)} evenly (each head gets {e}/{h} features); pick a divisor of {e}")
    k = k if k is not None else q
    v = v if v is not None else k
    for name, s in (("key", k), ("value", v)):
        check(len(s) == 2 and isinstance(s[1], int),
              f"{block} needs a {name} sequence [T, features]; received {fmt_shape(s)}")
    check(not (isinstance(k[0], int) and isinstance(v[0], int)) or k[0] == v[0],
          f"{block} needs one value per key: key {fmt_shape(k)} but value {fmt_shape(v)}")
    return q, k, v


def _mha(p, ins):
    q, k, v = _mha_dims(p, *ins[:3])
    _check_pad("MultiHeadAttention", "pad_mask", ins[3] if len(ins) > 3 else None, k)
    return q, k, v


def _mha_shape(p, ins):
    q, k, _ = _mha(p, ins)
    return [q, (q[0], k[0])]


def _mha_build(p, ins):
    q, k, v = _mha(p, ins)
    given = {"dropout": p["dropout"], "bias": p["bias"], "kdim": k[1], "vdim": v[1],
             "causal": p["causal"]}
    defaults = {"dropout": 0.0, "bias": True, "kdim": q[1], "vdim": q[1], "causal": False}
    return make(modules.MultiHeadAttention, q[1], p["heads"],
                **{k: v for k, v in given.items() if v != defaults[k]})


def _mha_core_flops(q, k, v):
    e, tq, tk = q[1], _dim(q[0]), _dim(k[0])
    proj = 2 * tq * e * e + 2 * tk * k[1] * e + 2 * tk * v[1] * e  # Q, K, V projections
    return proj + 4 * tq * tk * e + 2 * tq * e * e  # QKᵀ, weights·V, output projection


def _mha_explain(p, ins, outs):
    q, k, v = _mha(p, ins)
    e, h = q[1], p["heads"]
    b = 4 * e if p["bias"] else 0
    n = e * e + k[1] * e + v[1] * e + e * e + b
    return (f"head_i = softmax(Q_i·K_iᵀ/√{e // h})·V_i with d_head = {e}/{h} = {e // h}; "
            f"y = concat(heads)·W_o{_masks_text(p)}\nparams = {e}·{e} + {k[1]}·{e} + "
            f"{v[1]}·{e} + {e}·{e}" + (f" + {b}" if b else "") + f" = {n:,}")


_HEADS = Param("heads", "int", 4, help="Attention heads; must divide the embedding size.",
               min=1, max=256)
_CAUSAL = Param("causal", "bool", False,
                help="Step t attends only to steps ≤ t (no peeking at the future): for models "
                     "that predict the next step.")
_PAD = Port("pad_mask", ANY, optional=True,
            help="Padding keys [Tk], True (or nonzero) = padding, which no step attends to; "
                 "a PaddingMask of the token ids.")


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
            _CAUSAL,
        ),
        inputs=(
            Port("query", help="What each output step is looking for [Tq, d]."),
            Port("keys", help="What each input step offers to be matched against [Tk, d]."),
            Port("values", optional=True, help="What each input step returns [Tk, dv]; the keys "
                                               "when unconnected."),
            _PAD,
        ),
        outputs=(
            Port("context", help="Attention-weighted values, one per query step [Tq, dv]."),
            Port("weights", help="The attention map [Tq, Tk]; each row sums to 1."),
        ),
        build=_attention_build,
        shape=_attention_shape,
        explain=_attention_explain,
        flops=_attention_flops,
        example_inputs=((6, 16), (10, 16), None, None),
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
            _CAUSAL,
        ),
        inputs=(
            Port("query"),
            Port("key", optional=True, help="Keys [Tk, dk]; the query when unconnected."),
            Port("value", optional=True, help="Values [Tk, dv]; the key when unconnected."),
            _PAD,
        ),
        outputs=(
            Port("y", help="One output per query step [Tq, embed]."),
            Port("weights", help="Attention map averaged over the heads [Tq, Tk]."),
        ),
        skippable=(("weights", "need_weights"),),
        build=_mha_build,
        shape=_mha_shape,
        explain=_mha_explain,
        flops=lambda p, ins, outs: _mha_core_flops(*_mha(p, ins)),
        title="Multi-head attention",
        example_inputs=((10, 32), None, None, None),
    ),
)
