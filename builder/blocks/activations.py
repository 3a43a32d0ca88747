"""Activation blocks: the element-wise non-linearities between layers, softmax, and PReLU."""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")

__all__: list[str] = []

# Every block here is a torch.nn class: no custom modules to copy into generated code.


# --- shape helpers ------------------------------------------------------------------------


def _same(p, ins):
    return [ins[0]]


def _axis_dim(p, ins, block: str) -> int:
    """The torch ``dim`` (batch axis included) for the per-sample ``axis`` param."""
    (x,) = ins
    axis = p["axis"]
    check(len(x) >= 1, f"{block} needs at least one axis to normalise over; received a single "
          "number per sample, so it would mix the samples of the batch")
    check(-len(x) <= axis < len(x),
          f"{block}: axis {axis} does not exist in a per-sample shape {fmt_shape(x)}")
    return axis + 1 if axis >= 0 else axis


def _axis_shape(p, ins, block: str):
    _axis_dim(p, ins, block)
    return [ins[0]]


def _prelu_count(p, ins) -> int:
    (x,) = ins
    if not p["per_channel"]:
        return 1
    check(len(x) >= 1, "PReLU per channel needs a channel axis; received a single number per "
          "sample")
    check(isinstance(x[0], int), f"PReLU per channel needs a known channel count on axis 0; "
          f"received {fmt_shape(x)}")
    return x[0]


def _prelu_shape(p, ins):
    _prelu_count(p, ins)
    return [ins[0]]


# --- explain ------------------------------------------------------------------------------


def _softmax_explain(p, ins, outs, log: bool):
    x, axis = ins[0], p["axis"]
    n = x[axis] if -len(x) <= axis < len(x) else "?"
    if log:
        return (f"LogSoftmax(x)ᵢ = xᵢ − log Σⱼ exp(xⱼ) over axis {p['axis']} ({n} values); "
                "computed stably, unlike log(softmax(x))")
    return (f"softmax(x)ᵢ = exp(xᵢ) / Σⱼ exp(xⱼ) over axis {p['axis']} ({n} values)\n"
            "outputs are positive and sum to 1")


def _prelu_explain(p, ins, outs):
    n = _prelu_count(p, ins)
    who = f"one learned aᶜ per channel ({n} values)" if p["per_channel"] else \
        "one learned a shared by all units"
    return f"PReLU(x) = x if x > 0 else a·x, {who}, starting at a = {p['init']:g}"


def _gelu_explain(p, ins, outs):
    if p["approximate"] == "tanh":
        return "GELU(x) ≈ 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))"
    return "GELU(x) = x·Φ(x), Φ the standard normal CDF (x times P(Z ≤ x))"


_ELEMENTWISE = dict(shape=_same, has_weights=False, keeps_space=True, example_inputs=((16,),))

