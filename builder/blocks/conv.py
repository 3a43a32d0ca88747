"""Convolution blocks: Conv1d, Conv2d (grouped, depthwise, dilated), separable variants,
pointwise 1×1, transposed convolution and Upsample."""

from __future__ import annotations

import math

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import conv_out, convT_out, fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")
modules = lazy("builder.blocks.modules.conv")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------


def _two(v) -> tuple:
    """A ``pair`` param (``3`` or ``(3, 5)``) as two values."""
    return (v, v) if isinstance(v, (int, str)) else tuple(v)


def _fmt(v) -> str:
    """``3`` for a square value, ``3×5`` otherwise."""
    a, b = _two(v)
    return str(a) if a == b else f"{a}×{b}"


def _image(ins, block: str):
    (x,) = ins
    check(len(x) == 3, f"{block} needs a [channels, height, width] input; received {fmt_shape(x)}"
          + (" (a flat vector: Reshape it to an image first)" if len(x) == 1 else ""))
    check(isinstance(x[0], int), f"{block} needs a known number of channels; received "
          f"{fmt_shape(x)}")
    return x


def _sequence(ins, block: str):
    (x,) = ins
    check(len(x) == 2, f"{block} needs a [channels, length] input; received {fmt_shape(x)}")
    check(isinstance(x[0], int), f"{block} needs a known number of channels first; received "
          f"{fmt_shape(x)} — a [T, features] sequence must be transposed to [features, T]")
    return x


def _groups(block: str, c_in: int, c_out: int, groups: int) -> None:
    for n, what in ((c_in, "input channels"), (c_out, "filters")):
        check(n % groups == 0, f"{block}: groups {groups} must divide both the {c_in} input "
              f"channels and the {c_out} filters; {n} {what} are not divisible by {groups}")


def _same_stride(block: str, stride, kernel, dilation) -> None:
    if stride in (1, (1, 1)):
        return
    pads = {(d * (k - 1)) // 2 for k, d in zip(_two(kernel), _two(dilation), strict=True)
            if d * (k - 1) % 2 == 0}
    hint = f"; use padding {pads.pop()} instead" if len(pads) == 1 else ""
    check(False, f"{block}: padding 'same' only works with stride 1 in PyTorch; received stride "
          f"{_fmt(stride)}{hint}")


def _fits(block: str, sizes, kernel, padding, dilation) -> None:
    """Raise unless the (dilated) kernel fits the padded input on every concrete axis."""
    ax = len(sizes)
    ks, ps, ds = (_two(v)[:ax] for v in (kernel, padding, dilation))
    spans = [d * (k - 1) + 1 for k, d in zip(ks, ds, strict=True)]
    if all(not isinstance(n, int) or n + 2 * p >= s
           for n, p, s in zip(sizes, ps, spans, strict=True)):
        return
    size = "×".join(str(n) for n in sizes) if ax == 2 else f"length-{sizes[0]}"
    span = "×".join(str(s) for s in spans) if len(set(spans)) > 1 else str(spans[0])
    kern = "×".join(str(k) for k in ks) if len(set(ks)) > 1 else str(ks[0])
    pad = "×".join(str(p) for p in ps) if len(set(ps)) > 1 else str(ps[0])
    what = f"kernel {kern}" + (f" with dilation {_fmt(dilation)} spans {span}, which"
                               if any(d > 1 for d in ds) else "")
    check(False, f"{block}: {what} is larger than the {size} input plus padding {pad}")


def _window_out(block, sizes, kernel, stride, padding, dilation):
    """Output sizes of a convolution window over ``sizes`` (1 or 2 spatial axes)."""
    if padding == "same":
        _same_stride(block, stride, kernel, dilation)
        return tuple(sizes)
    _fits(block, sizes, kernel, padding, dilation)
    ax = len(sizes)
    return tuple(conv_out(n, k, s, p, d) for n, k, s, p, d in zip(
        sizes, *(_two(v)[:ax] for v in (kernel, stride, padding, dilation)), strict=True))


def _conv_formula(name, n, k, s, p, d, out) -> str:
    return f"{name} = ⌊({n} + 2·{p} − {d}·({k}−1) − 1)/{s}⌋ + 1 = {out}"


