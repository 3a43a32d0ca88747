"""Regularization blocks: dropout variants, input-corruption noise, and activity penalties.

Noise and dropout act only while training (``self.training``) and are the identity in eval
mode.  ActivitySparsity and ActivityL1 pass their input through unchanged and leave a weighted
penalty in ``self.aux_loss`` after every forward, which the trainer adds to the loss.
"""

from __future__ import annotations

import math

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")
modules = lazy("builder.blocks.modules.regularization")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------


def _same(p, ins):
    return [ins[0]]


def _image(p, ins):
    (x,) = ins
    check(len(x) == 3, "Dropout2d drops whole feature maps, so it needs an image [C, H, W] per "
          f"sample; received {fmt_shape(x)} (use Dropout for other shapes)")
    return [x]


def _dropout2d_build(p, ins):
    _image(p, ins)
    return make(nn.Dropout2d, p["p"])


def _units(x) -> str:
    if not x:
        return "1 unit"
    if all(isinstance(d, int) for d in x):
        return f"{math.prod(x):,} units"
    return f"{'×'.join(str(d) for d in x)} units"


# --- explain ------------------------------------------------------------------------------


def _dropout_explain(p, ins, outs):
    q = p["p"]
    scale = f"{1 / (1 - q):.4g}" if q < 1 else "∞"
    return (f"training: each value kept with probability {1 - q:g} and scaled by "
            f"1/(1 − {q:g}) = {scale}, else 0\nevaluation: y = x")


def _sparsity_explain(p, ins, outs):
    rho = p["rho"]
    return ("KL(ρ‖ρ̂) = ρ log ρ/ρ̂ + (1−ρ) log (1−ρ)/(1−ρ̂)\n"
            f"aux loss = {p['beta']:g} · Σⱼ KL({rho:g} ‖ ρ̂ⱼ) over {_units(ins[0])}, ρ̂ⱼ = unit j's "
            "mean activation over the batch; y = x")


_P = Param("p", "float", 0.5, help="Probability of dropping each value.", min=0.0, max=0.95)
_ELEMENTWISE = dict(shape=_same, has_weights=False, keeps_space=True, example_inputs=((64,),))

