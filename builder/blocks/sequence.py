"""Sequence blocks: padding masks, positional encodings, pooling over time, axis permutation.

Everything is batch-first; a sequence is one sample's ``[T, D]`` (T usually the symbol ``"T"``,
so every module here works for any length at run time and exports with a dynamic one).  A
mask is ``[T]`` per sample, True (or nonzero) where a step is padding; the attention blocks
take the same masks on their ``pad_mask`` ports.
"""

from __future__ import annotations

from builder.blocks.attention import _check_pad
from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, INDEX, BlockSpec, Param, Port, check, make, register
from builder.shapes import ShapeError, fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.sequence")

__all__: list[str] = []


# --- shape rules, FLOPs and formulas -------------------------------------------------------


def _dim(d) -> int:
    """A size for counting: a symbolic length counts as 1 (FLOPs per step)."""
    return d if isinstance(d, int) else 1


def _sequence(x, block: str, hint: str = ""):
    check(x is not None and len(x) == 2 and isinstance(x[1], int),
          f"{block} needs a sequence [T, features] per sample; received {fmt_shape(x)}{hint}")
    return x


def _mask_shape(p, ins):
    (t,) = ins
    check(len(t) == 1, f"PaddingMask needs a sequence of token ids [T] per sample; received "
          f"{fmt_shape(t)}")
    return [t]


def _position(p, ins):
    x = _sequence(ins[0], "PositionalEncoding")
    check(not isinstance(x[0], int) or x[0] <= p["max_len"],
          f"PositionalEncoding: the sequence {fmt_shape(x)} has {x[0]} steps but max_len is "
          f"{p['max_len']}; raise max_len to at least {x[0]}")
    return x


def _position_explain(p, ins, outs):
    x = _position(p, ins)
    d, n = x[1], p["max_len"]
    if p["mode"] == "learned":
        return (f"y_t = x_t + P[t], P a learned {n}×{d} table (one vector per position "
                f"t < {n})\nparams = {n}·{d} = {n * d:,}")
    return (f"y_t = x_t + PE[t], PE[t, 2i] = sin(t / 10000^(2i/{d})), PE[t, 2i+1] = "
            f"cos(t / 10000^(2i/{d})), i = 0…{(d - 1) // 2}\nno params: wavelengths from 2π to "
            f"10000·2π, so each position gets its own pattern")


def _pool(p, ins):
    hint = (" (for channels-first [channels, length] from a Conv1d use GlobalAvgPool)"
            if ins[0] is not None and len(ins[0]) > 2 else "")
    x = _sequence(ins[0], "Pool over time", hint)
    _check_pad("Pool over time", "the mask", ins[1] if len(ins) > 1 else None, x, "step",
               "the sequence")
    return x


_POOL_TEXT = {
    "mean": "y = (1/n)·Σ_t x_t, the mean of the n steps that are not padding",
    "max": "y_d = max_t x_t,d, the largest value of each feature over the steps that are not "
           "padding",
    "last": "y = x_t for the last step t that is not padding",
}


def _pool_explain(p, ins, outs):
    t, d = _pool(p, ins)
    if p["mode"] == "attention":
        return (f"s_t = q·x_t, w = softmax(s) over the steps that are not padding, y = Σ_t w_t·x_t"
                f": [{t}, {d}] → [{d}]\nparams = q, {d} values")
    return f"{_POOL_TEXT[p['mode']]}: [{t}, {d}] → [{d}]"


def _pool_flops(p, ins, outs):
    t, d = _pool(p, ins)
    return 4 * _dim(t) * d if p["mode"] == "attention" else 0  # scores q·x_t, then w·x


def _order(p, ins) -> tuple[int, ...]:
    (x,) = ins
    text = p["dims"]
    try:
        order = tuple(int(t) for t in text.replace(",", " ").split())
    except ValueError:
        raise ShapeError(f"Permute: dims must be axis numbers separated by spaces, such as "
                         f"'1 0'; received {text!r}") from None
    axes = " ".join(str(i) for i in range(len(x)))
    check(sorted(order) == list(range(len(x))),
          f"Permute: dims must name each axis of the input {fmt_shape(x)} exactly once, a "
          f"reordering of {axes!r} (the batch axis is not counted); received {text!r}")
    return order


def _permute_explain(p, ins, outs):
    order = _order(p, ins)
    moves = ", ".join(f"new axis {i} = old axis {d} ({ins[0][d]})" for i, d in enumerate(order))
    return f"{fmt_shape(ins[0])} → {fmt_shape(outs[0])}: {moves}"


