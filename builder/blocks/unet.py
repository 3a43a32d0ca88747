"""U-Net (Ronneberger et al. 2015, as Pix2Pix's generator uses it): an encoder that halves the
image ``depth`` times, a decoder that doubles it back, and skip connections that concatenate
each encoder map to the decoder map of the same size, so fine detail need not squeeze
through the bottleneck.  A composite: it expands into an editable sub-network of ordinary
blocks (Conv2d, ConvTranspose2d or Upsample, norms, activations, Concat).

Two kinds of ``level``: ``pix2pix`` (one 4×4 stride-2 conv per level, as Pix2Pix) and
``residual`` (a diffusion denoiser's: two 3×3 convs that keep the size, in a residual unit,
with average pooling and nearest resizing between levels).  With ``condition`` film the block
takes a second input c, a vector per sample (a diffusion step's embedding, a caption's), and
every level modulates its normalised features with a FiLM node fed by c."""

from __future__ import annotations

import math

from builder.blocks.composite import _DX, _DY, _finish, _image, _start
from builder.blocks.spec import BlockSpec, Param, Port, check, register
from builder.document import Network
from builder.shapes import fmt_shape

__all__: list[str] = []

NORMS = {"batch": "BatchNorm", "instance": "InstanceNorm", "group": "GroupNorm", "none": None}
MAX_GROUPS = 8  # GroupNorm: 8 groups where the channels allow (fewer for tiny widths)
OUTPUTS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "none": None}
MAX_WIDTH = 8  # widths double per level up to 8× the base, as in Pix2Pix


def _widths(p) -> list[int]:
    """Channels of encoder level i = 1 … depth."""
    return [p["filters"] * min(2 ** i, MAX_WIDTH) for i in range(p["depth"])]


def _check(p, ins) -> tuple:
    x = _image(ins, "U-Net")
    if p["condition"] == "film":
        c = ins[1] if len(ins) > 1 else None
        check(c is not None and len(c) == 1 and isinstance(c[0], int),
              f"U-Net with condition film needs c as one vector [D] per sample; received "
              f"{fmt_shape(c)}")
    step = 2 ** p["depth"]
    sizes = x[1:]
    check(all(isinstance(d, int) for d in sizes),
          f"U-Net needs a fixed height and width; received {fmt_shape(x)}")
    check(all(d % step == 0 for d in sizes),
          f"U-Net with depth {p['depth']} halves the image {p['depth']} times, so its height "
          f"and width must be multiples of 2^{p['depth']} = {step}; received {fmt_shape(x)}")
    return x


def _norm_params(norm: str, channels: int) -> dict:
    if norm == "InstanceNorm":
        return {"affine": True}
    return {"groups": math.gcd(MAX_GROUPS, channels)} if norm == "GroupNorm" else {}


def _unit(net: Network, id: str, col: float, row: float, norm: str | None, act: str | None,
          src: str, channels: int = 0, film: bool = False, **act_params) -> str:
    """``src`` → (norm) → (FiLM by the input c) → (activation); returns the last node."""
    last = src
    if norm is not None:
        net.add(norm, id=f"{id}_norm", pos=((col + 0.5) * _DX, (row + 0.35) * _DY),
                **_norm_params(norm, channels))
        net.connect(last, f"{id}_norm")
        last = f"{id}_norm"
    if film:
        net.add("FiLM", id=f"{id}_film", pos=((col + 0.75) * _DX, (row - 0.35) * _DY))
        net.connect(last, f"{id}_film", dst_port="x")
        net.connect("c", f"{id}_film", dst_port="c")
        last = f"{id}_film"
    if act is not None:
        net.add(act, id=f"{id}_act", pos=((col + 1) * _DX, row * _DY), **act_params)
        net.connect(last, f"{id}_act")
        last = f"{id}_act"
    return last