def _size_lines(p, ins_sp, outs_sp, names=("H_out", "W_out")) -> str:
    """The output-size formula with the user's numbers, one line per distinct axis."""
    ax = len(ins_sp)
    if p["padding"] == "same":
        spans = [d * (k - 1) for k, d in zip(_two(p["kernel"])[:ax], _two(p["dilation"])[:ax],
                                             strict=True)]
        span = "×".join(map(str, spans)) if len(set(spans)) > 1 else str(spans[0])
        return (f"padding 'same' (stride 1) adds D·(K−1) = {span} zeros in total per axis, "
                f"so the output keeps the input's {'×'.join(str(n) for n in ins_sp)}")
    cols = list(zip(ins_sp, *(_two(p[k])[:ax] for k in ("kernel", "stride", "padding",
                                                         "dilation")), outs_sp, strict=True))
    lines = [_conv_formula(names[0], *cols[0])]
    if ax == 2:
        lines[0] += "" if cols[1] != cols[0] else " (W_out the same)"
        if cols[1] != cols[0]:
            lines.append(_conv_formula(names[1], *cols[1]))
    return "\n".join(lines)


def _per_position(shape) -> int:
    """Number of spatial positions; a symbolic axis counts once (FLOPs per time step)."""
    return math.prod(d if isinstance(d, int) else 1 for d in shape)


def _conv_flops(out_sp, c_out: int, c_in_per_group: int, kernel_area: int) -> int:
    return 2 * _per_position(out_sp) * c_out * c_in_per_group * kernel_area


def _conv_params_text(c_out: int, c_in: int, groups: int, kernel: tuple, bias: bool) -> str:
    """``params = 96·(3/1·11·11) + 96 = 34,944``: C_out·(C_in/groups·K_h·K_w) + bias."""
    weights = c_out * (c_in // groups) * math.prod(kernel)
    b = c_out if bias else 0
    per_filter = f"{c_in}/{groups}" + "".join(f"·{k}" for k in kernel)
    return f"params = {c_out}·({per_filter}) + {b} = {weights + b:,}"


def _rf(p) -> tuple[int, int, int]:
    """(kernel, stride, dilation) for the receptive field; the larger axis of a non-square
    value, so the field reported is that of the wider axis (an upper bound for the other)."""
    return tuple(max(_two(p[k])) for k in ("kernel", "stride", "dilation"))


# Conv2d ---------------------------------------------------------------------------------


def _conv2d_shape(p, ins):
    block = "Conv2d"
    c, h, w = _image(ins, block)
    _groups(block, c, p["filters"], p["groups"])
    if p["padding_mode"] in ("reflect", "circular"):  # they copy pixels the input must have
        pads = (_two(p["padding"]) if p["padding"] != "same" else
                [d * (k - 1) - d * (k - 1) // 2 for k, d in zip(_two(p["kernel"]),
                                                               _two(p["dilation"]), strict=True)])
        for n, pad in zip((h, w), pads, strict=True):
            check(not isinstance(n, int) or pad < n,
                  f"{block}: {p['padding_mode']} padding of {pad} needs an input wider than "
                  f"{pad}; received {h}×{w}")
    return [(p["filters"], *_window_out(block, (h, w), p["kernel"], p["stride"], p["padding"],
                                        p["dilation"]))]


def _conv2d_build(p, ins):
    _conv2d_shape(p, ins)
    mode = {} if p["padding_mode"] == "zeros" else {"padding_mode": p["padding_mode"]}
    return make(nn.Conv2d, ins[0][0], p["filters"], p["kernel"], stride=p["stride"],
                padding=p["padding"], dilation=p["dilation"], groups=p["groups"], bias=p["bias"],
                **mode)


_PADS = {"reflect": "the image mirrored at its edge", "replicate": "copies of the edge pixels",
         "circular": "the opposite edge's pixels (the image wraps around)"}


def _conv2d_explain(p, ins, outs):
    c, g = ins[0][0], p["groups"]
    kind = ""
    if g > 1:
        kind = (" (depthwise: one input channel per filter)" if g == c
                else f" (grouped: each filter sees {c // g} of the {c} input channels)")
    size = _size_lines(p, ins[0][1:], outs[0][1:])
    if p["padding_mode"] != "zeros":
        size = size.replace(" zeros ", " pixels ") + f"; the padding is {_PADS[p['padding_mode']]}"
    return (size + "\n"
            + _conv_params_text(p["filters"], c, g, _two(p["kernel"]), p["bias"]) + kind)


