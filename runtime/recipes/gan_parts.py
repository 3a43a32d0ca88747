"""Pieces of the GAN recipe that are not the step: the losses, WGAN-GP's gradient penalty,
an exponential moving average of a network's weights, and labels from a prompt.

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runtime.recipes.base import RecipeError, StepContext

__all__ = ["LOSSES", "d_loss", "g_loss", "gradient_penalty", "WeightAverage", "class_labels"]

LOSSES = ("standard", "wgan_gp")


def d_loss(kind: str, d_real: Tensor, d_fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """The discriminator's loss on raw scores (logits for ``standard``, critic values for
    ``wgan_gp``, which then still needs its gradient penalty)."""
    if kind == "wgan_gp":  # the critic widens the gap E[D(real)] − E[D(fake)]
        return d_fake.mean() - d_real.mean()
    ones = torch.full_like(d_real, 1.0 - smoothing)
    return (F.binary_cross_entropy_with_logits(d_real, ones)
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


def g_loss(kind: str, d_gen: Tensor) -> Tensor:
    if kind == "wgan_gp":
        return -d_gen.mean()
    # Non-saturating −log D(G(z)): strong gradients while D still wins easily.
    return F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))


def gradient_penalty(ctx: StepContext, judge: Callable[[Tensor], Tensor], real: Tensor,
                     fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): mean (‖∇ₓ D(x̂)‖₂ − 1)² over points x̂ drawn
    uniformly on the segments between real and fake samples.  Differentiable in D's
    weights (``ctx.gradients`` keeps the graph), so the critic's step minimises it."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, generator=generator)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = ctx.gradients(judge(mixed), mixed)
    # + tiny: the norm's own gradient is undefined at exactly zero
    norm = (grad.flatten(1).square().sum(1) + 1e-12).sqrt()
    return (norm - 1).square().mean()


class WeightAverage:
    """An exponential moving average of a module's weights (parameters and float buffers;
    integer buffers are copied).  The decay warms up as min(decay, (1 + t) / (10 + t)) at
    step t, so the average does not drag the first random weights along for thousands of
    steps; it starts as a copy of the weights at its first update."""

    def __init__(self, decay: float):
        self.decay = decay
        self.shadow: dict[str, Tensor] | None = None

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        state = module.state_dict()
        if self.shadow is None:
            self.shadow = {k: v.detach().clone() for k, v in state.items()}
            return
        rate = 1.0 - min(self.decay, (1 + step) / (10 + step))
        floats = [k for k, v in self.shadow.items() if v.is_floating_point()]
        torch._foreach_lerp_([self.shadow[k] for k in floats],
                             [state[k].detach() for k in floats], rate)
        for k, v in self.shadow.items():
            if not v.is_floating_point():
                v.copy_(state[k])

    def state(self) -> dict[str, Tensor]:
        return {k: v.detach().clone() for k, v in (self.shadow or {}).items()}

    def load(self, saved: Mapping[str, Any] | None, module: nn.Module,
             device: torch.device) -> None:
        """Take a saved average (None or empty: none yet), checked against ``module``."""
        if not saved:
            self.shadow = None
            return
        own = module.state_dict()
        if set(saved) != set(own) or any(
                tuple(saved[k].shape) != tuple(v.shape) for k, v in own.items()):
            raise RecipeError("the saved weight average does not fit the generator (was the "
                              "network changed since?)")
        self.shadow = {k: saved[k].to(device=device, dtype=own[k].dtype, copy=True)
                       for k in own}


def class_labels(n: int, prompt: str | None, classes: int, names: Sequence[str],
                 recipe: str) -> tuple[Tensor, list[str]]:
    """Labels for ``n`` conditional samples: 0, 1, … classes − 1 cyclically, or all the
    class ``prompt`` names (a class name, or its index); and their names."""
    names = list(names)[:classes] if len(names) >= classes else \
        [str(i) for i in range(classes)]
    if prompt is None:
        ids = torch.arange(n) % classes
    else:
        text = prompt.strip()
        folded = [c.casefold() for c in names]
        if text in names:
            index = names.index(text)
        elif text.casefold() in folded:
            index = folded.index(text.casefold())
        elif text.lstrip("-").isdigit() and 0 <= int(text) < classes:
            index = int(text)
        else:
            shown = ", ".join(names[:20]) + (f", … ({classes} in all)" if classes > 20 else "")
            raise RecipeError(f"recipe {recipe!r}: unknown class {prompt!r}; the classes are "
                              f"{shown} (or their index 0–{classes - 1})")
        ids = torch.full((n,), index, dtype=torch.long)
    return ids, [names[int(i)] for i in ids]
