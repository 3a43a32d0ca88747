"""Padding blocks: reflection padding of images."""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")

__all__: list[str] = []


def _reflect_shape(p, ins):
    (x,) = ins
    check(len(x) == 3, f"ReflectionPad2d needs an image [C, H, W] per sample; received "
          f"{fmt_shape(x)}")
    pad = p["padding"]
    for name, size in zip(("height", "width"), x[1:]):
        # A mirror of P pixels needs P + 1 pixels to reflect (the border is not repeated).
        check(not isinstance(size, int) or pad < size,
              f"ReflectionPad2d mirrors {pad} pixels, so the {name} must be above {pad}; "
              f"received {fmt_shape(x)}")
    grow = [d + 2 * pad if isinstance(d, int) else (f"{d}+{2 * pad}" if pad else d)
            for d in x[1:]]
    return [(x[0], *grow)]


def _reflect_build(p, ins):
    _reflect_shape(p, ins)
    return make(nn.ReflectionPad2d, p["padding"])


def _reflect_explain(p, ins, outs):
    pad, (_, h, w) = p["padding"], ins[0]
    return (f"adds {pad} mirrored rows/columns on every side: {h}×{w} → "
            f"{outs[0][1]}×{outs[0][2]}; the border pixel is the mirror's axis, so no "
            "hard zero edge appears (CycleGAN and style-transfer generators pad this way)")


register(
    BlockSpec(
        "ReflectionPad2d",
        "Convolution",
        "Grows the image by mirroring it at its edges: row −1 is row 1, row −2 is row 2, and "
        "so on. A convolution after it sees plausible content at the border instead of "
        "zeros, so generated images get no dark frame (image-to-image generators use it).",
        params=(Param("padding", "int", 1, help="Pixels P added on each of the four sides "
                                                "(must be below the height and the width).",
                      min=0, max=64),),
        build=_reflect_build,
        shape=_reflect_shape,
        explain=_reflect_explain,
        title="Reflection padding",
        has_weights=False,
        example_inputs=((3, 16, 16),),
    ),
)