def _conv2d_flops(p, ins, outs):
    kh, kw = _two(p["kernel"])
    return _conv_flops(outs[0][1:], p["filters"], ins[0][0] // p["groups"], kh * kw)


# Conv1d ---------------------------------------------------------------------------------


def _conv1d_shape(p, ins):
    c, n = _sequence(ins, "Conv1d")
    _groups("Conv1d", c, p["filters"], p["groups"])
    return [(p["filters"], *_window_out("Conv1d", (n,), p["kernel"], p["stride"], p["padding"],
                                        p["dilation"]))]


def _conv1d_build(p, ins):
    _conv1d_shape(p, ins)
    return make(nn.Conv1d, ins[0][0], p["filters"], p["kernel"], stride=p["stride"],
                padding=p["padding"], dilation=p["dilation"], groups=p["groups"], bias=p["bias"])


def _conv1d_explain(p, ins, outs):
    k = p["kernel"]
    return (_size_lines(p, ins[0][1:], outs[0][1:], names=("L_out",)) + "\n"
            + _conv_params_text(p["filters"], ins[0][0], p["groups"], (k,), p["bias"]))


def _conv1d_flops(p, ins, outs):
    return _conv_flops(outs[0][1:], p["filters"], ins[0][0] // p["groups"], p["kernel"])


# Depthwise-separable ----------------------------------------------------------------------

_SEP = "Depthwise-separable Conv2d"


def _sep_shape(p, ins):
    c, h, w = _image(ins, _SEP)
    return [(p["filters"], *_window_out(_SEP, (h, w), p["kernel"],
                                        p["stride"], p["padding"], p["dilation"]))]


def _sep_build(p, ins):
    _sep_shape(p, ins)
    return make(modules.SeparableConv2d, ins[0][0], p["filters"], p["kernel"], stride=p["stride"],
                padding=p["padding"], dilation=p["dilation"],
                depth_multiplier=p["depth_multiplier"], bias=p["bias"])


def _sep_explain(p, ins, outs):
    c, f, m = ins[0][0], p["filters"], p["depth_multiplier"]
    kh, kw = _two(p["kernel"])
    b = f if p["bias"] else 0
    dw, pw = c * m * kh * kw, f * c * m + b
    full = f * c * kh * kw + b
    return (_size_lines(p, ins[0][1:], outs[0][1:]) + "\n"
            f"params = depthwise {c * m}·{kh}·{kw} + pointwise {f}·{c * m} + {b} = {dw + pw:,}"
            f" (a full {kh}×{kw} conv: {full:,}, {full / (dw + pw):.1f}× more)")


def _sep_flops(p, ins, outs):
    c, f, m = ins[0][0], p["filters"], p["depth_multiplier"]
    kh, kw = _two(p["kernel"])
    sp = outs[0][1:]
    return _conv_flops(sp, c * m, 1, kh * kw) + _conv_flops(sp, f, c * m, 1)


# Pointwise 1×1 -------------------------------------------------------------------------


def _pw_shape(p, ins):
    c, h, w = _image(ins, "Pointwise 1×1")
    _groups("Pointwise 1×1", c, p["filters"], p["groups"])
    sh, sw = _two(p["stride"])
    return [(p["filters"], conv_out(h, 1, sh), conv_out(w, 1, sw))]


def _pw_build(p, ins):
    _pw_shape(p, ins)
    return make(nn.Conv2d, ins[0][0], p["filters"], 1, stride=p["stride"], groups=p["groups"],
                bias=p["bias"])


def _pw_explain(p, ins, outs):
    c = ins[0][0]
    sizes = ""
    if p["stride"] not in (1, (1, 1)):
        sh, sw = _two(p["stride"])
        sizes = f"H_out = ⌊({ins[0][1]} − 1)/{sh}⌋ + 1 = {outs[0][1]}\n"
        if sw != sh or ins[0][2] != ins[0][1]:
            sizes += f"W_out = ⌊({ins[0][2]} − 1)/{sw}⌋ + 1 = {outs[0][2]}\n"
    return (sizes + f"each pixel's {c} channels are mixed into {p['filters']}: "
            + _conv_params_text(p["filters"], c, p["groups"], (), p["bias"]))


def _pw_flops(p, ins, outs):
    return _conv_flops(outs[0][1:], p["filters"], ins[0][0] // p["groups"], 1)


# Spatially separable k×1 + 1×k -----------------------------------------------------------


def _ss_out(p, ins):
    """Shapes after the k×1 conv (rows change) and after the 1×k conv (columns change)."""
    block = "Spatially separable conv"
    c, h, w = _image(ins, block)
    k, s, pad = p["kernel"], p["stride"], p["padding"]
    if pad == "same":
        _same_stride(block, s, k, 1)
        return (p["filters"], h, w), (p["filters"], h, w)
    _fits(block, (h, w), k, pad, 1)
    h1, w1 = conv_out(h, k, s, pad), conv_out(w, k, s, pad)
    return (p["filters"], h1, w), (p["filters"], h1, w1)


def _ss_shape(p, ins):
    return [_ss_out(p, ins)[1]]


def _ss_build(p, ins):
    _ss_shape(p, ins)
    return make(modules.SpatialSeparableConv2d, ins[0][0], p["filters"], p["kernel"],
                stride=p["stride"], padding=p["padding"], bias=p["bias"])


def _ss_explain(p, ins, outs):
    c, f, k = ins[0][0], p["filters"], p["kernel"]
    b = f if p["bias"] else 0
    v, hz = f * c * k + b, f * f * k + b
    full = f * c * k * k + b
    q = dict(p, dilation=1)
    return (_size_lines(q, ins[0][1:], outs[0][1:]) + "\n"
            f"params = {k}×1: {f}·{c}·{k} + {b}  +  1×{k}: {f}·{f}·{k} + {b} = {v + hz:,} "
            f"(a full {k}×{k} conv from {c} to {f} channels: {full:,})")


def _ss_flops(p, ins, outs):
    c, f, k = ins[0][0], p["filters"], p["kernel"]
    mid = _ss_out(p, ins)[0]
    return _conv_flops(mid[1:], f, c, k) + _conv_flops(outs[0][1:], f, f, k)


# ConvTranspose2d ---------------------------------------------------------------------------


def _convT_shape(p, ins):
    block = "ConvTranspose2d"
    c, h, w = _image(ins, block)
    cols = list(zip((h, w), *(_two(p[k]) for k in ("kernel", "stride", "padding",
                                                   "output_padding", "dilation")), strict=True))
    out = []
    for axis, (n, k, s, pad, op, d) in zip(("H", "W"), cols, strict=True):
        check(op < s or op < d, f"{block}: output_padding {op} must be smaller than the stride "
              f"{s} or the dilation {d} (PyTorch's rule)")
        o = convT_out(n, k, s, pad, op, d)
        check(not isinstance(o, int) or o >= 1,
              f"{block}: padding {pad} trims the whole output: {axis}_out = ({n}−1)·{s} − 2·{pad}"
              f" + {d}·({k}−1) + {op} + 1 = {o}")
        out.append(o)
    return [(p["filters"], *out)]


def _convT_build(p, ins):
    _convT_shape(p, ins)
    return make(nn.ConvTranspose2d, ins[0][0], p["filters"], p["kernel"], stride=p["stride"],
                padding=p["padding"], output_padding=p["output_padding"],
                dilation=p["dilation"], bias=p["bias"])


def _convT_explain(p, ins, outs):
    c, f = ins[0][0], p["filters"]
    cols = list(zip(ins[0][1:], *(_two(p[k]) for k in ("kernel", "stride", "padding",
                                                       "output_padding", "dilation")),
                    outs[0][1:], strict=True))
    lines = []
    for axis, (n, k, s, pad, op, d, o) in zip(("H", "W"), cols, strict=True):
        if axis == "W" and cols[1] == cols[0]:
            lines[0] += " (W_out the same)"
            break
        lines.append(f"{axis}_out = ({n}−1)·{s} − 2·{pad} + {d}·({k}−1) + {op} + 1 = {o}")
    kh, kw = _two(p["kernel"])
    b = f if p["bias"] else 0
    lines.append(f"params = {c}·{f}·{kh}·{kw} + {b} = {c * f * kh * kw + b:,}")
    return "\n".join(lines)


def _convT_flops(p, ins, outs):
    # FlopCounterMode counts a transposed conv over the *input* positions.
    kh, kw = _two(p["kernel"])
    return _conv_flops(ins[0][1:], ins[0][0], p["filters"], kh * kw)


# Upsample ---------------------------------------------------------------------------------


def _scaled(n, scale: float):
    if isinstance(n, int):
        return math.floor(float(n) * scale)
    return f"{n}*{int(scale)}" if float(scale).is_integer() else f"{n}*{scale!r}"


def _up_shape(p, ins):
    c, h, w = _image(ins, "Upsample")
    ho, wo = _scaled(h, p["scale"]), _scaled(w, p["scale"])
    for n, o in ((h, ho), (w, wo)):
        check(not isinstance(o, int) or o >= 1, f"Upsample: scale {p['scale']:g} shrinks the "
              f"{h}×{w} input to nothing (⌊{n}·{p['scale']:g}⌋ = {o})")
    return [(c, ho, wo)]


def _up_build(p, ins):
    _up_shape(p, ins)
    if p["mode"] == "nearest":
        return make(nn.Upsample, scale_factor=float(p["scale"]), mode="nearest")
    return make(nn.Upsample, scale_factor=float(p["scale"]), mode=p["mode"], align_corners=False)


def _up_explain(p, ins, outs):
    s = p["scale"]
    how = ("nearest copies each pixel" if p["mode"] == "nearest"
           else "bilinear blends the 4 nearest input pixels by distance")
    return (f"H_out = ⌊{ins[0][1]}·{s:g}⌋ = {outs[0][1]}, W_out = ⌊{ins[0][2]}·{s:g}⌋ = "
            f"{outs[0][2]}\n{how}; no learned parameters")


# --- params ------------------------------------------------------------------------------

_FILTERS = Param("filters", "int", 16, help="Number of output channels (filters).", min=1,
                 max=16384)
_KERNEL = Param("kernel", "pair", 3, help="Window size K (or K_h, K_w).", min=1, max=64)
_STRIDE = Param("stride", "pair", 1, help="Step S of the window (2 halves the size).", min=1,
                max=64)
_PADDING = Param("padding", "pair", 0, help="Zeros P added on each side; 'same' keeps the size "
                 "(stride 1 only).", min=0, max=64, special=("same",))
_PADDING_MODE = Param("padding_mode", "choice", "zeros",
                      choices=("zeros", "reflect", "replicate", "circular"),
                      help="What the padding holds: zeros, the image mirrored at its edge "
                           "(reflect: no dark frame for a generator to learn around), the edge "
                           "pixels repeated, or the opposite edge (circular).")
_DILATION = Param("dilation", "pair", 1, help="Spacing D between kernel taps (atrous conv).",
                  min=1, max=32)
_GROUPS = Param("groups", "int", 1, help="Split channels into groups (= channels: depthwise).",
                min=1, max=16384)
_BIAS = Param("bias", "bool", True, help="Learn an additive bias per filter.")
_IMG = ((3, 16, 16),)

register(
    BlockSpec(
        "Conv1d",
        "Convolution",
        "Slides learned filters along one axis, a sequence of length L with C channels: "
        "each output step sees K neighbouring steps. Used for audio, sensor signals and "
        "text, where it detects local patterns wherever they occur in time.",
        params=(
            _FILTERS,
            Param("kernel", "int", 3, help="Window length K.", min=1, max=64),
            Param("stride", "int", 1, help="Step S of the window.", min=1, max=64),
            Param("padding", "int", 0, help="Zeros P added at both ends; 'same' keeps the "
                  "length (stride 1 only).", min=0, max=64, special=("same",)),
            Param("dilation", "int", 1, help="Spacing D between kernel taps.", min=1, max=32),
            _GROUPS,
            _BIAS,
        ),
        build=_conv1d_build,
        shape=_conv1d_shape,
        explain=_conv1d_explain,
        flops=_conv1d_flops,
        rf=_rf,
        example_inputs=((4, 32),),
    ),
    BlockSpec(
        "Conv2d",
        "Convolution",
        "Slides a bank of small learned filters over the image; each filter answers 'is my "
        "pattern here?' at every position, producing one feature map. Sharing the same "
        "weights everywhere keeps the parameter count small and makes detection work "
        "anywhere in the image.",
        params=(_FILTERS, _KERNEL, _STRIDE, _PADDING, _PADDING_MODE, _DILATION, _GROUPS, _BIAS),
        build=_conv2d_build,
        shape=_conv2d_shape,
        explain=_conv2d_explain,
        flops=_conv2d_flops,
        rf=_rf,
        example_inputs=_IMG,
    ),
    BlockSpec(
        "SeparableConv2d",
        "Convolution",
        "Splits a convolution in two cheap steps: a depthwise k×k filter per input channel "
        "finds spatial patterns, then a pointwise 1×1 convolution mixes channels. MobileNet "
        "and Xception use it to get most of a full convolution's power for a fraction of "
        "its parameters and multiply-adds.",
        params=(
            _FILTERS, _KERNEL, _STRIDE, _PADDING, _DILATION,
            Param("depth_multiplier", "int", 1, help="Depthwise filters per input channel.",
                  min=1, max=16),
            Param("bias", "bool", True, help="Learn a bias per output channel (pointwise)."),
        ),
        build=_sep_build,
        shape=_sep_shape,
        explain=_sep_explain,
        flops=_sep_flops,
        rf=_rf,
        title="Depthwise-separable Conv2d",
        example_inputs=((8, 16, 16),),
    ),
    BlockSpec(
        "PointwiseConv2d",
        "Convolution",
        "A 1×1 convolution: at every pixel, a small fully connected layer across the "
        "channels. It changes the number of channels cheaply, as the bottleneck of "
        "ResNet and Inception, without looking at neighbouring pixels.",
        params=(_FILTERS, Param("stride", "pair", 1, help="Step between pixels (2 keeps every "
                                "other one).", min=1, max=64), _GROUPS, _BIAS),
        build=_pw_build,
        shape=_pw_shape,
        explain=_pw_explain,
        flops=_pw_flops,
        rf=lambda p: (1, max(_two(p["stride"])), 1),
        title="Pointwise 1×1",
        example_inputs=((32, 8, 8),),
    ),
    BlockSpec(
        "SpatialSeparableConv2d",
        "Convolution",
        "Replaces a k×k convolution by a k×1 convolution followed by a 1×k one: together "
        "they still see a k×k window, with about 2/k of the weights when channel counts "
        "match. Inception-v3 factorises its 7×7 filters this way.",
        params=(
            _FILTERS,
            Param("kernel", "int", 3, help="Window size k of the k×1 and 1×k convs.", min=1,
                  max=64),
            Param("stride", "int", 1, help="Step S along both axes.", min=1, max=64),
            Param("padding", "int", 0, help="Zeros P added on each side; 'same' keeps the size "
                  "(stride 1 only).", min=0, max=64, special=("same",)),
            Param("bias", "bool", True, help="Learn a bias per filter in both convs."),
        ),
        build=_ss_build,
        shape=_ss_shape,
        explain=_ss_explain,
        flops=_ss_flops,
        rf=lambda p: (p["kernel"], p["stride"], 1),
        title="Spatially separable k×1+1×k",
        example_inputs=((16, 16, 16),),
    ),
    BlockSpec(
        "ConvTranspose2d",
        "Convolution",
        "A learned upsampling: each input pixel stamps a weighted copy of the kernel onto a "
        "larger output grid, and overlapping stamps add up. Decoders, segmentation nets and "
        "GAN generators (DCGAN) use it to grow small feature maps into images.",
        params=(
            _FILTERS,
            Param("kernel", "pair", 4, help="Kernel size K (or K_h, K_w).", min=1, max=64),
            Param("stride", "pair", 2, help="Upsampling factor S (spacing of the stamps).",
                  min=1, max=64),
            Param("padding", "pair", 1, help="Rows/columns P trimmed from each border.", min=0,
                  max=64),
            Param("output_padding", "pair", 0, help="Extra rows/columns added at the end to "
                  "reach an exact size; must be < stride or < dilation.", min=0, max=63),
            _DILATION,
            _BIAS,
        ),
        build=_convT_build,
        shape=_convT_shape,
        explain=_convT_explain,
        flops=_convT_flops,
        example_inputs=((8, 8, 8),),
    ),
    BlockSpec(
        "Upsample",
        "Convolution",
        "Enlarges feature maps by a fixed factor without learning anything: 'nearest' repeats "
        "pixels, 'bilinear' interpolates smoothly. Followed by a convolution it is a "
        "common alternative to transposed convolution that avoids checkerboard artefacts.",
        params=(
            Param("scale", "float", 2.0, help="Scale factor for height and width.", min=0.125,
                  max=16.0),
            Param("mode", "choice", "nearest", help="How new pixels are filled in.",
                  choices=("nearest", "bilinear")),
        ),
        build=_up_build,
        shape=_up_shape,
        explain=_up_explain,
        has_weights=False,
        example_inputs=((3, 8, 8),),
    ),
)