register(
    BlockSpec(
        "PaddingMask",
        "Sequence",
        "Sentences of different lengths are padded to one length with a padding id. This block "
        "marks the padding steps (True where the id is the padding id) so that attention never "
        "attends to them and pooling over time leaves them out: wire it into a pad_mask or "
        "mask port.",
        params=(Param("pad_id", "int", 0, help="The token id that means padding.", min=0),),
        inputs=(Port("tokens", INDEX, help="Token ids [T]."),),
        outputs=(Port("mask", INDEX, help="True where the step is padding [T]."),),
        build=lambda p, ins: (_mask_shape(p, ins), make(modules.PaddingMask, p["pad_id"]))[1],
        shape=_mask_shape,
        explain=lambda p, ins, outs: f"mask_t = (token_t == {p['pad_id']}): "
                                     f"{fmt_shape(ins[0])} ids → {fmt_shape(outs[0])} flags",
        title="Padding mask",
        has_weights=False,
        example_inputs=((12,),),
    ),
    BlockSpec(
        "PositionalEncoding",
        "Sequence",
        "Attention treats a sequence as a set: shuffle the steps and each output shuffles "
        "along. Adding to each step a vector that depends on its position tells the model "
        "where each step is. The Transformer's sinusoids give every position its own pattern "
        "of waves of many wavelengths (and nearby positions similar ones); learned encodings "
        "are a vector per position trained like any weight, but know only positions they saw.",
        params=(
            Param("mode", "choice", "sinusoidal", choices=("sinusoidal", "learned"),
                  help="Fixed sinusoids (Vaswani et al.) or a learned vector per position."),
            Param("max_len", "int", 512, help="Longest sequence the block accepts.", min=1,
                  max=1_000_000),
            Param("dropout", "float", 0.0, help="Dropout on the sum while training.", min=0.0,
                  max=0.95),
        ),
        inputs=(Port("x", help="A sequence [T, D], e.g. token embeddings."),),
        outputs=(Port("y", help="The same sequence with each step's position added [T, D]."),),
        build=lambda p, ins: make(modules.PositionalEncoding, _position(p, ins)[1], p["max_len"],
                                  p["mode"], p["dropout"]),
        shape=lambda p, ins: [_position(p, ins)],
        explain=_position_explain,
        title="Positional encoding",
        example_inputs=((12, 16),),
    ),
    BlockSpec(
        "TimePool",
        "Sequence",
        "Turns a sequence [T, D] into one vector [D] by pooling over its steps: the mean, the "
        "maximum, the last step, or attention pooling, where a learned query scores each step "
        "and a softmax weighs them. A mask leaves padding out. Not GlobalAvgPool: that one "
        "pools the LAST axis, right for channels-first [C, L] from a Conv1d, but on [T, D] "
        "from an RNN or a Transformer it would average each step's features instead.",
        params=(
            Param("mode", "choice", "mean", choices=("mean", "max", "last", "attention"),
                  help="How the steps are combined; attention learns which steps matter."),
        ),
        inputs=(
            Port("x", help="A sequence [T, D]."),
            Port("mask", ANY, optional=True,
                 help="Padding steps [T], True (or nonzero) = padding, left out."),
        ),
        outputs=(Port("y", help="One vector for the whole sequence [D]."),),
        build=lambda p, ins: make(modules.TimePool, p["mode"], _pool(p, ins)[1]),
        shape=lambda p, ins: [(_pool(p, ins)[1],)],
        explain=_pool_explain,
        flops=_pool_flops,
        title="Pool over time",
        example_inputs=((12, 16), None),
    ),
    BlockSpec(
        "Permute",
        "Sequence",
        "Reorders the axes of each sample, e.g. a sequence [T, D] into channels-first [D, T] "
        "for a Conv1d over time, and back. The batch axis stays first and is not counted.",
        params=(Param("dims", "str", "1 0",
                      help="The new order of the axes, e.g. '1 0' swaps two; batch excluded."),),
        inputs=(Port("x", ANY),),
        outputs=(Port("y", ANY, help="The same values with the axes in the new order."),),
        build=lambda p, ins: make(modules.Permute, _order(p, ins)),
        shape=lambda p, ins: [tuple(ins[0][d] for d in _order(p, ins))],
        explain=_permute_explain,
        title="Permute / transpose",
        has_weights=False,
        example_inputs=((12, 16),),
    ),
)
