"""The U-Net composite's levels (``unet.py`` holds the block's spec): the sub-network's encoder,
middle and decoder, as Pix2Pix builds them (``pix2pix``) or as a diffusion denoiser does
(``residual``), each level optionally modulated by FiLM from c and read by cross-attention
over a context sequence."""

from __future__ import annotations

import math

from builder.blocks.composite import _DX, _DY
from builder.document import Network

__all__: list[str] = []

NORMS = {"batch": "BatchNorm", "instance": "InstanceNorm", "group": "GroupNorm", "none": None}
MAX_GROUPS = 8  # GroupNorm: 8 groups where the channels allow (fewer for tiny widths)
MAX_WIDTH = 8  # widths double per level up to 8× the base, as in Pix2Pix


def _widths(p) -> list[int]:
    """Channels of encoder level i = 1 … depth."""
    return [p["filters"] * min(2 ** i, MAX_WIDTH) for i in range(p["depth"])]


def _attended(p) -> list[int]:
    """The encoder levels (1 … depth) whose units are followed by cross-attention, besides
    the middle one (pix2pix: the innermost level stands for the middle)."""
    inner = p["cross_attention"] == "inner"
    return list(range(2, p["depth"] + 1)) if inner else []


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


def _attend(net: Network, p, id: str, col: float, row: float, src: str) -> str:
    """``src`` → CrossAttention over the context (residual, queries LayerNormed), when the
    block asks for it; returns the last node."""
    if p["cross_attention"] == "none":
        return src
    net.add("CrossAttention", id=id, pos=(col * _DX, (row + 0.7) * _DY), heads=p["heads"])
    net.connect(src, id, dst_port="x")
    net.connect("context", id, dst_port="context")
    return id


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
        if i == depth or i in _attended(p):
            last = _attend(net, p, f"down{i}_attn", col + 1.5, row, last)
        skips.append(last)
    for i in range(depth, 0, -1):  # decoder: up → norm → ReLU, then join the skip
        col, row = 3 * depth + 3 * (depth - i) + 1, i - 1
        filters = widths[i - 2] if i > 1 else p["filters"]
        up = f"up{i}"
        _up(net, up, col, row, filters, resize, norm is None)
        net.connect(last, f"{up}_resize" if resize else up)
        last = _unit(net, up, col, row, norm, "ReLU", up, filters, film)
        if i - 1 in _attended(p):
            last = _attend(net, p, f"{up}_attn", col + 1.5, row, last)
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
        if i in _attended(p):
            last = _attend(net, p, f"enc{i}_attn", col + 4.5, i - 1, last)
        skips.append(last)
        c_in, col = widths[i - 1], col + 5
    net.add("AvgPool2d", id=f"pool{depth}", pos=(col * _DX, depth * _DY), kernel=2, stride=2)
    net.connect(last, f"pool{depth}")
    last = _res_unit(net, "mid", col + 1, depth, norm, f"pool{depth}", c_in, c_in, film)
    last = _attend(net, p, "mid_attn", col + 5.5, depth, last)
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
        if i in _attended(p):
            last = _attend(net, p, f"dec{i}_attn", col + 6.5, row, last)
        c_in, col = widths[i - 1], col + 7
    last = _unit(net, "final", col, 0, norm, "SiLU", last, c_in)
    return last, col + 2
