"""Pieces of the DALL·E 2 recipe that are not the step: its settings and the diffusion prior's
arithmetic over embedding vectors.

The prior diffuses CLIP image embeddings, which are unit vectors: each of E numbers is about
1/√E, far below the noise's unit scale.  As in the public re-implementations of DALL·E 2, the
prior works on the embedding times √E (numbers of about unit size) and predicts the clean
vector ẑ_0 itself, as the paper's prior does, rather than the noise; the samplers of
``diffusion_parts`` step with ε, which follows from x_t and ẑ_0.

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.recipes.clip_parts import CLIP_BATCH, HARD_NEGATIVES
from runtime.recipes.diffusion_parts import SCHEDULES, Schedule, learning_params, shift_param

__all__ = ["PARAMS", "DENOISERS", "embedding_scale", "eps_from_x0", "nearest_candidate"]

DENOISERS = ("prior", "decoder")  # the roles that learn in the second stage

PARAMS = (
    Param("field", "str", "x", help="The data field of the images (pixels in [0, 1]: the "
                                    "dataset's normalize off)."),
    Param("caption_field", "str", "caption",
          help="The data field of the captions (word ids) the text encoder reads."),
    Param("clip_share", "float", 0.25, min=0.0, max=0.9,
          help="Share of the run's epochs in which the two encoders learn as CLIP; then "
               "both are frozen and the prior and decoder learn. 0: no such stage (start "
               "the encoders from saved weights in the training settings' init)."),
    CLIP_BATCH,
    HARD_NEGATIVES,
    Param("timesteps", "int", 1000, min=2, max=10_000,
          help="T: steps of the noising chain (of the prior and the decoder)."),
    Param("schedule", "choice", "cosine", choices=SCHEDULES,
          help="How β_t grows: linear (DDPM) or cosine (gentler on small images)."),
    *learning_params("The decoder (the prior predicts the embedding itself)"),
    shift_param("decoder_shift", "The decoder's", " (at 32×32 a shift of 2 cost the "
                "placement: sampling starts from pure noise where the shifted chain still "
                "holds 12% of the picture; the prior's chain stays plain)"),
    Param("sample_steps", "int", 25, min=1, max=10_000,
          help="Deterministic DDIM steps the prior and the decoder each take."),
    Param("guidance", "float", 3.0, min=0.0, max=20.0,
          help="Classifier-free guidance scale of the decoder: 1 plain conditional "
               "sampling, more follows the image embedding harder."),
    Param("prior_guidance", "float", 1.0, min=0.0, max=20.0,
          help="Guidance scale of the prior (1: one plain pass)."),
    Param("candidates", "int", 2, min=1, max=64,
          help="Image embeddings the prior draws per picture; the one nearest the text "
               "embedding is decoded (DALL·E 2 draws two)."),
    Param("p_uncond", "float", 0.1, min=0.0, max=0.9,
          help="Share of training samples whose condition (the text embedding for the prior, "
               "the image embedding for the decoder) is replaced by zeros, so that both also "
               "learn without it (needed for guidance)."),
    Param("caption_drop", "float", 0.5, min=0.0, max=0.9,
          help="When the decoder reads the caption too (the frozen encoder's words through "
               "a tokens Input, or the word ids through an Input of the captions: DALL·E 2's "
               "decoder keeps GLIDE's text pathway): the share of training samples without "
               "it, so that it also draws from the image embedding alone (variations)."),
    Param("ema", "float", 0.999, min=0.0, max=0.99999,
          help="Decay of the weight averages that pictures are made with; 0: the weights as "
               "they are."),
    Param("prompt_accuracy", "int", 250, min=0, max=1_000_000,
          help="On the shapes data, at the first validation after every this many steps: "
               "generate two images per evaluation prompt and report the share with the "
               "colour and shape asked (also in `layerloom sample`); 0: never."),
)


def embedding_scale(width: int) -> float:
    """√E: a unit embedding times this has numbers of about unit size, like the noise."""
    return math.sqrt(width)


def eps_from_x0(x: Tensor, t: Tensor, x0: Tensor, chain: Schedule) -> Tensor:
    """The noise ε that x_t = √ᾱ_t x̂_0 + √(1 − ᾱ_t) ε implies, per sample's step ``t``."""
    bar = chain.alpha_bar[t].view(-1, *(1,) * (x.dim() - 1))
    return (x - bar.sqrt() * x0) / (1 - bar).sqrt()


def nearest_candidate(drawn: Tensor, text: Tensor) -> Tensor:
    """Of ``drawn`` [N, K, E] (K embeddings per picture), the one of each picture with the
    highest cosine to its text embedding ``text`` [N, E]: [N, E]."""
    cosine = (F.normalize(drawn, dim=-1) * F.normalize(text, dim=-1)[:, None]).sum(-1)
    best = cosine.argmax(1)
    return drawn[torch.arange(len(drawn), device=drawn.device), best]
