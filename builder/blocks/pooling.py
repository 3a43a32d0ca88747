"""Pooling blocks: max, average and LP pooling over windows, global and adaptive pooling."""

from __future__ import annotations

import math

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import conv_out, fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")
modules = lazy("builder.blocks.modules.pooling")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------


def _two(v) -> tuple:
    return (v, v) if isinstance(v, (int, str)) else tuple(v)


def _fmt(v) -> str:
    a, b = _two(v)
    return str(a) if a == b else f"{a}×{b}"


def _stride(p):
    """The ``stride`` param, where the special value "kernel" means "same as the kernel"."""
    return p["kernel"] if p["stride"] == "kernel" else p["stride"]


def _input(ins, block: str, axes: int):
    (x,) = ins
    want = "[channels, height, width]" if axes == 2 else "[channels, length]"
    check(len(x) == axes + 1, f"{block} needs a {want} input; received {fmt_shape(x)}")
    return x


def _pool_len(n, k: int, s: int, p: int, ceil: bool):
    """Output length of a pooling window along one axis, as PyTorch computes it."""
    if isinstance(n, int) or not ceil or s == 1:
        return conv_out(n, k, s, p, 1, ceil)
    a = 2 * p - k
    q = f"-(-({n}{a:+d})//{s})" if a else f"-(-{n}//{s})"  # ⌈(n + 2p − k)/s⌉ by floor division
    if s < k + 1 - p:  # the last window always starts inside the input: no correction
        return f"{q}+1"
    return f"{q}+1-({q}*{s}>={n}+{p})"


def _pool_shape(p, ins, block: str, axes: int, padding: bool = True):
    x = _input(ins, block, axes)
    sizes = x[1:]
    ks, ss = _two(p["kernel"])[:axes], _two(_stride(p))[:axes]
    ps = _two(p["padding"])[:axes] if padding else (0,) * axes
    ceil = p["ceil_mode"]
    for k, pad in zip(ks, ps, strict=True):
        check(pad <= k // 2, f"{block}: padding {pad} is more than half the kernel {k}; "
              f"PyTorch allows at most {k // 2}")
    out = tuple(_pool_len(n, k, s, pad, ceil) for n, k, s, pad in zip(sizes, ks, ss, ps,
                                                                        strict=True))
    if any(isinstance(o, int) and o < 1 for o in out):
        size = "×".join(map(str, sizes)) if axes == 2 else f"length-{sizes[0]}"
        pad = "×".join(map(str, ps)) if len(set(ps)) > 1 else str(ps[0])
        check(False, f"{block}: kernel {_fmt(p['kernel'])} is larger than the {size} input "
              f"plus padding {pad}")
    return [(x[0], *out)]


def _pool_explain(p, ins, outs, what: str, padding: bool = True):
    axes = len(ins[0]) - 1
    names = ("H_out", "W_out") if axes == 2 else ("L_out",)
    ks, ss = _two(p["kernel"])[:axes], _two(_stride(p))[:axes]
    ps = _two(p["padding"])[:axes] if padding else (0,) * axes
    lo, hi = ("⌈", "⌉") if p["ceil_mode"] else ("⌊", "⌋")
    cols = list(zip(ins[0][1:], ks, ss, ps, outs[0][1:], strict=True))
    lines = []
    for name, (n, k, s, pad, o) in zip(names, cols, strict=False):
        if lines and cols[1] == cols[0]:
            lines[0] += " (W_out the same)"
            break
        lines.append(f"{name} = {lo}({n} + 2·{pad} − {k})/{s}{hi} + 1 = {o}")
    stride, kernel = _fmt(_stride(p)), _fmt(p["kernel"])
    if any(s < k for k, s in zip(ks, ss, strict=True)):
        note = f"overlapping windows (stride {stride} < kernel {kernel})"
    elif any(s > k for k, s in zip(ks, ss, strict=True)):
        note = f"stride {stride} > kernel {kernel} skips some positions"
    else:
        note = "windows do not overlap"
    window = f"{ks[0]} neighbouring steps" if axes == 1 else f"{ks[0]}×{ks[1]} window"
    return "\n".join(lines) + f"\neach output is the {what} of a {window}; {note}; " \
        "no learned parameters"


def _rf(p) -> tuple[int, int, int]:
    """(kernel, stride, dilation); the larger axis of a non-square window."""
    return (max(_two(p["kernel"])), max(_two(_stride(p))), 1)


def _max2d_build(p, ins):
    _pool_shape(p, ins, "MaxPool2d", 2)
    return make(nn.MaxPool2d, p["kernel"], stride=_stride(p), padding=p["padding"],
                ceil_mode=p["ceil_mode"])


