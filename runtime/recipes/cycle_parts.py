"""Pieces of the CycleGAN recipe that are not the step: its settings, the adversarial losses
on logit maps, the cycle and identity terms, and the history of past fakes (the image pool).

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from builder.blocks.spec import Param
from runtime.frechet_curves import quality_params
from runtime.recipes.base import RecipeError
from runtime.recipes.gan_parts import d_loss as bce_d_loss
from runtime.recipes.gan_parts import g_loss as bce_g_loss

__all__ = ["PARAMS", "ADVERSARIAL", "d_loss", "g_loss", "l1", "cycle_loss", "ImagePool",
           "as_rgb"]

ADVERSARIAL = ("least_squares", "bce")

PARAMS = (
    Param("field", "str", "x", help="The image field of both domains' datasets."),
    Param("loss", "choice", "least_squares", choices=ADVERSARIAL,
          help="least_squares: D pushes its scores of real images to 1 and of fakes to 0, "
               "G pushes the fakes' scores to 1, with squared errors (LSGAN, as the CycleGAN "
               "paper trains). bce: the usual GAN's binary cross-entropy on logits, with the "
               "non-saturating generator loss."),
    Param("cycle_weight", "float", 10.0, min=0.0, max=1000.0,
          help="λ_cyc: weight of the cycle-consistency loss |G_ba(G_ab(a)) − a|₁ + "
               "|G_ab(G_ba(b)) − b|₁ against the adversarial losses (the paper's 10)."),
    Param("identity_share", "float", 0.5, min=0.0, max=10.0,
          help="Weight of the identity loss |G_ba(a) − a|₁ + |G_ab(b) − b|₁ as a share of "
               "λ_cyc (the paper's 0.5: λ_id = 5); it keeps colours that need no change. "
               "0: off, two generator passes fewer per step."),
    Param("pool_size", "int", 50, min=0, max=1000,
          help="Past fakes kept per domain; the discriminators judge a mix of new and old "
               "fakes, so they do not chase the generators' latest trick (0: newest only)."),
    *quality_params("500 held-out translations A → B to real B images, and B → A to real "
                    "A images"),
)


# --- losses -------------------------------------------------------------------------------
# D's output may be one score per image or a PatchGAN map of scores [N, 1, h, w]: every loss
# here averages over all its elements, so each patch is one judgement.


def d_loss(kind: str, d_real: Tensor, d_fake: Tensor) -> Tensor:
    """One discriminator's loss, halved as in the paper (D then learns at half G's pace)."""
    if kind == "least_squares":
        return 0.5 * ((d_real - 1).square().mean() + d_fake.square().mean())
    return 0.5 * bce_d_loss("standard", d_real, d_fake)


def g_loss(kind: str, d_fake: Tensor) -> Tensor:
    """A generator's adversarial loss on D's scores of its fakes."""
    if kind == "least_squares":
        return (d_fake - 1).square().mean()
    return bce_g_loss("standard", d_fake)


def l1(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute difference over every pixel of the batch."""
    return (x.float() - y.float()).abs().mean()


def cycle_loss(a: Tensor, back_a: Tensor, b: Tensor, back_b: Tensor) -> Tensor:
    """|G_ba(G_ab(a)) − a|₁ + |G_ab(G_ba(b)) − b|₁, each a mean over its pixels."""
    return l1(back_a, a) + l1(back_b, b)


def per_image(x: Tensor, y: Tensor) -> Tensor:
    """Each image's mean absolute difference [N] (validation sums them)."""
    return (x.float() - y.float()).abs().flatten(1).mean(1)


# --- the image pool -----------------------------------------------------------------------


class ImagePool:
    """A history of ``size`` past fakes (Shrivastava et al. 2017; the CycleGAN paper keeps
    50).  While it fills, each new fake goes in and is returned; once full, each new fake is
    either returned as it is, or (with probability ½) swapped for a random stored one, which
    is returned while the new fake takes its place.  The coin flips come from a CPU
    generator of its own, so the choices are the same for a seed on any device, and its
    state is saved with the images: a resumed run draws what an unbroken one would."""

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: Tensor | None = None  # [size, C, H, W] once the first fakes arrive
        self.count = 0
        self.random = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def query(self, fakes: Tensor) -> Tensor:
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        if self.images is None:
            self.images = fakes.new_zeros((self.size, *fakes.shape[1:]))
        out = fakes.clone()
        for i in range(fakes.shape[0]):
            if self.count < self.size:
                self.images[self.count] = fakes[i]
                self.count += 1
            elif torch.rand((), generator=self.random) < 0.5:
                j = int(torch.randint(self.size, (), generator=self.random))
                out[i] = self.images[j]
                self.images[j] = fakes[i]
        return out

    def state_dict(self) -> dict[str, Any]:
        stored = None if self.images is None else self.images[:self.count].clone()
        return {"images": stored, "random": self.random.get_state()}

    def load_state_dict(self, state: Mapping[str, Any] | None, device: torch.device) -> None:
        if not state:  # a checkpoint from before the first step
            self.images, self.count = None, 0
            return
        self.random.set_state(state["random"])
        stored = state.get("images")
        if stored is None or self.size == 0:
            self.images, self.count = None, 0
            return
        if stored.shape[0] > self.size:
            raise RecipeError(f"the checkpoint's image pool holds {stored.shape[0]} fakes, "
                              f"more than pool_size {self.size}; set pool_size back")
        self.images = stored.new_zeros((self.size, *stored.shape[1:])).to(device)
        self.images[:stored.shape[0]] = stored.to(device)
        self.count = stored.shape[0]


# --- pictures -----------------------------------------------------------------------------


def as_rgb(images: Tensor, channels: int) -> Tensor:
    """Grey images repeated to ``channels`` (3) so that one grid can show both domains."""
    return images.expand(-1, channels, -1, -1) if images.shape[1] < channels else images
