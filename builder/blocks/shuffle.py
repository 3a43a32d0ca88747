"""PixelShuffle: sub-pixel upsampling (Shi et al. 2016), channels traded for resolution."""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")

__all__: list[str] = []


def _times(r: int, d) -> int | str:
    if isinstance(d, int):
        return r * d
    return f"{r}*{d}" if d.isidentifier() else f"{r}*({d})"


def _shuffle_shape(p, ins):
    (x,) = ins
    r = p["factor"]
    check(len(x) == 3, f"PixelShuffle needs an image [C·r², H, W] per sample; received "
          f"{fmt_shape(x)}")
    c = x[0]
    check(isinstance(c, int), f"PixelShuffle needs a known channel count; received "
          f"{fmt_shape(x)}")
    check(c % (r * r) == 0, f"PixelShuffle with factor {r} turns each r² = {r * r} channels "
          f"into one channel of an r×r larger image, so the channels must be a multiple of "
          f"{r * r}; received {c} in {fmt_shape(x)} (e.g. a conv with "
          f"{max(1, c // (r * r)) * r * r} filters before it)")
    return [(c // (r * r), _times(r, x[1]), _times(r, x[2]))]


def _shuffle_explain(p, ins, outs):
    r, (c, h, w) = p["factor"], ins[0]
    return (f"[{c}, {h}, {w}] → [{c}/{r * r}, {r}·{h}, {r}·{w}] = {fmt_shape(outs[0])}: each "
            f"group of {r * r} channels fills the {r}×{r} pixels of one output channel\n"
            "no learned parameters; values are only moved")


register(
    BlockSpec(
        "PixelShuffle",
        "Convolution",
        "Enlarges an image by rearranging channels into pixels: every group of r² channels "
        "becomes the r×r block of pixels of one output channel. A convolution before it "
        "learns what to put in each sub-pixel, an upsampling without the checkerboard "
        "pattern of transposed convolutions (super-resolution, VQ-VAE decoders).",
        params=(Param("factor", "int", 2, help="Upscale factor r: height and width grow r "
                      "times, channels shrink r² times.", min=1, max=16),),
        build=lambda p, ins: _shuffle_shape(p, ins) and make(nn.PixelShuffle, p["factor"]),
        shape=_shuffle_shape,
        explain=_shuffle_explain,
        title="Pixel shuffle",
        has_weights=False,
        example_inputs=((16, 8, 8),),
    ),
)
