"""Denoising diffusion (Ho et al. 2020; Song et al. 2021) in parts: the noise schedule, the
forward process q(x_t | x_0), and one reverse step of the DDPM and DDIM samplers.

Images live in [−1, 1].  The schedule is β_1 … β_T; α_t = 1 − β_t and ᾱ_t = Π_{s≤t} α_s, so
x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε.  Steps are numbered 0 … T−1 here (step t of the code is
the paper's t + 1).  The network predicts ε; both samplers turn that into an estimate of
x_0, clipped to [−1, 1] (images cannot leave it), and step from there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from builder.blocks.spec import Param

__all__ = ["SCHEDULES", "PREDICTIONS", "Schedule", "betas", "generate", "guided", "shift_param",
           "learning_params", "Cadence"]

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "v")  # what the network predicts: the noise, or the velocity
COSINE_OFFSET = 0.008  # s of Nichol & Dhariwal 2021: β_1 is not vanishingly small
MAX_BETA = 0.999  # the cosine schedule's last βs would reach 1: x_T would carry no signal


def learning_params(who: str = "The denoiser") -> tuple[Param, Param]:
    """The ``prediction`` and ``snr_gamma`` settings of a recipe's ε-predicting denoisers
    (``who``: which, as the help says it)."""
    return (
        Param("prediction", "choice", "eps", choices=PREDICTIONS,
              help=f"What {who.lower()} predicts: eps, the noise ε (DDPM); v, the velocity "
                   "√ᾱ ε − √(1 − ᾱ) x_0, which near pure noise is the picture itself, so the "
                   "first steps get colours and layout right sooner."),
        Param("snr_gamma", "float", 5.0, min=0.0, max=1000.0,
              help="Min-SNR-γ weighting of the loss: each step's error in x̂_0 weighs "
                   "min(SNR, γ), so nearly clean steps stop dominating and shapes are learnt "
                   "sooner; 0: every step weighs the same (the plain loss)."),
    )


def shift_param(name: str = "shift", whose: str = "The denoiser's", example: str = "") -> Param:
    """The setting that moves ``whose`` chain towards less noise (``Schedule.make``'s
    ``shift``); ``example`` says where to set it."""
    return Param(name, "float", 1.0, min=0.1, max=16.0,
                 help=f"{whose} chain moved towards less noise for small pictures: the "
                      f"signal-to-noise ratio of every step multiplied by {name}² (simple "
                      "diffusion's shifted schedule). A picture half the size loses its "
                      "shape to a quarter of the noise, so fewer training steps go to "
                      f"pictures already past telling{example}; 1: the plain chain.")


def betas(kind: str, steps: int, start: float = 1e-4, end: float = 0.02) -> Tensor:
    """β_1 … β_T in float64.  ``linear``: DDPM's, from ``start`` to ``end`` at T = 1000 and
    scaled by 1000 / T otherwise (so a short chain still ends in noise); ``cosine``:
    ᾱ_t = f(t) / f(0) with f(t) = cos²((t/T + s) / (1 + s) · π/2)."""
    if kind == "linear":
        scale = 1000 / steps
        return torch.linspace(start * scale, min(end * scale, MAX_BETA), steps,
                              dtype=torch.float64)
    if kind == "cosine":
        t = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((t + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        bar = f / f[0]
        return (1 - bar[1:] / bar[:-1]).clamp(max=MAX_BETA)
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; received {kind!r}")


@dataclass
class Schedule:
    """The chain's constants on one device, in float32 (computed in float64)."""

    beta: Tensor
    alpha: Tensor
    alpha_bar: Tensor

    @classmethod
    def make(cls, kind: str, steps: int, device: torch.device | str = "cpu",
             shift: float = 1.0) -> Schedule:
        """``kind``'s chain of ``steps``; with ``shift`` s the signal-to-noise ratio
        ᾱ / (1 − ᾱ) of every step is multiplied by s² (simple diffusion's shifted schedule,
        Hoogeboom et al. 2023: a picture s times smaller than the one a schedule was made
        for loses its shape to s² times less noise, so the chain is moved towards less)."""
        bar = torch.cumprod(1 - betas(kind, steps), 0)
        if shift != 1.0:
            bar = shift**2 * bar / (1 + (shift**2 - 1) * bar)
        beta = (1 - bar / torch.cat([bar.new_ones(1), bar[:-1]])).clamp(max=MAX_BETA)
        alpha = 1 - beta
        bar = torch.cumprod(alpha, 0)
        return cls(*(v.to(device=device, dtype=torch.float32) for v in (beta, alpha, bar)))

    def on(self, device: torch.device | str) -> Schedule:
        """This schedule on ``device`` (itself when it is there already): a recipe builds it
        before the trainer says where the networks live."""
        if self.beta.device == torch.device(device):
            return self
        return Schedule(*(v.to(device) for v in (self.beta, self.alpha, self.alpha_bar)))

    @property
    def steps(self) -> int:
        return len(self.beta)

    def _bar(self, t: Tensor, like: Tensor) -> Tensor:
        """ᾱ_t per sample, shaped to broadcast over ``like`` [N, ...]."""
        return self.alpha_bar[t].view(-1, *(1,) * (like.dim() - 1))

    def noisy(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, per sample's step ``t`` [N]."""
        bar = self._bar(t, x0)
        return bar.sqrt() * x0 + (1 - bar).sqrt() * eps

    def target(self, kind: str, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """What a network predicting ``kind`` learns at x_t: ε itself, or the velocity
        v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho 2022), which near pure noise is −x_0:
        the network then says outright what the picture is, where ε-prediction must get ε
        right to a thousandth for x̂_0 = (x_t − √(1 − ᾱ) ε̂) / √ᾱ not to go astray."""
        if kind == "eps":
            return eps
        bar = self._bar(t, x0)
        return bar.sqrt() * eps - (1 - bar).sqrt() * x0

    def as_eps(self, kind: str, x: Tensor, t: Tensor, out: Tensor) -> Tensor:
        """The ε that a network's output ``out`` at x_t stands for (what the samplers take):
        ε̂ itself, or √ᾱ_t v̂ + √(1 − ᾱ_t) x_t."""
        if kind == "eps":
            return out
        bar = self._bar(t, x)
        return bar.sqrt() * out + (1 - bar).sqrt() * x

    def _x0(self, x: Tensor, bar: Tensor, eps: Tensor, clip: bool, threshold: float = 0.0
            ) -> tuple[Tensor, Tensor]:
        """(x̂_0, ε) from x_t and ε̂; with ``clip``, x̂_0 in [−1, 1] and ε made consistent:
        clamped (``threshold`` 0), or by Imagen's dynamic thresholding: s the ``threshold``
        quantile of each image's |x̂_0| (at least 1), x̂_0 clamped to [−s, s] and divided by
        s, so a strongly guided estimate is pulled back whole instead of flattened at ±1."""
        x0 = (x - (1 - bar).sqrt() * eps) / bar.sqrt()
        if clip:
            if threshold > 0:
                s = x0.abs().flatten(1).float().quantile(threshold, dim=1).clamp(min=1)
                s = s.to(x0.dtype).view(-1, *(1,) * (x0.dim() - 1))
                x0 = x0.clamp(-s, s) / s
            else:
                x0 = x0.clamp(-1, 1)
            eps = (x - bar.sqrt() * x0) / (1 - bar).sqrt()
        return x0, eps

    def ddpm_step(self, x: Tensor, t: int, eps: Tensor, noise: Tensor,
                  clip: bool = True, threshold: float = 0.0) -> Tensor:
        """x_{t−1} ~ q(x_{t−1} | x_t, x̂_0): the posterior mean of the estimate x̂_0 plus
        noise of variance β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) (none at the last step)."""
        bar, beta = self.alpha_bar[t], self.beta[t]
        prev = self.alpha_bar[t - 1] if t > 0 else torch.ones_like(bar)
        x0, _ = self._x0(x, bar, eps, clip, threshold)
        mean = (beta * prev.sqrt() / (1 - bar)) * x0 + \
            ((1 - prev) * self.alpha[t].sqrt() / (1 - bar)) * x
        if t == 0:
            return mean
        return mean + (beta * (1 - prev) / (1 - bar)).sqrt() * noise

    def ddim_step(self, x: Tensor, t: int, prev: int, eps: Tensor, noise: Tensor | None,
                  eta: float = 0.0, clip: bool = True, threshold: float = 0.0) -> Tensor:
        """x at step ``prev`` (−1: the clean image) from x_t: √ᾱ_prev x̂_0 plus the
        direction √(1 − ᾱ_prev − σ²) ε̂ plus σ·noise, σ = η √((1 − ᾱ_prev)/(1 − ᾱ_t))
        √(1 − ᾱ_t/ᾱ_prev).  η = 0: deterministic; η = 1: as noisy as DDPM."""
        bar = self.alpha_bar[t]
        bar_prev = self.alpha_bar[prev] if prev >= 0 else torch.ones_like(bar)
        x0, eps = self._x0(x, bar, eps, clip, threshold)
        sigma = eta * ((1 - bar_prev) / (1 - bar) * (1 - bar / bar_prev)).sqrt()
        out = bar_prev.sqrt() * x0 + (1 - bar_prev - sigma**2).clamp(min=0).sqrt() * eps
        return out + sigma * noise if eta > 0 and noise is not None else out

    def visits(self, sampler: str, steps: int) -> list[int]:
        """The steps a sampler visits, from the top down to 0: all of them (DDPM), or
        ``steps`` of them a stride T // steps apart from 0 (DDIM's own spacing, whose top
        step is below T − 1: at the cosine chain's last step ᾱ is about 1e-9, and the
        estimate x̂_0 = (x − √(1 − ᾱ) ε̂) / √ᾱ magnifies any error in ε̂ into a saturated
        colour that the deterministic steps after it keep)."""
        if sampler == "ddpm":
            return list(range(self.steps - 1, -1, -1))
        n = max(1, min(steps, self.steps))
        return list(range((n - 1) * (self.steps // n), -1, -(self.steps // n)))

    def loss(self, kind: str, gamma: float, out: Tensor, x0: Tensor, t: Tensor, eps: Tensor
             ) -> Tensor:
        """Per-sample errors [N] of a denoiser's output ``out`` at x_t = noisy(x0, t, eps),
        against the ``kind`` target, with the min-SNR-``gamma`` weights."""
        per = (out.float() - self.target(kind, x0, t, eps)).square().flatten(1).mean(1)
        return per * self.snr_weight(t, gamma, kind)

    def snr_weight(self, t: Tensor, gamma: float, kind: str = "eps") -> Tensor:
        """Min-SNR-γ loss weights (Hang et al. 2023) at steps ``t`` [N]: the error in x̂_0
        weighted by min(SNR_t, γ), SNR_t = ᾱ_t / (1 − ᾱ_t), which is min(SNR, γ) / SNR on
        the ε loss and min(SNR, γ) / (SNR + 1) on the v loss.  The nearly clean steps, whose
        tiny noise is hard to tell and matters least to the picture, stop dominating the
        gradient, and the mid-noise steps that decide shapes get their share; γ = 0: all 1."""
        if gamma <= 0:
            return torch.ones(t.shape, device=t.device)
        bar = self.alpha_bar[t]
        snr = bar / (1 - bar)
        return snr.clamp(max=gamma) / (snr if kind == "eps" else snr + 1)


def guided(denoise: Callable[..., Tensor], scale: float) -> Callable[..., Tensor]:
    """Classifier-free guidance (Ho & Salimans 2022): ε = ε_∅ + w (ε_c − ε_∅), both from one
    batch of twice the size.  ``denoise(x, t, conditional)`` predicts with or without the
    condition; w = 1 is plain conditional sampling (one pass)."""
    if scale == 1.0:
        return lambda x, t: denoise(x, t, True)

    def eps(x: Tensor, t: Tensor) -> Tensor:
        both = denoise(torch.cat([x, x]), torch.cat([t, t]), None)
        cond, free = both.chunk(2)
        return free + scale * (cond - free)
    return eps


@torch.no_grad()
def generate(eps: Callable[[Tensor, Tensor], Tensor], schedule: Schedule, shape: tuple,
             generator: torch.Generator, device: torch.device, sampler: str = "ddim",
             steps: int = 50, eta: float = 0.0, clip: bool = True, keep: int = 0,
             threshold: float = 0.0) -> tuple[Tensor, list[tuple[int, Tensor]]]:
    """Images [N, *shape[1:]] in [−1, 1] from pure noise, and ``keep`` snapshots (step,
    x̂ at that step) along the way for the denoising strip (x_T first, x_0 last);
    ``threshold``: the dynamic thresholding quantile of ``Schedule.ddim_step`` (0: clamp)."""
    x = torch.randn(shape, generator=generator, device=device)
    visits = schedule.visits(sampler, steps)
    marks = set()
    if keep > 2:
        marks = {visits[round(i * (len(visits) - 1) / (keep - 2))] for i in range(keep - 1)}
    strip = [(schedule.steps, x.clone())] if keep else []
    for i, t in enumerate(visits):
        eps_hat = eps(x, torch.full((shape[0],), t, device=device, dtype=torch.long))
        noise = torch.randn(shape, generator=generator, device=device)
        if sampler == "ddpm":
            x = schedule.ddpm_step(x, t, eps_hat, noise, clip, threshold)
        else:
            prev = visits[i + 1] if i + 1 < len(visits) else -1
            x = schedule.ddim_step(x, t, prev, eps_hat, noise, eta, clip, threshold)
        if t in marks and t != visits[-1]:
            strip.append((t, x.clone()))
    if keep:
        strip.append((0, x.clone()))
    return x, strip


class Cadence:
    """When a costly measurement (prompt accuracy: a few hundred generated pictures) is due:
    at the first validation after every ``every`` steps (0: never).  ``done`` is the steps
    trained so far, which the recipe's step sets; both counters travel in the recipe state."""

    def __init__(self, every: int):
        self.every, self.done, self.last = every, 0, 0

    def due(self) -> bool:
        if not self.every or self.done - self.last < self.every:
            return False
        self.last = self.done
        return True

    def state(self) -> dict[str, int]:
        return {"steps_done": self.done, "measured_at": self.last}

    def load(self, state) -> None:
        self.done, self.last = int(state.get("steps_done", 0)), int(state.get("measured_at", 0))
