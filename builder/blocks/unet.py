"""U-Net (Ronneberger et al. 2015, as Pix2Pix's generator uses it): an encoder that halves the
image ``depth`` times, a decoder that doubles it back, and skip connections that concatenate
each encoder map to the decoder map of the same size, so fine detail need not squeeze
through the bottleneck.  A composite: it expands into an editable sub-network of ordinary
blocks (Conv2d, ConvTranspose2d or Upsample, norms, activations, Concat).

Two kinds of ``level``: ``pix2pix`` (one 4×4 stride-2 conv per level, as Pix2Pix) and
``residual`` (a diffusion denoiser's: two 3×3 convs that keep the size, in a residual unit,
with average pooling and nearest resizing between levels).  With ``condition`` film the block
takes a second input c, a vector per sample (a diffusion step's embedding, a caption's), and
every level modulates its normalised features with a FiLM node fed by c.  With
``cross_attention`` it takes a sequence ``context`` as well (a caption's word features), which
the positions of the coarse levels read through CrossAttention nodes, as Imagen's U-Nets read
T5's tokens: a pooled vector says the caption as a whole, attention lets each region of the
picture pick the words it needs."""

from __future__ import annotations

from builder.blocks.composite import _DX, _DY, _finish, _image, _start
from builder.blocks.spec import BlockSpec, Param, Port, check, register
from builder.blocks.unet_levels import (
    NORMS,
    _attended,
    _pix2pix_levels,
    _residual_levels,
    _unit,
    _widths,
)
from builder.document import Network
from builder.shapes import fmt_shape

__all__: list[str] = []

OUTPUTS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "none": None}
CROSS = ("none", "middle", "inner")  # where the positions read the context sequence


def _check(p, ins) -> tuple:
    x = _image(ins, "U-Net")
    if p["condition"] == "film":
        c = ins[1] if len(ins) > 1 else None
        check(c is not None and len(c) == 1 and isinstance(c[0], int),
              f"U-Net with condition film needs c as one vector [D] per sample; received "
              f"{fmt_shape(c)}")
    if p["cross_attention"] != "none":
        at = [q.name for q in _ports(p)].index("context")
        ctx = ins[at] if len(ins) > at else None
        check(ctx is not None and len(ctx) == 2 and isinstance(ctx[1], int),
              f"U-Net with cross_attention {p['cross_attention']} needs context as a sequence "
              f"[S, D] per sample (a caption's word features); received {fmt_shape(ctx)}")
        widths = _widths(p)
        for w in {widths[-1], *(widths[i - 1] for i in _attended(p))}:
            check(w % p["heads"] == 0,
                  f"U-Net cross-attention: {p['heads']} heads must divide the {w} channels of "
                  f"each attending level (channels {'→'.join(map(str, widths))}); pick a "
                  f"divisor of {w}")
    step = 2 ** p["depth"]
    sizes = x[1:]
    check(all(isinstance(d, int) for d in sizes),
          f"U-Net needs a fixed height and width; received {fmt_shape(x)}")
    check(all(d % step == 0 for d in sizes),
          f"U-Net with depth {p['depth']} halves the image {p['depth']} times, so its height "
          f"and width must be multiples of 2^{p['depth']} = {step}; received {fmt_shape(x)}")
    return x


def _unet(p, ins) -> Network:
    x = _check(p, ins)
    film = p["condition"] == "film"
    net = _start("unet", x)
    if film:  # the second Input: the block's second port, c
        net.add("Input", id="c", pos=(0.0, -1.5 * _DY), shape=tuple(ins[1]), kind="vector")
    if p["cross_attention"] != "none":  # the last port: the sequence the levels read
        net.add("Input", id="context", pos=(0.0, -2.5 * _DY), shape=tuple(ins[-1]),
                kind="sequence")
    if p["level"] == "residual":
        last, col = _residual_levels(net, p, film)
    else:
        last, col = _pix2pix_levels(net, p, film)
    net.add("Conv2d", id="out", pos=(col * _DX, 0.0), filters=p["out_channels"], kernel=3,
            stride=1, padding=1, bias=True)
    net.connect(last, "out")
    last = _unit(net, "out", col, 0, None, OUTPUTS[p["output"]], "out")
    return _finish(net, last, col + 2)


