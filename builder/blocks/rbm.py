"""The restricted Boltzmann machine: a layer of a deep belief network, pre-trained with
contrastive divergence (``runtime/recipes/layerwise.py``) and used as a sigmoid layer."""

from __future__ import annotations

import math

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.rbm")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------


def _visible(ins) -> int:
    (x,) = ins
    check(len(x) >= 1 and isinstance(x[-1], int),
          f"RBM needs a known number of visible units on the last axis; received "
          f"{fmt_shape(x)} (add a Flatten before it for images)")
    return x[-1]


def _shape(p, ins):
    _visible(ins)
    return [(*ins[0][:-1], p["units"])]


def _explain(p, ins, outs):
    v, h = ins[0][-1], p["units"]
    return (f"p(h=1|v) = σ(W·v + b) with W of size {h}×{v}\n"
            f"pre-training: CD-k on F(v) = −cᵀv − Σ softplus(W·v + b)\n"
            f"params = {v}·{h} + {h} + {v} = {v * h + h + v:,}")


def _flops(p, ins, outs):
    lead = math.prod(d if isinstance(d, int) else 1 for d in ins[0][:-1])
    return 2 * lead * ins[0][-1] * p["units"]


register(
    BlockSpec(
        "RBM",
        "Generative & special",
        "A restricted Boltzmann machine: visible and hidden units joined by one weight "
        "matrix, no links within a layer. Pre-trained alone with contrastive divergence it "
        "learns features that let it reconstruct its input; stacked, each on the one below, "
        "RBMs form a deep belief network whose weights start a deep sigmoid network. In the "
        "network it is a sigmoid layer: p(h=1|v) = σ(Wv + b).",
        params=(
            Param("units", "int", 256, help="Number of hidden units.", min=1, max=1_000_000),
            Param("visible", "choice", "bernoulli", choices=("bernoulli", "gaussian"),
                  help="bernoulli: inputs in [0, 1] (pixels, the sigmoid units of an RBM "
                       "below); gaussian: real-valued standardised inputs."),
        ),
        build=lambda p, ins: make(modules.RBM, _visible(ins), p["units"],
                                  visible_type=p["visible"]),
        shape=_shape,
        explain=_explain,
        flops=_flops,
        example_inputs=((64,),),
        title="RBM",
    ),
)
