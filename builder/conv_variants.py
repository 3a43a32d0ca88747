"""Seven ways to convolve, side by side: for one input (C_in × H × W) and one wanted number of
output channels, a tiny network per variant built from the real blocks, measured by the same
analysis as the "analyze network" table — parameters, FLOPs, output shape, receptive field,
and each figure as a fraction of the standard convolution's.

Every stride-1 variant uses padding 'same', so all of them produce the same H × W and their
FLOPs compare like for like; the transposed convolution (stride 2) doubles H and W instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.document import Network

__all__ = ["VariantRow", "HEADER", "VARIANTS", "NOTES", "variant_networks", "conv_variants",
           "headline", "table_rows"]

HEADER = ("Variant", "Blocks", "Output shape", "Params", "FLOPs", "Receptive field",
          "Params vs standard", "FLOPs vs standard")

# What each variant does, in a sentence (the dialog's tooltips).
NOTES = {
    "Standard": "Every filter sees all C_in channels of a k×k window.",
    "Dilated": "The same k×k weights with gaps of 1 pixel between taps: a wider field at the "
               "same cost.",
    "Depthwise-separable": "One k×k filter per input channel (groups = C_in), then a 1×1 conv "
                           "that mixes channels: cost ≈ 1/C_out + 1/k² of the standard conv.",
    "Grouped": "Channels split into g groups, each convolved on its own: 1/g of the weights "
               "and FLOPs.",
    "Pointwise 1×1": "A fully connected layer across channels at every pixel; it sees no "
                     "neighbours.",
    "Spatially separable": "k×1 (C_in → C_out) then 1×k (C_out → C_out): about 2/k of the "
                           "standard weights when C_in = C_out, more when C_out is larger.",
    "Transposed": "Each input pixel stamps a k×k kernel onto a grid twice as large (stride 2): "
                  "learned upsampling.",
}
VARIANTS = tuple(NOTES)


@dataclass(frozen=True)
class VariantRow:
    variant: str
    blocks: str  # the blocks of its network, in order, with the params that make the variant
    output_shape: tuple[int, ...]
    params: int
    flops: int
    receptive_field: int | None  # in input pixels along each axis; None for the transposed conv
    params_ratio: float  # params / the standard conv's params
    flops_ratio: float


def _check(c_in: int, c_out: int, kernel: int, height: int, width: int, groups: int) -> None:
    """Refuse what no variant could build, naming the argument and the value received."""
    for name, value in (("c_in", c_in), ("c_out", c_out), ("kernel", kernel),
                        ("height", height), ("width", width), ("groups", groups)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number ≥ 1; received {name}={value!r}")
    for name, n in (("c_in", c_in), ("c_out", c_out)):
        if n % groups:
            raise ValueError(f"groups must divide both c_in and c_out; received groups={groups} "
                             f"with {name}={n}")


def _specs(c_in, c_out, k, groups) -> list[tuple[str, list[tuple[str, dict]]]]:
    """(variant, [(block type, params), …]) — the blocks each variant chains, in order."""
    same = {"kernel": k, "padding": "same"}
    # transposed conv that exactly doubles the size for any k: out = 2·(H−1) − 2p + k + op
    pad = (k - 1) // 2
    return [
        ("Standard", [("Conv2d", {"filters": c_out, **same})]),
        ("Dilated", [("Conv2d", {"filters": c_out, **same, "dilation": 2})]),
        ("Depthwise-separable", [("Conv2d", {"filters": c_in, **same, "groups": c_in}),
                                 ("PointwiseConv2d", {"filters": c_out})]),
        ("Grouped", [("Conv2d", {"filters": c_out, **same, "groups": groups})]),
        ("Pointwise 1×1", [("PointwiseConv2d", {"filters": c_out})]),
        ("Spatially separable", [("SpatialSeparableConv2d", {"filters": c_out, **same})]),
        ("Transposed", [("ConvTranspose2d", {"filters": c_out, "kernel": k, "stride": 2,
                                             "padding": pad, "output_padding": 2 + 2 * pad - k})]),
    ]


def _describe(block: str, params: dict) -> str:
    """``Conv2d 3×3 groups 64``: the block and the params that tell the variants apart."""
    k = params.get("kernel")
    shown = [block]
    if k is not None:
        shown.append(f"{k}×1 + 1×{k}" if block == "SpatialSeparableConv2d" else f"{k}×{k}")
    for key in ("dilation", "groups", "stride"):
        if key in params:
            shown.append(f"{key} {params[key]}")
    return " ".join(shown)


def variant_networks(c_in: int = 64, c_out: int = 128, kernel: int = 3, height: int = 32,
                     width: int | None = None, groups: int = 4) -> list[tuple[str, str, Network]]:
    """(variant, blocks used, network) per variant: Input [c_in, H, W] → blocks → Output."""
    width = height if width is None else width
    _check(c_in, c_out, kernel, height, width, groups)
    out = []
    for variant, chain in _specs(c_in, c_out, kernel, groups):
        net = Network(variant)
        ids = [net.add("Input", id="x", shape=[c_in, height, width], kind="image")]
        for i, (block, params) in enumerate(chain, 1):
            ids.append(net.add(block, id=f"conv{i}", pos=(200.0 * i, 0.0), **params))
        ids.append(net.add("Output", id="y", pos=(200.0 * len(ids), 0.0)))
        net.chain(*ids)
        out.append((variant, " → ".join(_describe(b, p) for b, p in chain), net))
    return out


def conv_variants(c_in: int = 64, c_out: int = 128, kernel: int = 3, height: int = 32,
                  width: int | None = None, groups: int = 4) -> list[VariantRow]:
    """One row per variant, every figure from ``builder.analysis``; ValueError when the
    arguments cannot make a variant (the message names the argument)."""
    from builder.analysis import analyze  # torch: imported when the table is first computed

    measured = []
    for variant, blocks, net in variant_networks(c_in, c_out, kernel, height, width, groups):
        stats = analyze(net)
        errors = [p for p in stats.report.all_problems() if p.severity == "error"]
        if errors:
            raise ValueError(f"{variant}: {errors[0].message}")
        convs = [n for n in stats.report.graph.order if n.startswith("conv")]
        last = stats.nodes[convs[-1]]
        shape = next(iter(stats.report.shapes.outputs[convs[-1]].values()))
        measured.append((variant, blocks, tuple(shape), stats.params, stats.flops,
                         last.receptive_field))
    base_params, base_flops = measured[0][3], measured[0][4]
    return [VariantRow(v, b, s, p, f, rf, p / base_params, f / base_flops)
            for v, b, s, p, f, rf in measured]


def table_rows(rows: list[VariantRow]) -> list[tuple]:
    """The rows as plain values in ``HEADER`` order (what the dialog shows and CSV holds)."""
    from builder.analysis import field_text  # loaded already: the rows were measured with it

    return [(r.variant, r.blocks, "×".join(map(str, r.output_shape)), r.params, r.flops,
             field_text(r.receptive_field, r.output_shape) or "",
             round(r.params_ratio, 4), round(r.flops_ratio, 4)) for r in rows]


def headline(rows: list[VariantRow]) -> str:
    """One sentence drawn from the figures: what depthwise-separable saves, and why."""
    by = {r.variant: r for r in rows}
    std, sep, dil = by["Standard"], by["Depthwise-separable"], by["Dilated"]
    return (f"Depthwise-separable needs {sep.params_ratio:.1%} of the standard conv's weights "
            f"and {sep.flops_ratio:.1%} of its FLOPs for the same {std.receptive_field}×"
            f"{std.receptive_field} field; dilation 2 widens the field to "
            f"{dil.receptive_field}×{dil.receptive_field} for free. Stride-1 variants use "
            f"padding 'same'; the transposed conv doubles H and W.")
