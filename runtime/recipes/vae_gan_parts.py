"""Pieces of the VAE-GAN recipe that are not the step: reading a discriminator's features at
one of its layers, the feature-wise reconstruction loss, the plain VAE's pixel loss, a
sharpness figure for images and the picture of the two models side by side.

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runtime.events import Samples
from runtime.recipes.base import RecipeError, node_module

__all__ = ["FeatureTap", "feature_loss", "pixel_loss", "sharpness", "side_by_side"]


class FeatureTap:
    """The output of one canvas node of a network, kept by a forward hook at every call.

    A hook on the node's module works through whatever wraps the network for training (DDP,
    torch.compile), so the features keep their graph and their gradients reach the weights
    the usual way.  An inline operation (an Add) has no module to hook: name the layer
    before it."""

    def __init__(self, module: nn.Module, node: str, where: str):
        found = node_module(module, node, where)
        if found is None:
            raise RecipeError(f"{where}: node {node!r} is an operation without a module, "
                              "whose output cannot be read during training; name a layer or "
                              "an activation (e.g. the LeakyReLU after the last convolution)")
        self.node = node
        self.value: Tensor | None = None
        self._handle = found.register_forward_hook(self._keep)

    def _keep(self, module, args, output) -> None:
        self.value = output[0] if isinstance(output, (tuple, list)) else output

    def take(self) -> Tensor:
        """The features of the latest call (then forgotten, so a stale value never
        passes for a fresh one)."""
        value, self.value = self.value, None
        if value is None:
            raise RecipeError(f"node {self.node!r} of the discriminator was not run: it must "
                              "lie on the path from the image to the score")
        return value

    def remove(self) -> None:
        self._handle.remove()


def feature_loss(fake: Tensor, real: Tensor) -> Tensor:
    """Larsen et al.'s L_llike: ‖D_l(x) − D_l(x̃)‖² per sample (summed over the layer's
    values, the log-likelihood of a unit Gaussian up to ½ and a constant), averaged over
    the batch.  ``real`` is the target: no gradient flows into it."""
    diff = fake.float() - real.detach().float()
    return diff.flatten(1).square().sum(1).mean()


def pixel_loss(kind: str, out: Tensor, x: Tensor) -> Tensor:
    """The plain VAE's reconstruction per sample, summed over its values: squared error, or
    binary cross-entropy of pixels in [0, 1] (a decoder ending in a Sigmoid)."""
    out, x = out.float(), x.float()
    if kind == "bce":
        with torch.autocast(out.device.type, enabled=False):  # BCE refuses float16
            err = F.binary_cross_entropy(out.clamp(0, 1), x.clamp(0, 1), reduction="none")
    else:
        err = (out - x).square()
    return err.flatten(1).sum(1)


def sharpness(images: Tensor) -> Tensor:
    """Per image [N, C, H, W]: the root-mean-square difference between neighbouring pixels,
    across and down (the gradient's energy, a focus measure).  Blurring an edge spreads one
    jump over several smaller ones: their sum stays, their squares shrink, so a blurry image
    scores low and crisp strokes high."""
    x = images.float()
    across = (x[..., :, 1:] - x[..., :, :-1]).square().flatten(1).mean(1)
    down = (x[..., 1:, :] - x[..., :-1, :]).square().flatten(1).mean(1)
    return ((across + down) / 2).sqrt()


def side_by_side(rows: Sequence[tuple[str, Tensor]], step: int, epoch: int,
                 name: str = "VAE-GAN vs plain VAE") -> Samples:
    """One grid, a titled row per (title, images [cols, C, H, W] in [0, 1]), each title with
    its row's mean sharpness."""
    cols = min(len(images) for _, images in rows)
    shown = torch.cat([images[:cols].float() for _, images in rows])
    titles = [f"{title} · sharpness {float(sharpness(images[:cols]).mean()):.3f}"
              for title, images in rows]
    return Samples(step, epoch, name, "images", shown.clamp(0, 1).cpu().numpy(), None,
                   {"cols": cols, "rows": titles})
