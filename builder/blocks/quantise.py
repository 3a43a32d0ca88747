"""Quantisation: the vector quantiser of a VQ-VAE (a learned codebook of K vectors)."""

from __future__ import annotations

import math

from builder.blocks.lazy import lazy
from builder.blocks.spec import INDEX, BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
modules = lazy("builder.blocks.modules.quantise")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------


def _split(ins) -> tuple[int, tuple, int]:
    """(vector size D, the positions' shape, the vector axis of the batched tensor): images
    [D, H, W] keep D first, as convolutions do; sequences [T, D] and vectors [D] last."""
    shape = tuple(ins[0])
    check(1 <= len(shape) <= 3, f"VectorQuantiser takes image latents [D, H, W], a sequence "
          f"[T, D] or one vector [D]; received {fmt_shape(shape)}")
    if len(shape) == 3:
        dim, positions, axis = shape[0], shape[1:], 1
    else:
        dim, positions, axis = shape[-1], shape[:-1], -1
    check(isinstance(dim, int), f"VectorQuantiser needs a fixed vector size D; received "
          f"{fmt_shape(shape)}")
    return dim, positions, axis


def _shape(p, ins):
    _, positions, _ = _split(ins)
    return [tuple(ins[0]), positions]


def _build(p, ins):
    dim, _, axis = _split(ins)
    return make(modules.VectorQuantiser, p["codes"], dim, beta=p["beta"], axis=axis,
                restart_after=p["restart_after"])


def _flops(p, ins, outs):
    """The distances' matmul, 2·D·K per position (the argmin and lookup count as none); a
    symbolic length counts as one step, as Linear counts it."""
    dim, positions, _ = _split(ins)
    return 2 * dim * p["codes"] * math.prod(d if isinstance(d, int) else 1 for d in positions)


def _explain(p, ins, outs):
    dim, positions, _ = _split(ins)
    k = p["codes"]
    if not positions:
        where = "one vector"
    elif all(isinstance(d, int) for d in positions):
        n = math.prod(positions)
        where = f"{n:,} position{'s' if n != 1 else ''} ({'×'.join(map(str, positions))})"
    else:
        where = f"each position of {fmt_shape(positions)}"
    restart = (f"\na code no position chose for {p['restart_after']} batches restarts on an "
               "encoder output" if p["restart_after"] else "")
    return (f"{where}: x ∈ ℝ^{dim} → nearest of {k} codes e_k (argmin ‖x − e_k‖²), codebook "
            f"{k}×{dim} = {k * dim:,} numbers; y = x + sg[e_k − x] (straight-through)\n"
            f"aux loss = ‖sg[x] − e_k‖² + {p['beta']:g}·‖x − sg[e_k]‖² (means){restart}")


register(
    BlockSpec(
        "VectorQuantiser",
        "Generative & special",
        "Snaps each latent vector to the nearest of K learned code vectors, so an image "
        "becomes a small map of integers, like words in a sentence. The snapping has no "
        "gradient, so training pretends it is the identity (straight-through) and adds two "
        "losses: one pulls the chosen codes towards the encoder's vectors, the other (β) "
        "keeps the encoder close to its codes. Codes nobody chooses are wasted; restarting "
        "them on real encoder outputs keeps the whole codebook in use.",
        params=(
            Param("codes", "int", 64, help="K: the number of code vectors in the codebook.",
                  min=2, max=65_536),
            Param("beta", "float", 0.25, help="β: weight of the commitment loss that keeps "
                                              "the encoder near its codes.", min=0.0,
                  max=100.0),
            Param("restart_after", "int", 20, min=0, max=1_000_000,
                  help="A code no position chose for this many training batches moves onto "
                       "a random encoder output (0: never; collapse then shows in the "
                       "usage)."),
        ),
        inputs=(Port("x", help="Latents: [D, H, W] (D first, like a convolution's output), "
                               "[T, D] or [D]."),),
        outputs=(Port("y", help="The quantised latents, the shape of x."),
                 Port("codes", INDEX, help="The chosen code per position: [H, W], [T] or "
                                           "one id.")),
        build=_build,
        shape=_shape,
        flops=_flops,
        explain=_explain,
        example_inputs=((16, 4, 4),),
        aux_loss=True,
        keeps_space=True,
        title="Vector quantiser",
    ),
)
