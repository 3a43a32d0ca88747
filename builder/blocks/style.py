"""Style blocks (StyleGAN): AdaIN, modulated convolution, noise injection and a learned
constant input."""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import ANY, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.style")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------


def _image(x, block: str):
    check(len(x) == 3 and all(isinstance(d, int) for d in x),
          f"{block} needs a [channels, height, width] input of known size; received "
          f"{fmt_shape(x)}")
    return x


def _styled(ins, block: str):
    """(x, w) → (C, H, W, D): an image and a style vector."""
    x, w = ins
    c, h, wd = _image(x, block)
    check(len(w) == 1 and isinstance(w[0], int),
          f"{block} needs a style vector [D] on its input w; received {fmt_shape(w)}")
    return c, h, wd, w[0]


def _adain_explain(p, ins, outs):
    c, h, w, d = _styled(ins, "AdaIN")
    return (f"y = (1 + γ(w))·(x − μ)/√(σ² + ε) + β(w), μ and σ² over the {h}×{w} pixels of "
            f"each of the {c} channels\n[γ, β] = A·w + b: params = {d}·{2 * c} + {2 * c} = "
            f"{(d + 1) * 2 * c:,}")


def _modconv_shape(p, ins):
    c, h, w, _ = _styled(ins, "ModulatedConv2d")
    k, pad = p["kernel"], p["padding"]
    if pad == "same":
        check(k % 2 == 1, f"ModulatedConv2d: padding 'same' needs an odd kernel; received {k}")
        return [(p["filters"], h, w)]
    check(h + 2 * pad >= k and w + 2 * pad >= k,
          f"ModulatedConv2d: kernel {k} is larger than the {h}×{w} input plus padding {pad}")
    return [(p["filters"], h + 2 * pad - k + 1, w + 2 * pad - k + 1)]


def _modconv_build(p, ins):
    _modconv_shape(p, ins)
    c, _, _, d = _styled(ins, "ModulatedConv2d")
    return make(modules.ModulatedConv2d, c, p["filters"], p["kernel"], d,
                demodulate=p["demodulate"], padding=p["padding"], bias=p["bias"])


def _modconv_explain(p, ins, outs):
    c, _, _, d = _styled(ins, "ModulatedConv2d")
    f, k = p["filters"], p["kernel"]
    demod = ("; demodulated: W″ = W′/√(Σ W′² + ε) per filter" if p["demodulate"]
             else "; not demodulated")
    b = f if p["bias"] else 0
    return (f"s = A·w + b ({c} scales), W′ = W·s per input channel{demod}\n"
            f"y = W″ ∗ x per sample, {fmt_shape(outs[0])}; params = {f}·{c}·{k}·{k} + "
            f"{d}·{c} + {c} + {b} = {f * c * k * k + (d + 1) * c + b:,}")


def _modconv_flops(p, ins, outs):
    c, _, _, d = _styled(ins, "ModulatedConv2d")
    _, h, w = outs[0]
    return 2 * d * c + 2 * h * w * p["filters"] * c * p["kernel"] ** 2


def _noise_explain(p, ins, outs):
    c, h, w = _image(ins[0], "NoiseInjection")
    eval_text = {"const": "a fixed noise map in eval", "random": "fresh noise in eval too",
                 "none": "no noise in eval"}[p["mode"]]
    return (f"y = x + b·n, n ~ N(0, 1) per pixel ({h}×{w}, shared by the {c} channels), "
            f"drawn anew while training; {eval_text}\nb: one learned strength per channel, "
            f"params = {c}")


def _constant_shape(p, ins):
    return [tuple(p["shape"])]


