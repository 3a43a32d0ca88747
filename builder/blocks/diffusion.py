"""Conditioning blocks of diffusion and text-to-image models: the timestep embedding, FiLM and
the broadcast add of a condition vector.

A condition (a diffusion step, a class, a caption's embedding) is one vector per sample; these
blocks turn a step number into such a vector and bring a vector into a feature map, the same
at every position.  x is [C, H, W] (channels first), [T, C] or [C] (channels last).
"""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.diffusion")

__all__ = ["channels_of"]

_CATEGORY = "Generative & special"


# --- shape rules ------------------------------------------------------------------------------


def channels_of(x, block: str) -> int:
    """The channels of x: axis 0 of an image [C, H, W], the last axis of [T, C] or [C]."""
    check(x is not None and 1 <= len(x) <= 3,
          f"{block} needs x as an image [C, H, W], a sequence [T, C] or a vector [C]; "
          f"received {fmt_shape(x)}")
    c = x[0] if len(x) == 3 else x[-1]
    check(isinstance(c, int), f"{block} needs a known channel count in x; received "
          f"{fmt_shape(x)}")
    return c


def _vector(v, block: str, port: str) -> int:
    check(v is not None and len(v) == 1 and isinstance(v[0], int),
          f"{block} needs {port} as one vector [D] per sample; received {fmt_shape(v)}")
    return v[0]


def _where(x) -> str:
    if len(x) == 3:
        return f"all {x[1]}×{x[2]} positions"
    return f"all {x[0]} steps" if len(x) == 2 else "the vector's one position"


def _t_dims(p, ins) -> tuple[int, int | None]:
    """(sinusoid size, MLP size or None)."""
    t = ins[0]
    check(t is not None and (len(t) == 0 or t == (1,)),
          f"TimestepEmbedding needs one number t per sample, [] or [1]; received "
          f"{fmt_shape(t)}")
    check(p["dim"] % 2 == 0, f"TimestepEmbedding: dim must be even (half sines, half "
          f"cosines); received {p['dim']}")
    return p["dim"], p["out"] if p["mlp"] else None


def _t_build(p, ins):
    dim, out = _t_dims(p, ins)
    given = {"max_period": p["max_period"], "scale": p["scale"], "out": out}
    defaults = {"max_period": 10000.0, "scale": 1.0, "out": None}
    return make(modules.TimestepEmbedding, dim,
                **{k: v for k, v in given.items() if v != defaults[k]})


def _t_shape(p, ins):
    dim, out = _t_dims(p, ins)
    return [(out or dim,)]


def _t_flops(p, ins, outs):
    dim, out = _t_dims(p, ins)
    return 0 if out is None else 2 * dim * out + 2 * out * out


def _t_explain(p, ins, outs):
    dim, out = _t_dims(p, ins)
    half = dim // 2
    scaled = "t" if p["scale"] == 1 else f"{p['scale']:g}·t"
    text = (f"e(t) = [sin({scaled}·ω_i), cos({scaled}·ω_i)] with ω_i = "
            f"{p['max_period']:g}^(−i/{half}), i = 0 … {half - 1}: {dim} features")
    if out is None:
        return text
    n = dim * out + out + out * out + out
    return (text + f"\ny = Linear({out})(SiLU(Linear({out})(e))); params = {dim}·{out} + {out} "
            f"+ {out}·{out} + {out} = {n:,}")


def _film_dims(p, ins) -> tuple[int, int, int]:
    x, c = ins[:2]
    return channels_of(x, "FiLM"), _vector(c, "FiLM", "the condition c"), len(x)


def _film_build(p, ins):
    ch, d, rank = _film_dims(p, ins)
    return make(modules.FiLM, d, ch, rank)


def _film_flops(p, ins, outs):
    ch, d, _ = _film_dims(p, ins)
    return 2 * d * 2 * ch


def _film_explain(p, ins, outs):
    ch, d, _ = _film_dims(p, ins)
    return (f"(γ, β) = W·c + b, W {2 * ch}×{d}, zero at the start (so y = x at first); "
            f"y = x·(1 + γ) + β, one γ, β per channel, the same at {_where(ins[0])}\n"
            f"params = {d}·{2 * ch} + {2 * ch} = {d * 2 * ch + 2 * ch:,}")


