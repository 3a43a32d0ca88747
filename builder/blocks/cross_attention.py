"""Cross-attention: the positions of an image (or the steps of a sequence) attend over a
context sequence, such as a caption's token features, as text-to-image U-Nets do.

Its module (``modules.attention.CrossAttention``) shares the written-out multi-head attention
of the other attention blocks, so its ONNX export keeps the lengths dynamic.
"""

from __future__ import annotations

from builder.blocks.attention import _HEADS, _check_pad, _dim, _mha_core_flops
from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.attention")

__all__: list[str] = []


def _positions(x):
    """Query positions of x: the steps of [T, C], the H·W pixels of [C, H, W]."""
    if len(x) == 2:
        return x[0]
    h, w = x[1], x[2]
    if isinstance(h, int) and isinstance(w, int):
        return h * w
    return "*".join(d if isinstance(d, int) or d.isidentifier() else f"({d})"
                    for d in map(str, (h, w)))


def _cross(p, ins):
    """(x, context, channels, positions) after the checks."""
    x, ctx = ins[:2]
    check(x is not None and len(x) in (2, 3),
          f"CrossAttention needs x as a sequence [T, C] or an image [C, H, W]; received "
          f"{fmt_shape(x)}")
    c = x[0] if len(x) == 3 else x[1]
    check(isinstance(c, int), f"CrossAttention needs a known channel count in x; received "
          f"{fmt_shape(x)}")
    check(c % p["heads"] == 0, f"CrossAttention: {p['heads']} heads must divide the {c} "
          f"channels of x {fmt_shape(x)} evenly; pick a divisor of {c}")
    check(ctx is not None and len(ctx) == 2 and isinstance(ctx[1], int),
          f"CrossAttention needs a context sequence [S, D] (e.g. a caption's token "
          f"features); received {fmt_shape(ctx)}")
    _check_pad("CrossAttention", "pad_mask", ins[2] if len(ins) > 2 else None, ctx,
               "context step", "the context")
    return x, ctx, c, _positions(x)


def _cross_shape(p, ins):
    x, ctx, _, n = _cross(p, ins)
    return [tuple(x), (n, ctx[0])]


def _cross_build(p, ins):
    x, ctx, c, _ = _cross(p, ins)
    flags = {"image": len(x) == 3, "norm": p["norm"], "residual": p["residual"]}
    return make(modules.CrossAttention, c, ctx[1], p["heads"],
                **{k: v for k, v in flags.items() if not v})


def _cross_explain(p, ins, outs):
    x, ctx, c, n = _cross(p, ins)
    h, d = p["heads"], ctx[1]
    where = f"{n} positions ({x[1]}×{x[2]})" if len(x) == 3 else f"{n} steps"
    q = "LayerNorm(x)" if p["norm"] else "x"
    ln = 2 * c if p["norm"] else 0
    total = ln + c * c + 2 * d * c + c * c + 4 * c
    return (f"{'y = x + ' if p['residual'] else 'y = '}concat_i(softmax(Q_i·K_iᵀ/√{c // h})"
            f"·V_i)·W_o: Q from {q} at {where}, K, V from the {ctx[0]} context steps "
            f"[{ctx[0]}×{d}], {h} heads of {c}/{h} = {c // h}\nparams = "
            + (f"{ln} + " if ln else "") + f"{c}·{c} + 2·{d}·{c} + {c}·{c} + {4 * c} = "
            f"{total:,}")


def _cross_flops(p, ins, outs):
    _, ctx, c, n = _cross(p, ins)
    return _mha_core_flops((_dim(n), c), ctx, ctx)


register(
    BlockSpec(
        "CrossAttention",
        "Attention",
        "Lets every position of a feature map (or every step of a sequence) look up what it "
        "needs in another sequence, such as the words of a caption: the positions ask "
        "(queries), the context answers (keys and values). This is how a text-to-image "
        "model makes each region of the picture follow the words meant for it. The result "
        "is added to the input, so it drops into a network as a residual step; the weights "
        "show which words each position read.",
        params=(
            _HEADS,
            Param("norm", "bool", True, help="LayerNorm the queries first (over the "
                  "channels), as text-to-image U-Nets do."),
            Param("residual", "bool", True, help="Add the input: y = x + attention; off: "
                  "y = attention alone."),
        ),
        inputs=(
            Port("x", help="What asks: a sequence [T, C] or an image [C, H, W], whose H·W "
                           "positions each ask."),
            Port("context", help="What is read: a sequence [S, D] (token features)."),
            Port("pad_mask", ANY, optional=True, help="Padding steps of the context [S], "
                 "True (or nonzero) = padding, which no position reads; a PaddingMask of "
                 "the token ids."),
        ),
        outputs=(
            Port("y", help="The shape of x."),
            Port("weights", help="What each position read: [positions, S], averaged over "
                                 "the heads; each row sums to 1."),
        ),
        skippable=(("weights", "need_weights"),),
        build=_cross_build,
        shape=_cross_shape,
        explain=_cross_explain,
        flops=_cross_flops,
        title="Cross-attention",
        example_inputs=((16, 4, 4), (6, 12), None),
    ),
)
