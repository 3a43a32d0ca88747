"""Pieces of the Imagen recipe that are not the step: its settings, the cascade's change of
resolution, and the noise-conditioning augmentation of the low-resolution image.

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.recipes.clip_parts import CLIP_BATCH, HARD_NEGATIVES
from runtime.recipes.diffusion_parts import SCHEDULES, Schedule, learning_params, shift_param

__all__ = ["PARAMS", "DENOISERS", "resize", "augment_steps", "augment", "fill"]

DENOISERS = ("base", "sr")  # the roles that learn to denoise, coarse first

PARAMS = (
    Param("field", "str", "x", help="The data field of the full-size images (pixels in "
                                    "[0, 1]: the dataset's normalize off). The base model's "
                                    "images are these, shrunk to its x_t's size."),
    Param("caption_field", "str", "caption",
          help="The data field of the captions (word ids) the text encoder reads."),
    Param("text_share", "float", 0.25, min=0.0, max=0.9,
          help="Share of the run's epochs in which the text encoder learns, as CLIP's text "
               "tower beside the image encoder; then it is frozen. 0: no such stage (start "
               "the text encoder from saved weights in the training settings' init)."),
    CLIP_BATCH,
    HARD_NEGATIVES,
    Param("timesteps", "int", 1000, min=2, max=10_000,
          help="T: steps of the noising chain (of both denoisers)."),
    Param("schedule", "choice", "cosine", choices=SCHEDULES,
          help="How β_t grows: linear (DDPM) or cosine (gentler on small images)."),
    shift_param("base_shift", "The base model's", " (2 at 16×16 against the chain the sr "
                "model keeps at 32×32)"),
    *learning_params("Each denoiser"),
    Param("sample_steps", "int", 25, min=1, max=10_000,
          help="Deterministic DDIM steps each denoiser takes when generating."),
    Param("guidance", "float", 3.0, min=0.0, max=20.0,
          help="Classifier-free guidance scale of the base model: 1 plain conditional "
               "sampling, more follows the prompt harder."),
    Param("sr_guidance", "float", 1.0, min=0.0, max=20.0,
          help="Guidance scale of the super-resolution model (1: one plain pass; the low "
               "image already says most of what to draw)."),
    Param("threshold", "float", 0.0, min=0.0, max=0.9999,
          help="Dynamic thresholding (Imagen) when generating: each step's estimate of the "
               "clean picture is scaled back into range by this quantile of its |pixels| "
               "(when above 1), not flattened at the range's edge, as strong guidance "
               "otherwise does; 0: clamp to the range (Imagen: 0.995)."),
    Param("p_uncond", "float", 0.1, min=0.0, max=0.9,
          help="Share of training samples whose text embedding is replaced by zeros, so "
               "that each denoiser also learns without it (needed for guidance)."),
    Param("aug_train", "float", 0.3, min=0.0, max=1.0,
          help="Noise-conditioning augmentation: in training the low image given to the "
               "super-resolution model is noised to a random step below this share of the "
               "chain, and the model is told which; it learns to forgive the base model's "
               "flaws."),
    Param("aug_sample", "float", 0.1, min=0.0, max=1.0,
          help="The augmentation step (a share of the chain) used when generating."),
    Param("sr_residual", "bool", False,
          help="The super-resolution model draws only what the enlarged low image lacks "
               "(the full-size image minus the low one enlarged bilinearly: edges and "
               "grain), which is added back; off: it draws the whole image, as Imagen's."),
    Param("sr_share", "float", 1.0, min=0.05, max=1.0,
          help="Share of each batch the super-resolution model learns from (the base model "
               "learns from all of it). Given the low image its task is the easier one, yet "
               "a step of it costs as much as the base model's: a smaller share spends the "
               "time on the base model, as Imagen gives each model of its cascade its own "
               "budget."),
    Param("ema", "float", 0.999, min=0.0, max=0.99999,
          help="Decay of the weight averages that images are generated with; 0: the "
               "weights as they are."),
    Param("prompt_accuracy", "bool", True,
          help="On the shapes data: at each validation, generate two images per evaluation "
               "prompt through the whole cascade and report how many have the shape and "
               "colour asked."),
)


def resize(x: Tensor, side: int) -> Tensor:
    """Images [N, C, H, W] at ``side`` × ``side``: area averaging down (each low pixel the
    mean of the pixels it covers), bilinear up, unchanged at the same size."""
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    if side < x.shape[-1]:
        return F.interpolate(x, size=(side, side), mode="area")
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


def augment_steps(share: float, chain: Schedule, n: int, device: torch.device,
                  generator: torch.Generator | None) -> Tensor:
    """[n] steps drawn uniformly below ``share`` of the chain (at least step 0)."""
    top = max(1, round(share * chain.steps))
    return torch.randint(0, top, (n,), device=device, generator=generator)


def augment(low: Tensor, steps: Tensor, chain: Schedule,
            generator: torch.Generator | None) -> Tensor:
    """The low image noised to ``steps`` by the forward process, as Imagen's super-resolution
    models see their condition: x_s = √ᾱ_s low + √(1 − ᾱ_s) ε."""
    noise = torch.randn(low.shape, device=low.device, generator=generator)
    return chain.noisy(low, steps, noise)


def fill(values: Tensor, shape: tuple) -> Tensor:
    """Per-sample numbers [N] (steps) shaped as an Input of ``shape`` ([] or [1]) wants them."""
    return values.float().view(-1, *(1,) * len(shape)).expand(-1, *shape)
