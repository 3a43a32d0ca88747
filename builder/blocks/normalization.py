"""Normalization blocks: BatchNorm, LayerNorm, GroupNorm, InstanceNorm, local response norm,
L2 normalisation."""

from __future__ import annotations

import math

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")
modules = lazy("builder.blocks.modules.normalization")

__all__: list[str] = []

# Every block here but L2Normalize is a torch.nn class (no module to copy into generated code).


# --- shape helpers ------------------------------------------------------------------------

_BN_CLASSES = {1: "BatchNorm1d", 2: "BatchNorm1d", 3: "BatchNorm2d", 4: "BatchNorm3d"}


def _channels(x, block: str) -> int:
    check(len(x) >= 1, f"{block} needs a channel axis; received a single number per sample")
    check(isinstance(x[0], int), f"{block} needs a known channel count on axis 0; received "
          f"{fmt_shape(x)}")
    return x[0]


def _bn(ins):
    """(name of the torch class, channels) for the per-sample input rank."""
    (x,) = ins
    c = _channels(x, "BatchNorm")
    check(len(x) <= 4, "BatchNorm takes [C], [C, L], [C, H, W] or [C, D, H, W] per sample; "
          f"received {fmt_shape(x)}")
    return _BN_CLASSES[len(x)], c


def _bn_build(p, ins):
    name, c = _bn(ins)
    return make(getattr(nn, name), c, eps=p["eps"], momentum=p["momentum"], affine=p["affine"])


def _layer_shape_of(p, ins) -> tuple[int, ...]:
    (x,) = ins
    k = p["axes"]
    check(len(x) >= k, f"LayerNorm normalises the last {k} axes, but a sample {fmt_shape(x)} has "
          f"only {len(x)}")
    norm = tuple(x[len(x) - k:])
    check(all(isinstance(d, int) for d in norm),
          f"LayerNorm needs known sizes on the axes it normalises; the last {k} of "
          f"{fmt_shape(x)} are {fmt_shape(norm)}")
    return norm


def _group_channels(p, ins) -> int:
    (x,) = ins
    c, g = _channels(x, "GroupNorm"), p["groups"]
    if c % g:
        fits = [d for d in range(1, c + 1) if c % d == 0]
        hint = ", ".join(str(d) for d in fits[:12]) + (", …" if len(fits) > 12 else "")
        check(False, f"GroupNorm: {g} groups must divide the {c} channels of {fmt_shape(x)} "
              f"evenly; {c} channels split into {hint} groups")
    return c


def _instance_channels(p, ins) -> int:
    (x,) = ins
    check(len(x) == 3, f"InstanceNorm needs an image [C, H, W] per sample; received "
          f"{fmt_shape(x)}")
    c = _channels(x, "InstanceNorm")
    h, w = x[1], x[2]
    check(not (isinstance(h, int) and isinstance(w, int) and h * w <= 1),
          f"InstanceNorm needs more than one position per channel to compute a mean and "
          f"variance; received {fmt_shape(x)}")
    return c


def _lrn_shape(p, ins):
    (x,) = ins
    check(len(x) >= 2, "Local response norm needs channels and at least one spatial axis, "
          f"e.g. [96, 55, 55]; received {fmt_shape(x)}")
    return [x]


