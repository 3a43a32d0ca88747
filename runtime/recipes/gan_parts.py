"""Pieces of the GAN recipe that are not the step: its settings, the losses, WGAN's weight
clipping and WGAN-GP's gradient penalty, an exponential moving average of a network's
weights, a running mean of the discriminator's recent beliefs, labels from a prompt, and the
pictures that are not images (D's landscape over the plane).

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from builder.blocks.spec import Param
from runtime.events import Samples
from runtime.recipes.base import RecipeError, StepContext, eval_mode
from runtime.recipes.supervised import plane_grid

__all__ = ["LOSSES", "CRITICS", "PARAMS", "d_loss", "g_loss", "clip_weights",
           "gradient_penalty", "r1_penalty", "WeightAverage", "run_generator", "Recent",
           "class_names", "class_labels", "landscape", "patch_scores", "per_sample"]

LOSSES = ("standard", "minimax", "wgan", "wgan_gp")
CRITICS = ("wgan", "wgan_gp")  # D is a critic: raw scores, no sigmoid, no probabilities

PARAMS = (
    Param("field", "str", "x", help="The data field the generator imitates."),
    Param("loss", "choice", "standard", choices=LOSSES,
          help="standard: D classifies real/fake, G maximises log D(G(z)) (the usual "
               "choice). minimax: G minimises log(1 − D(G(z))), the original game; it "
               "stalls early, when D rejects every fake (shown for teaching). wgan: D is a "
               "critic estimating the Wasserstein distance, weights clipped to ±clip; "
               "steadier, use RMSprop and d_steps 5. wgan_gp: the critic kept smooth by "
               "a gradient penalty instead; the most robust, use Adam β=(0.5, 0.9) and "
               "d_steps 5."),
    Param("d_steps", "int", 1, min=1, max=10,
          help="Discriminator (critic) updates per generator update (n_critic); 5 for "
               "wgan and wgan_gp."),
    Param("clip", "float", 0.01, min=1e-4, max=1.0,
          help="wgan: every weight of the critic is clipped to [−clip, clip] after each "
               "critic step (Arjovsky et al. use 0.01)."),
    Param("label_smoothing", "float", 0.0, min=0.0, max=0.3,
          help="standard, minimax: train D towards 1 − this on real data (one-sided)."),
    Param("gp_weight", "float", 10.0, min=0.0, max=1000.0,
          help="wgan_gp: λ of the penalty λ·(‖∇D(x̂)‖ − 1)² on random points x̂ between "
               "real and fake samples; 10 for images, about 0.1 for 2-D toy data."),
    Param("r1", "float", 0.0, min=0.0, max=1000.0,
          help="standard and minimax (not the critics): γ of the R1 penalty γ/2·‖∇D(x)‖² "
               "on the real samples (Mescheder et al. 2018; StyleGAN's regulariser): D stays "
               "flat around the data, so it cannot push G back and forth; 0 turns it off."),
    Param("ema", "float", 0.0, min=0.0, max=0.99999,
          help="Decay of a moving average of the generator's weights (e.g. 0.999; 0: "
               "off). Samples come from the average: smoother than the last step's."),
    Param("categorical_codes", "int", 0, min=0, max=1000,
          help="InfoGAN: K values of a categorical code fed one-hot to the generator's "
               "Input with source 'recipe' and field c_cat (0: off)."),
    Param("continuous_codes", "int", 0, min=0, max=100,
          help="InfoGAN: M continuous codes ~ U(−1, 1) fed to the generator's Input "
               "with field c_cont (0: off)."),
    Param("info_weight", "float", 1.0, min=0.0, max=100.0,
          help="InfoGAN: λ of Q's code loss CE + ½·MSE, added to both networks' losses."),
    Param("q_output", "str", "q",
          help="InfoGAN: the discriminator's Output with Q's K logits then M means."),
    Param("quality", "bool", True,
          help="Images: with every picture, the Fréchet distance to the data, the diversity "
               "and the classes a judge (a small classifier of the data, trained once) "
               "sees among 500 fakes, with warnings of a mode collapse or of a "
               "discriminator that wins outright."),
)


def d_loss(kind: str, d_real: Tensor, d_fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """The discriminator's loss on raw scores (logits, or critic values for the Wasserstein
    losses, which then still need their clipping or gradient penalty)."""
    if kind in CRITICS:  # the critic widens the gap E[D(real)] − E[D(fake)]
        return d_fake.mean() - d_real.mean()
    ones = torch.full_like(d_real, 1.0 - smoothing)
    return (F.binary_cross_entropy_with_logits(d_real, ones)
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


def g_loss(kind: str, d_gen: Tensor) -> Tensor:
    """The generator's loss on D's raw scores of its fakes."""
    if kind in CRITICS:
        return -d_gen.mean()
    if kind == "minimax":
        # The original game: minimise log(1 − σ(l)) = −softplus(l), finite for any logit.
        # Its gradient σ(l) vanishes while D rejects the fakes confidently (it saturates).
        return -F.softplus(d_gen).mean()
    # Non-saturating −log σ(l) = softplus(−l): strong gradients while D still wins easily.
    return F.softplus(-d_gen).mean()


def patch_scores(raw: Tensor) -> Tensor:
    """D's raw output as scores: a vector [n, 1] gives one per sample [n] (its first value);
    a map [n, 1, h, w] (PatchGAN: each logit judges one patch of the input) gives all of
    them, [n, h·w], which the losses then average over."""
    n = raw.shape[0]
    return raw.reshape(n, -1) if raw.dim() > 2 else raw.reshape(n, -1)[:, 0]


def per_sample(score: Tensor) -> Tensor:
    """One number per sample [n]: the score itself, or the mean over a PatchGAN's patches."""
    return score.float() if score.dim() == 1 else score.float().mean(1)


