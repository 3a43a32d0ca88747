"""U-Net (Ronneberger et al. 2015, as Pix2Pix's generator uses it): an encoder that halves the
image ``depth`` times, a decoder that doubles it back, and skip connections that concatenate
each encoder map to the decoder map of the same size, so fine detail need not squeeze
through the bottleneck.  A composite: it expands into an editable sub-network of ordinary
blocks (Conv2d, ConvTranspose2d or Upsample, norms, activations, Concat)."""

from __future__ import annotations

from builder.blocks.composite import _DX, _DY, _finish, _image, _start
from builder.blocks.spec import BlockSpec, Param, Port, check, register
from builder.document import Network
from builder.shapes import fmt_shape

__all__: list[str] = []

NORMS = {"batch": "BatchNorm", "instance": "InstanceNorm", "none": None}
OUTPUTS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "none": None}
MAX_WIDTH = 8  # widths double per level up to 8× the base, as in Pix2Pix


def _widths(p) -> list[int]:
    """Channels of encoder level i = 1 … depth."""
    return [p["filters"] * min(2 ** i, MAX_WIDTH) for i in range(p["depth"])]


def _check(p, ins) -> tuple:
    x = _image(ins, "U-Net")
    step = 2 ** p["depth"]
    sizes = x[1:]
    check(all(isinstance(d, int) for d in sizes),
          f"U-Net needs a fixed height and width; received {fmt_shape(x)}")
    check(all(d % step == 0 for d in sizes),
          f"U-Net with depth {p['depth']} halves the image {p['depth']} times, so its height "
          f"and width must be multiples of 2^{p['depth']} = {step}; received {fmt_shape(x)}")
    return x


def _unit(net: Network, id: str, col: float, row: float, norm: str | None, act: str | None,
          src: str, **act_params) -> str:
    """``src`` → (norm) → (activation); returns the last node."""
    last = src
    if norm is not None:
        params = {"affine": True} if norm == "InstanceNorm" else {}
        net.add(norm, id=f"{id}_norm", pos=((col + 0.5) * _DX, (row + 0.35) * _DY), **params)
        net.connect(last, f"{id}_norm")
        last = f"{id}_norm"
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
    depth, widths, norm = p["depth"], _widths(p), NORMS[p["norm"]]
    resize = p["upsample"] == "resize"
    net = _start("unet", x)
    skips, last = [], "x"
    for i in range(1, depth + 1):  # encoder: conv 4×4 stride 2 → norm → LeakyReLU(0.2)
        col, row = 3 * (i - 1) + 1, i - 1
        # No norm on the first level (the raw image) nor the innermost (it may be 1×1).
        level_norm = norm if 1 < i < depth else None
        net.add("Conv2d", id=f"down{i}", pos=(col * _DX, row * _DY), filters=widths[i - 1],
                kernel=4, stride=2, padding=1, bias=level_norm is None)
        net.connect(last, f"down{i}")
        last = _unit(net, f"down{i}", col, row, level_norm, "LeakyReLU", f"down{i}",
                     alpha=0.2)
        skips.append(last)
    for i in range(depth, 0, -1):  # decoder: up → norm → ReLU, then join the skip
        col, row = 3 * depth + 3 * (depth - i) + 1, i - 1
        filters = widths[i - 2] if i > 1 else p["filters"]
        up = f"up{i}"
        _up(net, up, col, row, filters, resize, norm is None)
        net.connect(last, f"{up}_resize" if resize else up)
        last = _unit(net, up, col, row, norm, "ReLU", up)
        if i > 1:  # the encoder map of this size, side by side on the channels
            net.add("Concat", id=f"skip{i - 1}", pos=((col + 2) * _DX, (row - 0.5) * _DY),
                    inputs=2, axis=0)
            net.connect(last, f"skip{i - 1}", dst_port="x1")
            net.connect(skips[i - 2], f"skip{i - 1}", dst_port="x2")
            last = f"skip{i - 1}"
    col = 6 * depth + 1
    net.add("Conv2d", id="out", pos=(col * _DX, 0.0), filters=p["out_channels"], kernel=3,
            stride=1, padding=1, bias=True)
    net.connect(last, "out")
    last = _unit(net, "out", col, 0, None, OUTPUTS[p["output"]], "out")
    return _finish(net, last, col + 2)


def _unet_explain(p, ins, outs):
    x = _check(p, ins)
    sizes = [f"{x[1] >> i}×{x[2] >> i}" for i in range(p["depth"] + 1)]
    widths = "→".join(map(str, _widths(p)))
    up = "transposed 4×4 convs" if p["upsample"] == "transpose" else "resize + 3×3 convs"
    return (f"encoder: {p['depth']} stride-2 4×4 convs, {' → '.join(sizes)}, channels "
            f"{widths}; decoder: {up} back up, each joined to the encoder map of its size "
            f"(concat); a 3×3 conv to {p['out_channels']} channels"
            + ("" if p["output"] == "none" else f", then {p['output']}"))


register(
    BlockSpec(
        "UNet",
        "Composite",
        "An encoder halves the image step by step while widening the channels, a decoder "
        "doubles it back, and skip connections hand each encoder map to the decoder map of "
        "the same size. Coarse context and fine detail meet again at the output: the "
        "generator of Pix2Pix, segmentation networks and diffusion models.",
        params=(
            Param("filters", "int", 32, help="Channels of the first level; each deeper level "
                  "doubles them, up to 8× this.", min=1, max=4096),
            Param("depth", "int", 3, help="How many times the encoder halves the image (and "
                  "the decoder doubles it back); height and width must be multiples of "
                  "2^depth.", min=1, max=8),
            Param("out_channels", "int", 3, help="Channels of the output image.", min=1,
                  max=4096),
            Param("norm", "choice", "batch", choices=tuple(NORMS),
                  help="Normalisation after the inner convolutions (none on the first and "
                       "innermost encoder levels)."),
            Param("upsample", "choice", "transpose", choices=("transpose", "resize"),
                  help="transpose: 4×4 stride-2 transposed convs (Pix2Pix). resize: nearest "
                       "2× resize then a 3×3 conv, free of checkerboard artefacts."),
            Param("output", "choice", "tanh", choices=tuple(OUTPUTS),
                  help="Activation of the output: tanh for images in [−1, 1], sigmoid for "
                       "[0, 1], none for raw values (a diffusion model's noise)."),
        ),
        inputs=(Port("x"),),
        outputs=(Port("y"),),
        expand=_unet,
        explain=_unet_explain,
        title="U-Net",
        example_inputs=((3, 32, 32),),
    ),
)