def _max1d_build(p, ins):
    _pool_shape(p, ins, "MaxPool1d", 1)
    return make(nn.MaxPool1d, p["kernel"], stride=_stride(p), padding=p["padding"],
                ceil_mode=p["ceil_mode"])


def _avg_build(p, ins):
    _pool_shape(p, ins, "AvgPool2d", 2)
    return make(nn.AvgPool2d, p["kernel"], stride=_stride(p), padding=p["padding"],
                ceil_mode=p["ceil_mode"], count_include_pad=p["count_include_pad"])


def _lp_build(p, ins):
    _pool_shape(p, ins, "LP pool", 2, padding=False)
    return make(nn.LPPool2d, float(p["norm"]), p["kernel"], stride=_stride(p),
                ceil_mode=p["ceil_mode"])


def _lp_explain(p, ins, outs):
    sizes = _pool_explain(p, ins, outs, "", padding=False).split("\n")[:-1]
    q = f"{p['norm']:g}"
    name = " (the window's Euclidean length)" if p["norm"] == 2 else ""
    return "\n".join(sizes) + (f"\ny = (Σ x^{q})^(1/{q}) over each window{name}; "
                               "a large p approaches max pooling; no learned parameters")


def _global_shape(ins, block: str):
    (x,) = ins
    check(2 <= len(x) <= 4, f"{block} needs a [channels, height, width] or [channels, length] "
          f"input; received {fmt_shape(x)}")
    return [(x[0],)]


def _global_explain(ins, what: str):
    c, *sp = ins[0]
    n = math.prod(sp) if all(isinstance(d, int) for d in sp) else "·".join(map(str, sp))
    return (f"each of the {c} channels → the {what} of its {'×'.join(map(str, sp))} = {n} "
            f"values: {fmt_shape(ins[0])} → [{c}]")


def _adaptive_shape(p, ins):
    c, h, w = _input(ins, "AdaptiveAvgPool2d", 2)
    return [(c, *_two(p["size"]))]


