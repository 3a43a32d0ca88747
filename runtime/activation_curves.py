"""The curve f(x) of an activation block and its derivative f'(x), for the inspector's plot.

The block's own module is built from its spec with the node's params (LeakyReLU's slope,
ELU's alpha, GELU's approximation…) and the derivative comes from autograd, so the picture is
exactly what the network computes.  Softmax-like blocks are not element-wise: their curve is
the first output for the input vector (x, 0, 0, 0), the other scores held at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from builder.blocks import REGISTRY

__all__ = ["Curve", "activation_blocks", "curve"]

_VECTOR = 4  # scores in the softmax input (x, 0, 0, 0)


@dataclass(frozen=True)
class Curve:
    x: np.ndarray
    y: np.ndarray  # f(x)
    dy: np.ndarray  # f'(x) (for a softmax: ∂ output 0 / ∂ x)
    note: str = ""  # how the curve was taken, when not simply element-wise


def activation_blocks() -> list[str]:
    """Every block type of the "Activations" category, in catalogue order."""
    return [t for t, s in REGISTRY.items() if s.category == "Activations"]


def curve(block: str, params: dict | None = None, lo: float = -4.0, hi: float = 4.0,
          n: int = 161) -> Curve:
    """``block``'s f and f' over ``n`` points of [lo, hi] with ``params`` (defaults for the
    missing ones).  ValueError for a block that is not an activation or for bad params."""
    spec = REGISTRY.get(block)
    if spec is None or spec.category != "Activations":
        raise ValueError(f"{block!r} is not an activation block; known: "
                         f"{', '.join(activation_blocks())}")
    values, errors = spec.coerce_params(params or {})
    if errors:
        raise ValueError(f"{block}: " + "; ".join(f"{k}: {m}" for k, m in errors))
    vector = "axis" in values  # Softmax, LogSoftmax: normalise over the last axis
    if vector:
        values["axis"] = -1
    shape = (_VECTOR,) if vector else (1,)
    module = spec.make(values, [shape], {"y"})().double().eval()
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    inp = torch.zeros(n, shape[0], dtype=torch.float64)
    inp[:, 0] = x
    inp.requires_grad_(True)
    y = module(inp)[:, 0]
    (grad,) = torch.autograd.grad(y.sum(), inp)  # sample i's output depends on its x only
    note = "first output for the scores (x, 0, 0, 0); f′ = ∂/∂x" if vector else ""
    return Curve(x.numpy(), y.detach().numpy(), grad[:, 0].numpy(), note)