def _add_dims(p, ins) -> tuple[int, int, int]:
    x, v = ins[:2]
    ch, d = channels_of(x, "BroadcastAdd"), _vector(v, "BroadcastAdd", "v")
    check(p["project"] or d == ch,
          f"BroadcastAdd without projection needs v with as many features as x has channels "
          f"({ch} in {fmt_shape(x)}); received v {fmt_shape(v)} (turn project on)")
    return ch, d, len(x)


def _add_build(p, ins):
    ch, d, rank = _add_dims(p, ins)
    return make(modules.BroadcastAdd, d, ch, rank, project=p["project"])


def _add_flops(p, ins, outs):
    ch, d, _ = _add_dims(p, ins)
    return 2 * d * ch if p["project"] else 0


def _add_explain(p, ins, outs):
    ch, d, _ = _add_dims(p, ins)
    if not p["project"]:
        return f"y = x + v, v of {d} values added per channel at {_where(ins[0])}"
    return (f"y = x + (W·v + b), W {ch}×{d}, added per channel at {_where(ins[0])}\n"
            f"params = {d}·{ch} + {ch} = {d * ch + ch:,}")


_X = Port("x", help="The feature map: [C, H, W], [T, C] or [C].")

register(
    BlockSpec(
        "TimestepEmbedding",
        _CATEGORY,
        "Turns a number, the step of a diffusion process, into a vector a network can use: "
        "sines and cosines of the step at many frequencies, from one that turns every step to "
        "one that barely moves over thousands, so that near steps get similar vectors and far "
        "ones different vectors. A small MLP after them lets the network shape the code. The "
        "vector then conditions the denoiser, through FiLM or an added bias.",
        params=(
            Param("dim", "int", 64, help="Sine and cosine features (even: half of each).",
                  min=2, max=4096),
            Param("max_period", "float", 10000.0, help="The slowest wave's period, in "
                  "steps; the fastest turns once per 2π steps.", min=1.0, max=1e9),
            Param("scale", "float", 1.0, help="t is multiplied by this first: 1 for the "
                  "step number (0 … 999), 1000 for a fraction of the process in [0, 1].",
                  min=1e-6, max=1e6),
            Param("mlp", "bool", True, help="Follow the features by Linear → SiLU → Linear."),
            Param("out", "int", 128, help="Size of the output with the MLP (without it the "
                  "output has dim features).", min=1, max=16_384),
        ),
        inputs=(Port("t", ANY, help="The step: one number per sample, [] or [1], an integer "
                                    "step given as a number (0 … 999)."),),
        outputs=(Port("y", help="The step's embedding [out] (or [dim] without the MLP)."),),
        build=_t_build,
        shape=_t_shape,
        explain=_t_explain,
        flops=_t_flops,
        title="Timestep embedding",
        example_inputs=((1,),),
    ),
    BlockSpec(
        "FiLM",
        _CATEGORY,
        "Feature-wise linear modulation: a condition vector (a class, a diffusion step, a "
        "caption) decides, for each channel of a feature map, a gain and a shift, applied "
        "alike at every position. The same network then behaves differently for each "
        "condition at the price of one Linear layer. It starts as the identity and learns "
        "how much the condition matters.",
        params=(),
        inputs=(_X, Port("c", help="The condition: one vector [D] per sample.")),
        outputs=(Port("y", help="x modulated: the shape of x."),),
        build=_film_build,
        shape=lambda p, ins: [_film_dims(p, ins) and tuple(ins[0])],
        explain=_film_explain,
        flops=_film_flops,
        keeps_space=True,
        example_inputs=((16, 8, 8), (32,)),
    ),
    BlockSpec(
        "BroadcastAdd",
        _CATEGORY,
        "Adds a vector to a feature map at every position: the simplest way to condition a "
        "network, as DDPM's U-Net adds its step embedding to each level. A Linear layer first "
        "gives the vector as many values as the map has channels. (Add needs inputs of equal "
        "shape; this block spreads the vector over the positions.)",
        params=(Param("project", "bool", True, help="Project v to the channels of x with a "
                      "Linear layer; off: v must have as many values as x has channels."),),
        inputs=(_X, Port("v", help="The vector to add: [D] per sample.")),
        outputs=(Port("y", help="x + v at every position: the shape of x."),),
        build=_add_build,
        shape=lambda p, ins: [_add_dims(p, ins) and tuple(ins[0])],
        explain=_add_explain,
        flops=_add_flops,
        title="Broadcast add",
        keeps_space=True,
        example_inputs=((16, 8, 8), (32,)),
    ),
)
