"""Generative and special blocks: the VAE's reparameterisation trick and gradient reversal."""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.generative")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------


def _reparam_shape(p, ins):
    mu, logvar = ins
    check(mu == logvar, f"Reparameterize needs μ and log σ² of the same shape; received "
          f"μ {fmt_shape(mu)} and log σ² {fmt_shape(logvar)}")
    return [mu]


def _reparam_explain(p, ins, outs):
    n = fmt_shape(ins[0])
    return ("z = μ + exp(½·log σ²)·ε, ε ~ N(0, 1) while training; z = μ in eval\n"
            f"aux loss = {p['beta']:g} · mean over batch of Σ over {n} of "
            "−½·(1 + log σ² − μ² − σ²)")


register(
    BlockSpec(
        "Reparameterize",
        "Generative & special",
        "The heart of a variational autoencoder: it samples a latent code z from N(μ, σ²) "
        "as μ + σ·ε, so gradients can flow back into μ and σ. Its KL loss pulls each code "
        "distribution towards N(0, 1), which keeps the latent space smooth enough to sample.",
        params=(
            Param("beta", "float", 1.0, help="Weight β of the KL loss (β-VAE: larger = more "
                                             "disentangled, blurrier).", min=0.0, max=1000.0),
        ),
        inputs=(Port("mu", help="Mean μ of the latent code."),
                Port("logvar", help="Log-variance log σ² of the latent code.")),
        outputs=(Port("z", help="Sampled latent code (μ in eval mode)."),),
        build=lambda p, ins: make(modules.Reparameterize, p["beta"]),
        shape=_reparam_shape,
        explain=_reparam_explain,
        example_inputs=((16,), (16,)),
        has_weights=False,
        aux_loss=True,
        keeps_space=True,
    ),
    BlockSpec(
        "GradientReversal",
        "Generative & special",
        "Passes features through unchanged but flips (and scales by λ) the gradient flowing "
        "back. Placed before a domain classifier, it trains the feature extractor to make "
        "domains indistinguishable: domain-adversarial training (DANN).",
        params=(
            Param("lambd", "float", 1.0, help="λ: the backward gradient is multiplied by −λ.",
                  min=0.0, max=100.0),
        ),
        build=lambda p, ins: make(modules.GradientReversal, p["lambd"]),
        shape=lambda p, ins: [ins[0]],
        explain=lambda p, ins, outs: f"forward: y = x;  backward: ∂L/∂x = −{p['lambd']:g} · "
                                     "∂L/∂y",
        example_inputs=((32,),),
        has_weights=False,
        keeps_space=True,
        title="Gradient reversal",
    ),
)