def _up(net: Network, id: str, col: float, row: float, filters: int, resize: bool,
        bias: bool) -> None:
    """Double height and width: a 4×4 stride-2 transposed conv, or nearest resize + 3×3 conv
    (no checkerboard pattern)."""
    if resize:
        net.add("Upsample", id=f"{id}_resize", pos=((col - 0.5) * _DX, (row - 0.35) * _DY),
                scale=2.0, mode="nearest")
        net.add("Conv2d", id=id, pos=(col * _DX, row * _DY), filters=filters, kernel=3,
                stride=1, padding=1, bias=bias)
        net.connect(f"{id}_resize", id)
    else:
        net.add("ConvTranspose2d", id=id, pos=(col * _DX, row * _DY), filters=filters, kernel=4,
                stride=2, padding=1, bias=bias)


def _unet(p, ins) -> Network:
    x = _check(p, ins)
    film = p["condition"] == "film"
    net = _start("unet", x)
    if film:  # the second Input: the block's second port, c
        net.add("Input", id="c", pos=(0.0, -1.5 * _DY), shape=tuple(ins[1]), kind="vector")
    if p["level"] == "residual":
        last, col = _residual_levels(net, p, film)
    else:
        last, col = _pix2pix_levels(net, p, film)
    net.add("Conv2d", id="out", pos=(col * _DX, 0.0), filters=p["out_channels"], kernel=3,
            stride=1, padding=1, bias=True)
    net.connect(last, "out")
    last = _unit(net, "out", col, 0, None, OUTPUTS[p["output"]], "out")
    return _finish(net, last, col + 2)


def _pix2pix_levels(net: Network, p, film: bool) -> tuple[str, int]:
    """4×4 stride-2 convs down, transposed convs (or resize + conv) up; (last node, column)."""
    depth, widths, norm = p["depth"], _widths(p), NORMS[p["norm"]]
    resize = p["upsample"] == "resize"
    skips, last = [], "x"
    for i in range(1, depth + 1):  # encoder: conv 4×4 stride 2 → norm → LeakyReLU(0.2)
        col, row = 3 * (i - 1) + 1, i - 1
        # No norm on the first level (the raw image) nor the innermost (it may be 1×1).
        level_norm = norm if 1 < i < depth else None
        net.add("Conv2d", id=f"down{i}", pos=(col * _DX, row * _DY), filters=widths[i - 1],
                kernel=4, stride=2, padding=1, bias=level_norm is None)
        net.connect(last, f"down{i}")
        last = _unit(net, f"down{i}", col, row, level_norm, "LeakyReLU", f"down{i}",
                     widths[i - 1], film, alpha=0.2)
        skips.append(last)
    for i in range(depth, 0, -1):  # decoder: up → norm → ReLU, then join the skip
        col, row = 3 * depth + 3 * (depth - i) + 1, i - 1
        filters = widths[i - 2] if i > 1 else p["filters"]
        up = f"up{i}"
        _up(net, up, col, row, filters, resize, norm is None)
        net.connect(last, f"{up}_resize" if resize else up)
        last = _unit(net, up, col, row, norm, "ReLU", up, filters, film)
        if i > 1:  # the encoder map of this size, side by side on the channels
            net.add("Concat", id=f"skip{i - 1}", pos=((col + 2) * _DX, (row - 0.5) * _DY),
                    inputs=2, axis=0)
            net.connect(last, f"skip{i - 1}", dst_port="x1")
            net.connect(skips[i - 2], f"skip{i - 1}", dst_port="x2")
            last = f"skip{i - 1}"
    return last, 6 * depth + 1


