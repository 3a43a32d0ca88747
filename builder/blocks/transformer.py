"""The Transformer's layers: the encoder layer (self-attention, then feed-forward) and the
decoder layer (masked self-attention, cross-attention over the encoder's output, then
feed-forward), each sub-layer wrapped in a residual connection and a LayerNorm.

They keep torch's own layers' weights (so saved weights load) and do the attention through
``Attending``, which takes masks and exports to ONNX at any length (see ``modules/attention.py``).
"""

from __future__ import annotations

from builder.blocks.attention import (
    _CAUSAL,
    _HEADS,
    _PAD,
    _check_pad,
    _dim,
    _masks_text,
    _mha_core_flops,
    _mha_dims,
)
from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.transformer")

__all__: list[str] = []


# --- shape rules, FLOPs and formulas -------------------------------------------------------


def _layer_kwargs(p, causal_default: bool) -> dict:
    """The layer's constructor options that differ from its defaults (short generated code)."""
    given = {"dropout": p["dropout"], "activation": p["activation"],
             "norm_first": p["norm_first"], "causal": p["causal"]}
    defaults = {"dropout": 0.1, "activation": "relu", "norm_first": False,
                "causal": causal_default}
    return {k: v for k, v in given.items() if v != defaults[k]}


def _encoder(p, ins):
    x, _, _ = _mha_dims(p, ins[0], block="TransformerEncoderLayer")
    _check_pad("TransformerEncoderLayer", "pad_mask", ins[1] if len(ins) > 1 else None, x)
    return x


def _encoder_flops(p, ins, outs):
    q = _encoder(p, ins)
    return _mha_core_flops(q, q, q) + 4 * _dim(q[0]) * q[1] * p["feedforward"]


def _sublayers(p) -> str:
    return ("x + Attn(LN(x)), then x + FF(LN(x))" if p["norm_first"]
            else "LN(x + Attn(x)), then LN(x + FF(x))")


def _encoder_explain(p, ins, outs):
    q = _encoder(p, ins)
    e, h, f = q[1], p["heads"], p["feedforward"]
    n = 4 * e * e + 4 * e + 2 * e * f + f + e + 4 * e
    return (f"{_sublayers(p)}; {h} heads of size {e // h}, FF = Linear {e}→{f}, "
            f"{p['activation']}, Linear {f}→{e}{_masks_text(p)}\nparams = 4·{e}² + 4·{e} "
            f"(attention) + 2·{e}·{f} + {f} + {e} (FF) + 4·{e} (2 LayerNorms) = {n:,}")


def _decoder(p, ins):
    block = "TransformerDecoderLayer"
    x, _, _ = _mha_dims(p, ins[0], block=block)
    m = ins[1]
    check(m is not None and len(m) == 2 and m[1] == x[1],
          f"{block}: memory (the encoder's output) must be a sequence [S, {x[1]}], as wide as "
          f"the decoder's input {fmt_shape(x)}; received {fmt_shape(m)} (a TimeDistributed "
          "Linear can match the widths)")
    _check_pad(block, "pad_mask", ins[2] if len(ins) > 2 else None, x)
    _check_pad(block, "memory_pad_mask", ins[3] if len(ins) > 3 else None, m)
    return x, m


def _decoder_flops(p, ins, outs):
    x, m = _decoder(p, ins)
    return (_mha_core_flops(x, x, x) + _mha_core_flops(x, m, m)
            + 4 * _dim(x[0]) * x[1] * p["feedforward"])