register(
    BlockSpec(
        "AdaIN",
        "Generative & special",
        "Adaptive instance normalisation: normalises each channel of an image over its "
        "pixels, then scales and shifts it by amounts read from a style vector w through a "
        "learned affine map. StyleGAN feeds the same w into every resolution this way, so "
        "the style decides what the features look like while the layers decide where.",
        inputs=(Port("x", help="Feature maps [C, H, W]."),
                Port("w", help="Style vector [D], e.g. from a mapping network.")),
        build=lambda p, ins: make(modules.AdaIN, _styled(ins, "AdaIN")[0],
                                  _styled(ins, "AdaIN")[3]),
        shape=lambda p, ins: [_styled(ins, "AdaIN")[:3]],
        explain=_adain_explain,
        flops=lambda p, ins, outs: 2 * _styled(ins, "AdaIN")[3] * 2 * ins[0][0],
        keeps_space=True,
        example_inputs=((8, 8, 8), (16,)),
        tags=("style",),
    ),
    BlockSpec(
        "ModulatedConv2d",
        "Generative & special",
        "StyleGAN 2's convolution: a style vector w scales the kernel per input channel, and "
        "demodulation rescales each filter so the output keeps unit variance. The style acts "
        "on the weights rather than the data, which avoids the droplet artefacts of AdaIN; "
        "every sample in a batch gets its own kernel.",
        params=(
            Param("filters", "int", 32, help="Number of output channels.", min=1,
                  max=16384),
            Param("kernel", "int", 3, help="Kernel size K (square).", min=1, max=15),
            Param("padding", "int", "same", help="Zeros added on each side; 'same' keeps "
                  "the size (odd kernels).", min=0, max=15, special=("same",)),
            Param("demodulate", "bool", True, help="Divide each filter by its norm so "
                  "outputs keep unit variance (off for a toRGB layer)."),
            Param("bias", "bool", True, help="Learn an additive bias per filter."),
        ),
        inputs=(Port("x", help="Feature maps [C, H, W]."),
                Port("w", help="Style vector [D], e.g. from a mapping network.")),
        build=_modconv_build,
        shape=_modconv_shape,
        explain=_modconv_explain,
        flops=_modconv_flops,
        rf=lambda p: (p["kernel"], 1, 1),
        title="Modulated Conv2d",
        example_inputs=((8, 8, 8), (16,)),
        tags=("style",),
    ),
    BlockSpec(
        "NoiseInjection",
        "Generative & special",
        "Adds per-pixel Gaussian noise, scaled by a learned strength per channel. StyleGAN "
        "gives every resolution its own noise so that random detail (texture, exact edges) "
        "need not be invented from the code: the style sets the content, the noise the "
        "fine variation. Strength starts at 0, so a fresh block changes nothing.",
        params=(
            Param("mode", "choice", "const", choices=("const", "random", "none"),
                  help="The noise in eval (sampling, export): const a fixed map (repeatable, "
                  "exports exactly), random fresh noise, none no noise. Training always "
                  "draws fresh noise."),
        ),
        build=lambda p, ins: make(modules.NoiseInjection, *_image(ins[0], "NoiseInjection"),
                                  mode=p["mode"]),
        shape=lambda p, ins: [_image(ins[0], "NoiseInjection")],
        explain=_noise_explain,
        keeps_space=True,
        title="Noise injection",
        example_inputs=((8, 8, 8),),
    ),
    BlockSpec(
        "LearnedConstant",
        "Generative & special",
        "A learned tensor that is the same for every sample; its input only says how many "
        "samples there are. StyleGAN's synthesis network starts from a learned 4×4 "
        "constant instead of the code, and lets the styles do the rest.",
        params=(
            Param("shape", "ints", (64, 4, 4), help="Shape of the constant, e.g. "
                  "[channels, height, width].", min=1, max=65536, length=(1, 4)),
        ),
        inputs=(Port("x", ANY, help="Any input: only its batch size is used."),),
        build=lambda p, ins: make(modules.LearnedConstant, tuple(p["shape"])),
        shape=_constant_shape,
        explain=lambda p, ins, outs: (f"y = C for every sample, C a learned "
                                      f"{fmt_shape(outs[0])} tensor"),
        title="Learned constant",
        example_inputs=((16,),),
    ),
)