def _res_unit(net: Network, id: str, col: int, row: float, norm: str | None, src: str,
              c_in: int, c_out: int, film: bool) -> str:
    """A pre-activation residual unit, as in DDPM: norm → SiLU → conv 3×3 → norm → (FiLM) →
    SiLU → conv 3×3, plus the input (through a 1×1 conv where the channels change).  The
    node ``id`` is the sum."""
    act = _unit(net, f"{id}_in", col, row, norm, "SiLU", src, c_in)
    net.add("Conv2d", id=f"{id}_conv1", pos=((col + 1.5) * _DX, row * _DY), filters=c_out,
            kernel=3, stride=1, padding=1, bias=norm is None)
    net.connect(act, f"{id}_conv1")
    act = _unit(net, f"{id}_conv1", col + 1.5, row, norm, "SiLU", f"{id}_conv1", c_out, film)
    net.add("Conv2d", id=f"{id}_conv2", pos=((col + 3) * _DX, row * _DY), filters=c_out,
            kernel=3, stride=1, padding=1, bias=True)
    net.connect(act, f"{id}_conv2")
    skip = src
    if c_in != c_out:
        skip = net.add("PointwiseConv2d", id=f"{id}_skip", pos=((col + 2) * _DX,
                       (row + 0.7) * _DY), filters=c_out, bias=True)
        net.connect(src, skip)
    net.add("Add", id=id, pos=((col + 4) * _DX, row * _DY), inputs=2)
    net.connect(f"{id}_conv2", id, dst_port="x1")
    net.connect(skip, id, dst_port="x2")
    return id


def _residual_levels(net: Network, p, film: bool) -> tuple[str, int]:
    """A 3×3 stem, a residual unit per level with 2×2 average pooling between, a middle unit,
    then per level: nearest 2× resize, the encoder map of that size joined, a residual unit;
    finally norm → SiLU (the output conv follows).  Returns (last node, column)."""
    depth, widths, norm = p["depth"], _widths(p), NORMS[p["norm"]]
    net.add("Conv2d", id="stem", pos=(_DX, 0.0), filters=p["filters"], kernel=3, stride=1,
            padding=1, bias=True)
    net.connect("x", "stem")
    last, c_in, col, skips = "stem", p["filters"], 2, []
    for i in range(1, depth + 1):
        if i > 1:
            net.add("AvgPool2d", id=f"pool{i - 1}", pos=(col * _DX, (i - 1) * _DY), kernel=2,
                    stride=2)
            net.connect(last, f"pool{i - 1}")
            last, col = f"pool{i - 1}", col + 1
        last = _res_unit(net, f"enc{i}", col, i - 1, norm, last, c_in, widths[i - 1], film)
        skips.append(last)
        c_in, col = widths[i - 1], col + 5
    net.add("AvgPool2d", id=f"pool{depth}", pos=(col * _DX, depth * _DY), kernel=2, stride=2)
    net.connect(last, f"pool{depth}")
    last = _res_unit(net, "mid", col + 1, depth, norm, f"pool{depth}", c_in, c_in, film)
    col += 6
    for i in range(depth, 0, -1):
        row = i - 1
        net.add("Upsample", id=f"up{i}", pos=(col * _DX, row * _DY), scale=2.0,
                mode="nearest")
        net.connect(last, f"up{i}")
        net.add("Concat", id=f"skip{i}", pos=((col + 1) * _DX, (row - 0.5) * _DY), inputs=2,
                axis=0)
        net.connect(f"up{i}", f"skip{i}", dst_port="x1")
        net.connect(skips[i - 1], f"skip{i}", dst_port="x2")
        last = _res_unit(net, f"dec{i}", col + 2, row, norm, f"skip{i}",
                         c_in + widths[i - 1], widths[i - 1], film)
        c_in, col = widths[i - 1], col + 7
    last = _unit(net, "final", col, 0, norm, "SiLU", last, c_in)
    return last, col + 2


def _unet_explain(p, ins, outs):
    x = _check(p, ins)
    sizes = [f"{x[1] >> i}×{x[2] >> i}" for i in range(p["depth"] + 1)]
    widths = "→".join(map(str, _widths(p)))
    film = (f"; every level's normalised features modulated by FiLM from c [{ins[1][0]}]"
            if p["condition"] == "film" else "")
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
    if p.get("condition") == "film":
        return (Port("x"), Port("c", help="The condition: one vector [D] per sample (a "
                                          "timestep or caption embedding)."))
    return (Port("x"),)


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
        ),
        inputs=_ports,
        outputs=(Port("y"),),
        expand=_unet,
        explain=_unet_explain,
        title="U-Net",
        example_inputs=((3, 32, 32),),
    ),
)