@torch.no_grad()
def clip_weights(module: nn.Module, clip: float) -> None:
    """WGAN (Arjovsky et al. 2017): every parameter into [−clip, clip] after each critic
    step, a crude way to keep the critic Lipschitz."""
    params = [p for p in module.parameters() if p.is_floating_point()]
    if params:
        torch._foreach_clamp_min_(params, -clip)
        torch._foreach_clamp_max_(params, clip)


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


def r1_penalty(ctx: StepContext, score: Tensor, real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): mean ‖∇ₓ D(x)‖² over the real samples ``real`` (which
    require grad) that D scored ``score``; differentiable in D's weights."""
    (grad,) = ctx.gradients(score, real)
    return grad.flatten(1).square().sum(1).mean()


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


def run_generator(net: nn.Module, shadow: dict[str, Tensor] | None, args: list[Tensor]):
    """``net`` (with the weights ``shadow``, a weight average, when given) on ``args`` in
    eval mode without gradients, as pictures and ``layerloom sample`` want it."""
    with eval_mode([net]), torch.no_grad():
        return functional_call(net, shadow, tuple(args)) if shadow else net(*args)


class Recent:
    """A running mean of a few step metrics, kept on the device so that no step waits for
    the GPU; read back as Python floats only when a picture is drawn."""

    def __init__(self, rate: float = 0.1):
        self.rate = rate
        self.value: Tensor | None = None

    @torch.no_grad()
    def update(self, *values: Tensor) -> None:
        now = torch.stack([v.detach().float() for v in values])
        self.value = now if self.value is None else torch.lerp(self.value, now, self.rate)

    def read(self) -> list[float] | None:
        return None if self.value is None else [float(v) for v in self.value.tolist()]

    def load(self, saved: Tensor | None, device: torch.device) -> None:
        self.value = None if saved is None else saved.to(device=device, dtype=torch.float32)


def class_names(classes: int, names: Sequence[str]) -> list[str]:
    """The dataset's class names for a label input of ``classes`` classes, or their indices
    when the dataset names fewer."""
    return list(names)[:classes] if len(names) >= classes else [str(i) for i in range(classes)]


def class_labels(n: int, prompt: str | None, classes: int, names: Sequence[str],
                 recipe: str) -> tuple[Tensor, list[str]]:
    """Labels for ``n`` conditional samples: 0, 1, … classes − 1 cyclically, or all the
    class ``prompt`` names (a class name, or its index); and their names."""
    names = class_names(classes, names)
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


@torch.no_grad()
def landscape(judge: Callable[[dict, Tensor], Tensor], batch: dict[str, Tensor], real: Tensor,
              fake: Tensor, critic: bool, step: int, epoch: int, size: int = 64) -> Samples:
    """D's belief "this is real" over the plane around 2-D data, where G is pushed, as a
    heatmap.  A critic's scores have no scale: shown relative."""
    grid, extent = plane_grid(torch.cat([real.float(), fake.float()]), size)
    others = {k: v[:1].expand(grid.shape[0], *v.shape[1:]) for k, v in batch.items()}
    score = judge(others, grid).float().reshape(size, size)
    if critic:
        name, p = "critic", (score - score.min()) / (score.max() - score.min() + 1e-12)
    else:
        name, p = "discriminator", torch.sigmoid(score)
    return Samples(step, epoch, name, "heatmap", p.cpu().numpy(), None, {"extent": extent})