def _adaptive_explain(p, ins, outs):
    parts = []
    for axis, n, o in zip(("rows", "columns"), ins[0][1:], _two(p["size"]), strict=True):
        if not isinstance(n, int):
            parts.append(f"{n} {axis} are split into {o} near-equal windows")
        elif n % o == 0:
            parts.append(f"{n} {axis} → {o}: windows of {n // o} with stride {n // o}")
        else:
            sizes = {-(-(i + 1) * n // o) - (i * n) // o for i in range(o)}
            k = str(min(sizes)) if len(sizes) == 1 else f"{min(sizes)} to {max(sizes)}"
            parts.append(f"{n} {axis} → {o}: windows of {k} (window i spans "
                         f"⌊i·{n}/{o}⌋ … ⌈(i+1)·{n}/{o}⌉ − 1; neighbours overlap)")
    if parts[1].replace("columns", "rows") == parts[0]:
        parts = [parts[0].replace("rows", "rows (and columns)", 1)]
    return "\n".join(parts) + "\nthe output size is fixed whatever the input size"


# --- params ------------------------------------------------------------------------------

_KERNEL = Param("kernel", "pair", 2, help="Window size K (or K_h, K_w).", min=1, max=64)
_STRIDE = Param("stride", "pair", "kernel", help="Step S between windows; 'kernel' = the "
                "kernel size (no overlap). Smaller than the kernel: overlapping pooling.",
                min=1, max=64, special=("kernel",))
_PADDING = Param("padding", "pair", 0, help="Padding P on each side (at most half the kernel).",
                 min=0, max=32)
_CEIL = Param("ceil_mode", "bool", False, help="Round the output size up (keep a last, "
              "partial window) instead of down.")
_IMG = ((8, 16, 16),)

register(
    BlockSpec(
        "MaxPool2d",
        "Pooling",
        "Keeps only the strongest response in each small window, shrinking the feature maps. "
        "A feature moved by a pixel or two usually still wins its window, so the output "
        "barely changes: a little translation invariance, and less computation downstream.",
        params=(_KERNEL, _STRIDE, _PADDING, _CEIL),
        build=_max2d_build,
        shape=lambda p, ins: _pool_shape(p, ins, "MaxPool2d", 2),
        explain=lambda p, ins, outs: _pool_explain(p, ins, outs, "maximum"),
        rf=_rf,
        has_weights=False,
        example_inputs=_IMG,
    ),
    BlockSpec(
        "MaxPool1d",
        "Pooling",
        "Max pooling along a sequence: keeps the strongest response in each stretch of K "
        "steps, so a pattern found by a Conv1d counts wherever it occurs in that stretch.",
        params=(
            Param("kernel", "int", 2, help="Window length K.", min=1, max=64),
            Param("stride", "int", "kernel", help="Step S between windows; 'kernel' = the "
                  "kernel size.", min=1, max=64, special=("kernel",)),
            Param("padding", "int", 0, help="Padding P at both ends (at most half the kernel).",
                  min=0, max=32),
            _CEIL,
        ),
        build=_max1d_build,
        shape=lambda p, ins: _pool_shape(p, ins, "MaxPool1d", 1),
        explain=lambda p, ins, outs: _pool_explain(p, ins, outs, "maximum"),
        rf=_rf,
        has_weights=False,
        example_inputs=((8, 32),),
    ),
    BlockSpec(
        "AvgPool2d",
        "Pooling",
        "Replaces each small window by its mean: a smooth way to shrink feature maps that "
        "keeps the overall level of activity rather than only the peak.",
        params=(_KERNEL, _STRIDE, _PADDING, _CEIL,
                Param("count_include_pad", "bool", True, help="Count padded zeros in the "
                      "mean's divisor.")),
        build=_avg_build,
        shape=lambda p, ins: _pool_shape(p, ins, "AvgPool2d", 2),
        explain=lambda p, ins, outs: _pool_explain(p, ins, outs, "mean"),
        rf=_rf,
        has_weights=False,
        example_inputs=_IMG,
    ),
    BlockSpec(
        "LPPool2d",
        "Pooling",
        "Pools each window with a p-norm, (Σ xᵖ)^(1/p): p = 1 is a sum (average pooling up "
        "to a factor), p = 2 the Euclidean length (L2 pooling), and as p grows it tends to "
        "max pooling. A tunable middle ground between averaging and taking the maximum.",
        params=(
            Param("norm", "float", 2.0, help="The power p of the norm.", min=1.0, max=32.0),
            _KERNEL, _STRIDE, _CEIL,
        ),
        build=_lp_build,
        shape=lambda p, ins: _pool_shape(p, ins, "LP pool", 2, padding=False),
        explain=_lp_explain,
        rf=_rf,
        title="L2 / LP pool",
        has_weights=False,
        example_inputs=_IMG,
    ),
    BlockSpec(
        "GlobalAvgPool",
        "Pooling",
        "Averages each channel over the whole image, turning [C, H, W] into [C]: one number "
        "per feature detector saying how present that feature is overall. Modern CNNs end "
        "with it instead of large fully connected layers. It pools the LAST axes, so it "
        "wants channels first ([C, L] from a Conv1d); a sequence [T, D] from an RNN or a "
        "Transformer needs Pool over time (TimePool) instead.",
        build=lambda p, ins: (_global_shape(ins, "GlobalAvgPool"), make(modules.GlobalAvgPool))[1],
        shape=lambda p, ins: _global_shape(ins, "GlobalAvgPool"),
        explain=lambda p, ins, outs: _global_explain(ins, "mean"),
        title="Global average pool",
        has_weights=False,
        example_inputs=((16, 7, 7),),
    ),
    BlockSpec(
        "GlobalMaxPool",
        "Pooling",
        "Keeps each channel's largest value over the whole image, turning [C, H, W] into [C]: "
        "did this feature fire anywhere, and how strongly? It pools the LAST axes (channels "
        "first, [C, L] from a Conv1d); for a sequence [T, D] use Pool over time (TimePool).",
        build=lambda p, ins: (_global_shape(ins, "GlobalMaxPool"), make(modules.GlobalMaxPool))[1],
        shape=lambda p, ins: _global_shape(ins, "GlobalMaxPool"),
        explain=lambda p, ins, outs: _global_explain(ins, "maximum"),
        title="Global max pool",
        has_weights=False,
        example_inputs=((16, 7, 7),),
    ),
    BlockSpec(
        "AdaptiveAvgPool2d",
        "Pooling",
        "Average pooling that picks its own windows so the output always has the requested "
        "size, whatever the input size; lets one classifier head accept images of "
        "different sizes (torchvision's AlexNet uses a 6×6 one).",
        params=(Param("size", "pair", 4, help="Output height and width.", min=1, max=1024),),
        build=lambda p, ins: (_adaptive_shape(p, ins), make(nn.AdaptiveAvgPool2d, p["size"]))[1],
        shape=_adaptive_shape,
        explain=_adaptive_explain,
        title="Adaptive average pool",
        has_weights=False,
        example_inputs=((8, 13, 13),),
    ),
)