register(
    BlockSpec(
        "Dropout",
        "Regularization",
        "While training, zeroes each value with probability p and scales the survivors by "
        "1/(1 − p), so no unit can rely on any other: like training many thinned networks and "
        "averaging them. In evaluation it does nothing.",
        params=(_P,),
        build=lambda p, ins: make(nn.Dropout, p["p"]),
        explain=_dropout_explain,
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "Dropout2d",
        "Regularization",
        "Dropout for convolutional feature maps: drops whole channels at once, because "
        "neighbouring pixels of one map are so correlated that dropping single pixels hardly "
        "regularises.",
        params=(Param("p", "float", 0.2, help="Probability of dropping each channel.", min=0.0,
                      max=0.95),),
        build=_dropout2d_build,
        shape=_image,
        explain=lambda p, ins, outs: _dropout_explain(p, ins, outs).replace(
            "each value", f"each of the {ins[0][0]} channels"),
        title="Dropout 2D (channels)",
        has_weights=False,
        keeps_space=True,
        example_inputs=((16, 8, 8),),
    ),
    BlockSpec(
        "AlphaDropout",
        "Regularization",
        "The dropout to pair with SELU: dropped values are set to SELU's negative saturation "
        "value and the result is rescaled and shifted so the mean and variance stay the same, "
        "keeping the network self-normalising.",
        params=(Param("p", "float", 0.1, help="Probability of dropping each value.", min=0.0,
                      max=0.95),),
        build=lambda p, ins: make(nn.AlphaDropout, p["p"]),
        explain=lambda p, ins, outs: (
            f"training: each value dropped with probability {p['p']:g} to −λα ≈ −1.758, then "
            "y = a·x + b with a, b keeping the mean and variance unchanged\nevaluation: y = x"),
        title="Alpha dropout",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "GaussianNoise",
        "Regularization",
        "Adds random normal noise to every value while training, so the network must be robust "
        "to small perturbations of its input or features; a denoising autoencoder's "
        "corruption. In evaluation it does nothing.",
        params=(Param("sigma", "float", 0.1, help="Standard deviation σ of the noise.",
                      min=0.0, max=100.0),),
        build=lambda p, ins: make(modules.GaussianNoise, p["sigma"]),
        explain=lambda p, ins, outs: f"training: y = x + ε, ε ~ N(0, {p['sigma']:g}²)\n"
                                     "evaluation: y = x",
        title="Gaussian noise",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "MaskingNoise",
        "Regularization",
        "Sets a random fraction of the inputs to 0 while training, without rescaling the rest: "
        "the corruption of a denoising autoencoder, which must then fill in what is missing. "
        "In evaluation it does nothing.",
        params=(Param("fraction", "float", 0.25, help="Fraction of values set to 0.", min=0.0,
                      max=1.0),),
        build=lambda p, ins: make(modules.MaskingNoise, p["fraction"]),
        explain=lambda p, ins, outs: f"training: y = x · m, m = 0 with probability "
                                     f"{p['fraction']:g}, else 1 (no rescaling)\n"
                                     "evaluation: y = x",
        title="Masking noise",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "SaltPepperNoise",
        "Regularization",
        "Sets a random fraction of the inputs to the extreme values while training, half to "
        "the low value (pepper) and half to the high value (salt): a denoising autoencoder's "
        "corruption for images in [low, high]. In evaluation it does nothing.",
        params=(
            Param("fraction", "float", 0.1, help="Fraction of values replaced.", min=0.0,
                  max=1.0),
            Param("low", "float", 0.0, help="Value of the 'pepper' half.", min=-1e6, max=1e6),
            Param("high", "float", 1.0, help="Value of the 'salt' half.", min=-1e6, max=1e6),
        ),
        build=lambda p, ins: make(modules.SaltPepperNoise, p["fraction"], p["low"], p["high"]),
        explain=lambda p, ins, outs: (
            f"training: each value becomes {p['low']:g} with probability {p['fraction'] / 2:g}, "
            f"{p['high']:g} with probability {p['fraction'] / 2:g}, else stays x\n"
            "evaluation: y = x"),
        title="Salt-and-pepper noise",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "ActivitySparsity",
        "Regularization",
        "The sparse autoencoder's penalty: passes its input through and adds β times the KL "
        "divergence between a small target ρ and each unit's mean activation over the batch, "
        "so each unit fires only rarely. Expects sigmoid-like activations in (0, 1): place it "
        "right after a Sigmoid.",
        params=(
            Param("rho", "float", 0.05, help="Target mean activation ρ of each unit.",
                  min=0.001, max=0.999),
            Param("beta", "float", 3.0, help="Weight β of the penalty in the loss.", min=0.0,
                  max=1000.0),
        ),
        build=lambda p, ins: make(modules.ActivitySparsity, p["rho"], p["beta"]),
        explain=_sparsity_explain,
        title="Sparsity (KL)",
        aux_loss=True,
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "ActivityL1",
        "Regularization",
        "Passes its input through and adds λ times the mean absolute activation to the loss, "
        "pushing most activations to exactly 0: a sparse code, e.g. in a sparse autoencoder "
        "with ReLU units.",
        params=(Param("weight", "float", 0.01, help="Weight λ of the penalty in the loss.",
                      min=0.0, max=1000.0),),
        build=lambda p, ins: make(modules.ActivityL1, p["weight"]),
        explain=lambda p, ins, outs: f"aux loss = {p['weight']:g} · mean |x| over the batch and "
                                     f"{_units(ins[0])}; y = x",
        title="Activity L1",
        aux_loss=True,
        **_ELEMENTWISE,
    ),
)