def _lrn_build(p, ins):
    _lrn_shape(p, ins)
    return make(nn.LocalResponseNorm, p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"])


def _l2_axis(p, ins) -> int:
    (x,) = ins
    a = p["axis"]
    check(-len(x) <= a < len(x), f"L2Normalize: axis {a} does not exist in a per-sample "
          f"shape {fmt_shape(x)}")
    return a % len(x)


def _l2_build(p, ins):
    _l2_axis(p, ins)
    return make(modules.L2Normalize, p["axis"], eps=p["eps"])


def _l2_explain(p, ins, outs):
    x = ins[0]
    a = _l2_axis(p, ins)
    return (f"y = x / max(‖x‖₂, {p['eps']:g}) over axis {a} ({x[a]} values): every such "
            f"vector of {fmt_shape(x)} gets length 1\nno learned parameters; dot products "
            "of the outputs are cosine similarities")


def _same_after(_checked, ins):
    """The shape rule of a size-preserving block, once its checks (the first arg) have run."""
    return [ins[0]]


def _positions(dims) -> str:
    """'8×8 = 64' for a tuple of spatial sizes (symbols kept as they are)."""
    if not dims:
        return "1"
    text = "×".join(str(d) for d in dims)
    if len(dims) > 1 and all(isinstance(d, int) for d in dims):
        text += f" = {math.prod(dims)}"
    return text


def _affine_text(affine: bool, n: int) -> str:
    return f"params = 2·{n} = {2 * n:,} (γ and β)" if affine else "no learned params (affine off)"


# --- explain ------------------------------------------------------------------------------


def _bn_explain(p, ins, outs):
    name, c = _bn(ins)
    (x,) = ins
    over = "the batch" if len(x) == 1 else f"the batch and the {_positions(x[1:])} positions"
    return (f"y = γ·(x − μ)/√(σ² + {p['eps']:g}) + β, μ and σ² per channel over {over} "
            f"({name})\n{_affine_text(p['affine'], c)}; evaluation uses running "
            f"averages updated with momentum {p['momentum']:g}")


def _ln_explain(p, ins, outs):
    norm = _layer_shape_of(p, ins)
    n = math.prod(norm)
    k = p["axes"]
    last = "last axis" if k == 1 else f"last {k} axes"
    return (f"y = γ·(x − μ)/√(σ² + {p['eps']:g}) + β, μ and σ² per sample over its {last} "
            f"{fmt_shape(norm)} ({n:,} values)\n{_affine_text(p['affine'], n)}")


def _gn_explain(p, ins, outs):
    c = _group_channels(p, ins)
    g = p["groups"]
    dims = (c // g, *ins[0][1:])
    size = _positions(dims) if len(dims) > 1 else str(c // g)
    return (f"{c} channels in {g} groups of {c // g}; μ and σ² per sample over each group's "
            f"{size} values\ny = γ·(x − μ)/√(σ² + {p['eps']:g}) + β; "
            f"{_affine_text(p['affine'], c)}")


def _in_explain(p, ins, outs):
    c = _instance_channels(p, ins)
    return (f"y = γ·(x − μ)/√(σ² + {p['eps']:g}) + β, μ and σ² per sample and per channel over "
            f"its {_positions(ins[0][1:])} positions\n{_affine_text(p['affine'], c)}")


def _lrn_explain(p, ins, outs):
    n = p["size"]
    return (f"b_c = a_c / ({p['k']:g} + {p['alpha']:g}/{n} · Σ a_j²)^{p['beta']:g}, the sum over "
            f"the {n} channels j centred on c\n(PyTorch, like Caffe, divides α by the window "
            f"size n)")


_EPS = Param("eps", "float", 1e-5, help="Small ε added to the variance to avoid dividing by 0.",
             min=1e-12, max=1.0)


def _affine(default: bool) -> Param:
    return Param("affine", "bool", default, help="Learn a scale γ and shift β per normalised "
                 "unit after normalising.")


register(
    BlockSpec(
        "BatchNorm",
        "Normalization",
        "Normalises each channel to mean 0 and variance 1 using the statistics of the current "
        "mini-batch, then applies a learned scale γ and shift β. It lets deep networks train "
        "faster with higher learning rates; at evaluation it uses running averages instead, so "
        "it behaves differently in train and eval mode and needs batches of more than one.",
        params=(
            Param("momentum", "float", 0.1, help="Weight of the newest batch in the running "
                  "mean and variance.", min=0.0, max=1.0),
            _EPS,
            _affine(True),
        ),
        build=_bn_build,
        shape=lambda p, ins: _same_after(_bn(ins), ins),
        explain=_bn_explain,
        title="Batch norm",
        keeps_space=True,
        example_inputs=((16, 8, 8),),
    ),
    BlockSpec(
        "LayerNorm",
        "Normalization",
        "Normalises each sample on its own, over its last few axes (the features of a token, "
        "or a whole C×H×W image), then applies a learned scale and shift. It does not depend "
        "on the batch, so it behaves the same in training and evaluation: the norm of "
        "Transformers and RNNs.",
        params=(
            Param("axes", "int", 1, help="Normalise over the last k axes of a sample "
                  "(1 = the features).", min=1, max=4),
            _EPS,
            _affine(True),
        ),
        build=lambda p, ins: make(nn.LayerNorm, _layer_shape_of(p, ins), eps=p["eps"],
                                  elementwise_affine=p["affine"]),
        shape=lambda p, ins: _same_after(_layer_shape_of(p, ins), ins),
        explain=_ln_explain,
        title="Layer norm",
        keeps_space=True,
        example_inputs=((10, 32),),
    ),
    BlockSpec(
        "GroupNorm",
        "Normalization",
        "Splits the channels into groups and normalises each group of each sample on its own. "
        "Independent of the batch size, so it works with tiny batches (detection, diffusion "
        "U-Nets); one group is LayerNorm, one group per channel is InstanceNorm.",
        params=(
            Param("groups", "int", 8, help="Number of channel groups; must divide the channels.",
                  min=1, max=4096),
            _EPS,
            _affine(True),
        ),
        build=lambda p, ins: make(nn.GroupNorm, p["groups"], _group_channels(p, ins),
                                  eps=p["eps"], affine=p["affine"]),
        shape=lambda p, ins: _same_after(_group_channels(p, ins), ins),
        explain=_gn_explain,
        title="Group norm",
        keeps_space=True,
        example_inputs=((32, 8, 8),),
    ),
    BlockSpec(
        "InstanceNorm",
        "Normalization",
        "Normalises every channel of every image on its own, over its positions, erasing each "
        "image's own contrast and colour cast: the norm of style transfer and many image "
        "generators.",
        params=(
            _EPS,
            _affine(False),
        ),
        build=lambda p, ins: make(nn.InstanceNorm2d, _instance_channels(p, ins), eps=p["eps"],
                                  affine=p["affine"]),
        shape=lambda p, ins: _same_after(_instance_channels(p, ins), ins),
        explain=_in_explain,
        title="Instance norm",
        keeps_space=True,
        example_inputs=((16, 8, 8),),
    ),
    BlockSpec(
        "LocalResponseNorm",
        "Normalization",
        "Divides each activation by the energy of the same position in its neighbouring "
        "channels, so that strongly responding feature maps suppress their neighbours (lateral "
        "inhibition). Used in AlexNet; BatchNorm has since replaced it.",
        params=(
            Param("size", "int", 5, help="Number n of neighbouring channels summed over.",
                  min=1, max=255),
            Param("alpha", "float", 1e-4, help="Scale α of the sum of squares.", min=0.0,
                  max=10.0),
            Param("beta", "float", 0.75, help="Exponent β.", min=0.0, max=10.0),
            Param("k", "float", 2.0, help="Additive constant k.", min=0.0, max=100.0),
        ),
        build=_lrn_build,
        shape=_lrn_shape,
        explain=_lrn_explain,
        title="Local response norm",
        has_weights=False,
        keeps_space=True,
        example_inputs=((96, 13, 13),),
    ),
    BlockSpec(
        "L2Normalize",
        "Normalization",
        "Scales each vector to length 1, keeping only its direction. The dot product of two "
        "unit vectors is the cosine of their angle, so CLIP normalises its image and text "
        "embeddings this way before comparing them: only where they point matters, not how "
        "long they are.",
        params=(
            Param("axis", "int", -1, help="The per-sample axis along which each vector lies "
                  "(−1: the last, the features).", min=-4, max=3),
            Param("eps", "float", 1e-12, help="Smallest length divided by, so that a zero "
                  "vector stays zero instead of dividing by 0.", min=0.0, max=1.0),
        ),
        build=_l2_build,
        shape=lambda p, ins: _same_after(_l2_axis(p, ins), ins),
        explain=_l2_explain,
        title="L2 normalize",
        has_weights=False,
        keeps_space=True,
        example_inputs=((32,),),
    ),
)