register(
    BlockSpec(
        "ReLU",
        "Activations",
        "The rectified linear unit keeps positive values and zeroes the rest. Its gradient is "
        "exactly 1 for active units, so deep stacks train far better than with sigmoid or tanh; "
        "but a unit whose input stays negative gets no gradient at all and may 'die'.",
        build=lambda p, ins: make(nn.ReLU),
        explain=lambda p, ins, outs: "ReLU(x) = max(0, x); gradient 1 if x > 0 else 0",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "LeakyReLU",
        "Activations",
        "A ReLU that lets a small slope α through for negative inputs, so no unit ever has a "
        "zero gradient everywhere: the usual cure for dying ReLUs, and the standard choice in "
        "GAN discriminators (α = 0.2).",
        params=(
            Param("alpha", "float", 0.01, help="Slope α for negative inputs.", min=0.0,
                  max=1.0),
        ),
        build=lambda p, ins: make(nn.LeakyReLU, negative_slope=p["alpha"]),
        explain=lambda p, ins, outs: f"LeakyReLU(x) = x if x > 0 else {p['alpha']:g}·x",
        title="Leaky ReLU",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "ELU",
        "Activations",
        "The exponential linear unit is the identity for positive inputs and bends smoothly "
        "towards −α for negative ones. Negative outputs pull the mean activation towards zero, "
        "which speeds up learning, and units never die.",
        params=(
            Param("alpha", "float", 1.0, help="Value −α that negative inputs saturate towards.",
                  min=0.0, max=10.0),
        ),
        build=lambda p, ins: make(nn.ELU, alpha=p["alpha"]),
        explain=lambda p, ins, outs: f"ELU(x) = x if x > 0 else {p['alpha']:g}·(eˣ − 1)",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "SELU",
        "Activations",
        "The scaled ELU, with two constants chosen so that activations drift towards mean 0 and "
        "variance 1 layer after layer: a self-normalising network without BatchNorm. It needs "
        "LeCun-normal weights and AlphaDropout instead of Dropout.",
        build=lambda p, ins: make(nn.SELU),
        explain=lambda p, ins, outs: "SELU(x) = λ·x if x > 0 else λ·α·(eˣ − 1), "
                                     "λ ≈ 1.0507, α ≈ 1.6733",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "GELU",
        "Activations",
        "The Gaussian error linear unit weights each input by the probability that a standard "
        "normal variable is smaller than it: a smooth ReLU, used in Transformers (BERT, GPT).",
        params=(
            Param("approximate", "choice", "none", choices=("none", "tanh"),
                  help="'tanh' uses the faster tanh approximation of the normal CDF."),
        ),
        build=lambda p, ins: make(nn.GELU, approximate=p["approximate"]),
        explain=_gelu_explain,
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "SiLU",
        "Activations",
        "The sigmoid linear unit (Swish) multiplies the input by its own sigmoid: smooth, "
        "slightly negative for small negative inputs, and found to train deep networks well "
        "(EfficientNet, diffusion U-Nets).",
        build=lambda p, ins: make(nn.SiLU),
        explain=lambda p, ins, outs: "SiLU(x) = x·σ(x) = x / (1 + e⁻ˣ)",
        title="SiLU (Swish)",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "Sigmoid",
        "Activations",
        "Squashes any number into (0, 1): a probability for binary outputs, or a gate. Its "
        "slope is at most 0.25 and nearly 0 when saturated, so gradients shrink through every "
        "sigmoid layer: the vanishing-gradient problem of deep sigmoid networks.",
        build=lambda p, ins: make(nn.Sigmoid),
        explain=lambda p, ins, outs: "σ(x) = 1 / (1 + e⁻ˣ); σ′(x) = σ(x)·(1 − σ(x)) ≤ 0.25",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "Tanh",
        "Activations",
        "Squashes any number into (−1, 1), centred on zero, which makes it easier to train "
        "than the sigmoid; it still saturates for large inputs, so gradients vanish in deep "
        "stacks. The classic RNN activation and a GAN generator's output layer.",
        build=lambda p, ins: make(nn.Tanh),
        explain=lambda p, ins, outs: "tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ); tanh′(x) = 1 − "
                                     "tanh²(x) ≤ 1",
        **_ELEMENTWISE,
    ),
    BlockSpec(
        "Softmax",
        "Activations",
        "Turns a vector of scores (logits) into a probability distribution: positive numbers "
        "summing to 1, the largest score getting the largest share. For training a classifier "
        "feed the raw logits to the cross-entropy loss instead; it includes the softmax.",
        params=(
            Param("axis", "int", -1, help="Axis of one sample to normalise over (-1 = last).",
                  min=-4, max=3),
        ),
        build=lambda p, ins: make(nn.Softmax, dim=_axis_dim(p, ins, "Softmax")),
        shape=lambda p, ins: _axis_shape(p, ins, "Softmax"),
        explain=lambda p, ins, outs: _softmax_explain(p, ins, outs, False),
        has_weights=False,
        keeps_space=True,
        example_inputs=((10,),),
    ),
    BlockSpec(
        "LogSoftmax",
        "Activations",
        "The logarithm of the softmax, computed in one numerically stable step: log "
        "probabilities, as the negative log-likelihood loss expects.",
        params=(
            Param("axis", "int", -1, help="Axis of one sample to normalise over (-1 = last).",
                  min=-4, max=3),
        ),
        build=lambda p, ins: make(nn.LogSoftmax, dim=_axis_dim(p, ins, "LogSoftmax")),
        shape=lambda p, ins: _axis_shape(p, ins, "LogSoftmax"),
        explain=lambda p, ins, outs: _softmax_explain(p, ins, outs, True),
        title="Log softmax",
        has_weights=False,
        keeps_space=True,
        example_inputs=((10,),),
    ),
    BlockSpec(
        "PReLU",
        "Activations",
        "A leaky ReLU whose negative slope a is learned by gradient descent, either one slope "
        "for the whole layer or one per channel (He et al., 2015).",
        params=(
            Param("per_channel", "bool", False,
                  help="Learn one slope per channel (axis 0) instead of one for all."),
            Param("init", "float", 0.25, help="Starting value of the slope a.", min=0.0,
                  max=1.0),
        ),
        build=lambda p, ins: make(nn.PReLU, num_parameters=_prelu_count(p, ins),
                                  init=p["init"]),
        shape=_prelu_shape,
        explain=_prelu_explain,
        keeps_space=True,
        example_inputs=((8, 6, 6),),
    ),
)