def _unet_explain(p, ins, outs):
    x = _check(p, ins)
    sizes = [f"{x[1] >> i}×{x[2] >> i}" for i in range(p["depth"] + 1)]
    widths = "→".join(map(str, _widths(p)))
    film = (f"; every level's normalised features modulated by FiLM from c [{ins[1][0]}]"
            if p["condition"] == "film" else "")
    if p["cross_attention"] != "none":
        ctx = ins[-1]
        where = "the middle level" if p["cross_attention"] == "middle" else \
            "every level below full size"
        film += (f"; the positions of {where} read the context [{ctx[0]}×{ctx[1]}] through "
                 f"cross-attention ({p['heads']} heads)")
    tail = (f"; a 3×3 conv to {p['out_channels']} channels"
            + ("" if p["output"] == "none" else f", then {p['output']}"))
    if p["level"] == "residual":
        return (f"levels {' → '.join(sizes)} (the last one the middle), channels {widths}; "
                f"each a residual unit of two 3×3 convs with {p['norm']} norm and SiLU; "
                f"2×2 average pooling down, nearest 2× resize up, each joined to the encoder "
                f"map of its size (concat){film}" + tail)
    up = "transposed 4×4 convs" if p["upsample"] == "transpose" else "resize + 3×3 convs"
    return (f"encoder: {p['depth']} stride-2 4×4 convs, {' → '.join(sizes)}, channels "
            f"{widths}; decoder: {up} back up, each joined to the encoder map of its size "
            f"(concat){film}" + tail)


def _ports(p) -> tuple[Port, ...]:
    ports = [Port("x")]
    if p.get("condition") == "film":
        ports.append(Port("c", help="The condition: one vector [D] per sample (a timestep or "
                                    "caption embedding)."))
    if p.get("cross_attention", "none") != "none":
        ports.append(Port("context", help="What the coarse levels read: a sequence [S, D] "
                                          "per sample (a caption's word features)."))
    return tuple(ports)


register(
    BlockSpec(
        "UNet",
        "Composite",
        "An encoder halves the image step by step while widening the channels, a decoder "
        "doubles it back, and skip connections hand each encoder map to the decoder map of "
        "the same size. Coarse context and fine detail meet again at the output: the "
        "generator of Pix2Pix, segmentation networks and diffusion models. A condition "
        "vector (a diffusion step, a caption) can steer every level through FiLM.",
        params=(
            Param("filters", "int", 32, help="Channels of the first level; each deeper level "
                  "doubles them, up to 8× this.", min=1, max=4096),
            Param("depth", "int", 3, help="How many times the encoder halves the image (and "
                  "the decoder doubles it back); height and width must be multiples of "
                  "2^depth.", min=1, max=8),
            Param("out_channels", "int", 3, help="Channels of the output image.", min=1,
                  max=4096),
            Param("norm", "choice", "batch", choices=tuple(NORMS),
                  help="Normalisation after the inner convolutions (pix2pix: none on the "
                       "first and innermost encoder levels). group: GroupNorm with up to 8 "
                       "groups, independent of the batch (diffusion)."),
            Param("upsample", "choice", "transpose", choices=("transpose", "resize"),
                  help="transpose: 4×4 stride-2 transposed convs (Pix2Pix). resize: nearest "
                       "2× resize then a 3×3 conv, free of checkerboard artefacts."),
            Param("output", "choice", "tanh", choices=tuple(OUTPUTS),
                  help="Activation of the output: tanh for images in [−1, 1], sigmoid for "
                       "[0, 1], none for raw values (a diffusion model's noise)."),
            Param("level", "choice", "pix2pix", choices=("pix2pix", "residual"),
                  help="pix2pix: one 4×4 stride-2 conv per level. residual: per level a "
                       "residual unit of two 3×3 convs that keep the size (norm, SiLU), with "
                       "average pooling and nearest resizing between levels: a diffusion "
                       "denoiser (upsample is then unused)."),
            Param("condition", "choice", "none", choices=("none", "film"),
                  help="film: a second input c, one vector per sample, modulates every "
                       "level through a FiLM node after its norm, before its activation."),
            Param("cross_attention", "choice", "none", choices=CROSS,
                  help="A further input, context: a sequence [S, D] such as a caption's word "
                       "features. middle: the positions of the middle level read it through "
                       "a CrossAttention node (the innermost level with pix2pix levels); "
                       "inner: every level below full size as well."),
            Param("heads", "int", 4, help="Heads of each cross-attention; must divide the "
                  "channels of every level that attends.", min=1, max=256),
        ),
        inputs=_ports,
        outputs=(Port("y"),),
        expand=_unet,
        explain=_unet_explain,
        title="U-Net",
        example_inputs=((3, 32, 32),),
    ),
)