def _decoder_explain(p, ins, outs):
    x, m = _decoder(p, ins)
    e, h, f = x[1], p["heads"], p["feedforward"]
    n = 8 * e * e + 8 * e + 2 * e * f + f + e + 6 * e
    order = ("x + SelfAttn(LN(x)), x + CrossAttn(LN(x), memory), x + FF(LN(x))"
             if p["norm_first"] else
             "LN(x + SelfAttn(x)), LN(x + CrossAttn(x, memory)), LN(x + FF(x))")
    seen = "step t sees steps ≤ t" if p["causal"] else "every step sees every step"
    return (f"{order}; self-attention: {seen}; cross-attention [{x[0]}×{m[0]}] over the "
            f"memory; {h} heads of size {e // h}\nparams = 2·(4·{e}² + 4·{e}) (2 attentions) + "
            f"2·{e}·{f} + {f} + {e} (FF) + 6·{e} (3 LayerNorms) = {n:,}")


_DROPOUT = Param("dropout", "float", 0.1, help="Dropout after attention and feed-forward.",
                 min=0.0, max=0.95)
_ACTIVATION = Param("activation", "choice", "relu", choices=("relu", "gelu"),
                    help="Activation inside the feed-forward network.")
_NORM_FIRST = Param("norm_first", "bool", False,
                    help="Pre-norm: normalise before each sub-layer (trains more stably).")


register(
    BlockSpec(
        "TransformerEncoderLayer",
        "Attention",
        "One layer of a Transformer encoder: multi-head self-attention lets every step look at "
        "every other, then a small feed-forward network processes each step; both are wrapped "
        "in residual connections and layer normalisation. Causal, it becomes a GPT-style "
        "block: each step sees only the steps before it.",
        params=(
            _HEADS,
            Param("feedforward", "int", 128, help="Hidden size of the feed-forward network.",
                  min=1, max=1_000_000),
            _DROPOUT, _ACTIVATION, _NORM_FIRST, _CAUSAL,
        ),
        inputs=(Port("x"), _PAD),
        build=lambda p, ins: make(modules.EncoderLayer, _encoder(p, ins)[1], p["heads"],
                                  p["feedforward"], **_layer_kwargs(p, False)),
        shape=lambda p, ins: [_encoder(p, ins)],
        explain=_encoder_explain,
        flops=_encoder_flops,
        title="Transformer encoder layer",
        example_inputs=((10, 32), None),
    ),
    BlockSpec(
        "TransformerDecoderLayer",
        "Attention",
        "One layer of a Transformer decoder: masked self-attention over the output produced so "
        "far (step t sees only steps ≤ t), then cross-attention in which every step reads the "
        "encoder's output (the memory, which may be longer or shorter), then a feed-forward "
        "network; each wrapped in a residual connection and layer normalisation. The weights "
        "output is the cross-attention map: which input steps each output step read.",
        params=(
            _HEADS,
            Param("feedforward", "int", 128, help="Hidden size of the feed-forward network.",
                  min=1, max=1_000_000),
            _DROPOUT,
            Param("causal", "bool", True, help="Step t of the decoder's input attends only to "
                                               "steps ≤ t: it cannot peek at what it predicts."),
            _NORM_FIRST, _ACTIVATION,
        ),
        inputs=(
            Port("x", help="The decoder's input sequence [T, D] (e.g. the shifted targets)."),
            Port("memory", help="The encoder's output [S, D]; S may differ from T."),
            Port("pad_mask", ANY, optional=True,
                 help="Padding steps of x [T], True (or nonzero) = padding."),
            Port("memory_pad_mask", ANY, optional=True,
                 help="Padding steps of the memory [S], True (or nonzero) = padding."),
        ),
        outputs=(
            Port("y", help="One output per decoder step [T, D]."),
            Port("weights", help="Cross-attention map averaged over the heads [T, S]."),
        ),
        skippable=(("weights", "need_weights"),),
        build=lambda p, ins: make(modules.DecoderLayer, _decoder(p, ins)[0][1], p["heads"],
                                  p["feedforward"], **_layer_kwargs(p, True)),
        shape=lambda p, ins: [_decoder(p, ins)[0], (ins[0][0], ins[1][0])],
        explain=_decoder_explain,
        flops=_decoder_flops,
        title="Transformer decoder layer",
        example_inputs=((8, 32), (10, 32), None, None),
    ),
)
