"""Denoising diffusion (DDPM, Ho et al. 2020): learn to predict the noise in a noised image,
then make images by removing noise step by step from pure noise.

One network, the ``denoiser``: its Inputs ``x_t`` (the noisy image) and ``t`` (the step, a
number per sample) have source ``recipe``; every other Input reads the data and conditions
the model: a caption (tokens) makes it text-conditional, a label class-conditional.  A step
draws t and ε, forms x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε and regresses ε̂(x_t, t, c) on ε.  With
``p_uncond`` the condition is replaced by an empty one (a caption of padding, or the extra
class ``num_classes``) in that share of samples, so the same network also predicts ε without
it; sampling mixes the two, ε_∅ + w (ε_c − ε_∅): classifier-free guidance, w the ``guidance``.

Samples use an exponential moving average of the weights (recipe state, in checkpoints); the
pictures are the denoising strip x_T → x_0 and a grid per prompt, and the validation reports
the prompt accuracy: the share of generated images whose shape and colour a separate
attribute classifier reads as the prompt asked (on the shapes data).
"""

from __future__ import annotations

import torch
from torch import Tensor

from builder.blocks.spec import Param
from runtime.events import Samples
from runtime.recipes.base import Feed, Recipe, RecipeError, Role
from runtime.recipes.diffusion_parts import (
    SCHEDULES,
    Cadence,
    Schedule,
    generate,
    guided,
    learning_params,
    shift_param,
)
from runtime.recipes.gan_parts import WeightAverage, class_labels, run_generator
from runtime.recipes.units import unnormalise

__all__ = ["Diffusion"]

PROMPTED = 6  # prompts in the live grid
PER_PROMPT = 5  # images per prompt there
STRIP = 9  # snapshots in the denoising strip, x_T … x_0
ACCURACY_IMAGES = 2  # images per prompt measured at each validation


class Diffusion(Recipe):
    name = "diffusion"
    title = "Diffusion model (DDPM / DDIM, classifier-free guidance)"
    description = ("Learns to predict the noise added to an image at a random step of a "
                   "noising chain; generates by denoising pure noise step by step, "
                   "optionally guided by a caption or class.")
    roles = (Role("denoiser", "x_t, t (and a caption or label) → the predicted noise ε̂, "
                              "shaped like the image."),)
    feeds = (Feed("denoiser", "x_t", "the noisy image x_t"),
             Feed("denoiser", "t", "the step t of each sample, 0 … timesteps − 1"))
    params = (
        Param("field", "str", "x", help="The data field of the images to generate (pixels "
                                        "in [0, 1]: the dataset's normalize off, or undone)."),
        Param("timesteps", "int", 1000, min=2, max=10_000,
              help="T: steps of the noising chain."),
        Param("schedule", "choice", "cosine", choices=SCHEDULES,
              help="How β_t grows: linear (DDPM) or cosine (Nichol & Dhariwal), which "
                   "destroys small images less abruptly."),
        *learning_params(),
        shift_param(example=" (try 2 at 16×16)"),
        Param("sampler", "choice", "ddim", choices=("ddim", "ddpm"),
              help="ddpm: all T stochastic steps; ddim: sample_steps deterministic jumps "
                   "(η = 0), the same network, many times faster."),
        Param("sample_steps", "int", 25, min=1, max=10_000,
              help="Steps DDIM takes from noise to image."),
        Param("eta", "float", 0.0, min=0.0, max=1.0,
              help="DDIM's η: 0 deterministic, 1 as noisy as DDPM."),
        Param("guidance", "float", 3.0, min=0.0, max=20.0,
              help="Classifier-free guidance scale w: 1 plain conditional sampling, more "
                   "follows the prompt harder at some cost in variety; 0 ignores it."),
        Param("p_uncond", "float", 0.1, min=0.0, max=0.9,
              help="Share of training samples whose condition is dropped, so that the "
                   "model learns the unconditional ε too (needed for guidance)."),
        Param("ema", "float", 0.999, min=0.0, max=0.99999,
              help="Decay of the weight average that samples are drawn with; 0: the "
                   "weights as they are."),
        Param("prompt_accuracy", "int", 250, min=0, max=1_000_000,
              help="On the shapes data, at the first validation after every this many "
                   "steps: generate two images per evaluation prompt and report the share "
                   "with the colour and shape asked (also in `layerloom sample`); 0: never."),
    )
    live = ("guidance", "sample_steps")
    monitor = ("loss", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.field = o["field"]
        if self.field not in self.info.fields:
            raise RecipeError(f"recipe 'diffusion' generates field {self.field!r}, which "
                              f"dataset {self.info.name!r} lacks")
        self.image_shape = tuple(self.info.fields[self.field].shape)
        specs = {s.field: s for s in self.recipe_inputs("denoiser")}
        self.t_spec = specs["t"]
        self.conditions = {s.field: s for s in self.fed_inputs("denoiser")}
        self.schedule = Schedule.make(o["schedule"], o["timesteps"], shift=o["shift"])
        self.ema = WeightAverage(o["ema"]) if o["ema"] > 0 else None
        self.tokens = next((f for f in self.conditions
                            if self.info.fields[self.data_field(f)[1]].kind == "tokens"), None)
        self.cadence = Cadence(o["prompt_accuracy"])

    # --- the condition -------------------------------------------------------------------

    def _null(self, field: str, value: Tensor) -> Tensor:
        """The empty condition: a caption of padding, or the extra class ``num_classes``."""
        kind = self.info.fields[self.data_field(field)[1]].kind
        if kind == "tokens":
            return torch.full_like(value, int(self.info.extra.get("pad", 0)))
        if kind == "label":
            return torch.full_like(value, self.info.num_classes or 0)
        return torch.zeros_like(value)

    def _drop(self, batch: dict[str, Tensor], p: float) -> dict[str, Tensor]:
        """The conditions with a share ``p`` of samples emptied (the same samples in all)."""
        if not self.conditions or p <= 0:
            return {}
        n = batch[self.field].shape[0]
        gone = torch.rand(n, device=batch[self.field].device, generator=self.generator) < p
        out = {}
        for f in self.conditions:
            v = batch[f]
            mask = gone.view(-1, *(1,) * (v.dim() - 1))
            out[f] = torch.where(mask, self._null(f, v), v)
        return out

    def _t(self, t: Tensor) -> Tensor:
        return t.float().view(-1, *(1,) * len(self.t_spec.shape)).expand(
            -1, *self.t_spec.shape)

    def _net(self, x: Tensor, t: Tensor, cond: dict[str, Tensor], train: bool = True,
             shadow=None) -> Tensor:
        """The denoiser's output at x_t: ε̂ or v̂, as ``prediction`` says."""
        replace = {"x_t": x, "t": self._t(t), **cond}
        if train:
            out = self.forward("denoiser", {}, True, replace)
        else:
            out = run_generator(self.nets["denoiser"], shadow,
                                self.inputs("denoiser", {}, replace))
        return self.output("denoiser", out)

    def _eps(self, x: Tensor, t: Tensor, cond: dict[str, Tensor], train: bool = True,
             shadow=None) -> Tensor:
        """The noise ε̂ the denoiser sees in x_t (what the samplers take)."""
        out = self._net(x, t, cond, train, shadow)
        return self.schedule.on(x.device).as_eps(self.options["prediction"], x, t,
                                                 out.to(x.dtype))

    # --- one step --------------------------------------------------------------------------

    def _pixels(self, x: Tensor) -> Tensor:
        """The data's images in the model's units, [−1, 1]."""
        return unnormalise(self.info, self.field, x).float() * 2 - 1

    def check(self, batch):
        x0 = self._pixels(batch[self.field])
        t = torch.zeros(x0.shape[0], dtype=torch.long, device=x0.device)
        cond = {f: batch[f] for f in self.conditions}
        eps = self._net(x0, t, cond, train=False)
        if eps.shape != x0.shape:
            raise RecipeError(f"the denoiser {self.names['denoiser']!r} must predict noise "
                              f"shaped like the image {list(x0.shape[1:])}; it gives "
                              f"{list(eps.shape[1:])}")
        if self.options["p_uncond"] > 0 and cond:
            try:
                self._net(x0, t, {f: self._null(f, v) for f, v in cond.items()}, train=False)
            except (IndexError, RuntimeError) as e:
                classes = self.info.num_classes or 0
                raise RecipeError(
                    f"the denoiser {self.names['denoiser']!r} cannot take the empty condition "
                    f"that guidance trains with ({e}); a label's Embedding needs "
                    f"num_classes + 1 = {classes + 1} entries (the last one is 'no class'), "
                    "or set p_uncond to 0") from None

    def _loss(self, batch, generator=None, train=True) -> Tensor:
        x0 = self._pixels(batch[self.field])
        n = x0.shape[0]
        self.schedule = self.schedule.on(x0.device)
        if generator is None:
            t = torch.randint(0, self.schedule.steps, (n,), device=x0.device,
                              generator=self.generator)
        else:  # validation: steps spread evenly over the chain, the same noise each time
            t = (torch.arange(n, device=x0.device) * self.schedule.steps // max(n, 1))
        eps = torch.randn(x0.shape, device=x0.device, generator=generator or self.generator)
        cond = {f: batch[f] for f in self.conditions}
        if train:
            cond |= self._drop(batch, self.options["p_uncond"])
        out = self._net(self.schedule.noisy(x0, t, eps), t, cond, train)
        return self.schedule.loss(self.options["prediction"], self.options["snr_gamma"], out,
                                  x0, t, eps)

    def step(self, ctx, batch):
        loss = self._loss(batch).mean()
        ctx.optimize(loss, "denoiser")
        self.cadence.done = ctx.step + 1
        if self.ema is not None:
            self.ema.update(self.nets["denoiser"], ctx.step)
        return {"loss": loss.detach()}

    def eval_batch(self, batch):
        g = torch.Generator(device=self.device).manual_seed(0)
        with torch.no_grad():
            per = self._loss(batch, g, train=False)
        return {"loss": per.sum(), "n": torch.tensor(float(per.numel()), device=per.device)}

    def eval_summary(self, totals, count):
        metrics = {"loss": float(totals["loss"]) / max(1.0, float(totals["n"]))}
        if self._measures() and self.cadence.due():
            metrics |= self.prompt_accuracy()
        return metrics, {}

    # --- generating ------------------------------------------------------------------------

    def _shadow(self):
        return self.ema.shadow if self.ema is not None and self.ema.shadow else None

    def generate(self, cond: dict[str, Tensor], n: int, generator: torch.Generator,
                 keep: int = 0, steps: int | None = None):
        """``n`` images in [0, 1] for the conditions ``cond`` (one row each, or none), and
        the strip of snapshots."""
        o, shadow = self.options, self._shadow()
        schedule = self.schedule = self.schedule.on(self.device)
        null = {f: self._null(f, v) for f, v in cond.items()}

        def denoise(x, t, conditional):
            if conditional is None:  # the guided pair: conditional half, then free half
                c = {f: torch.cat([cond[f], null[f]]) for f in cond}
            else:
                c = cond if conditional else null
            return self._eps(x, t, c, train=False, shadow=shadow)

        scale = o["guidance"] if cond else 1.0
        eps = guided(denoise, scale) if cond else (lambda x, t: denoise(x, t, True))
        x, strip = generate(eps, schedule, (n, *self.image_shape), generator, self.device,
                            o["sampler"], steps or o["sample_steps"], o["eta"], keep=keep)
        return (x + 1) / 2, [(t, (s + 1) / 2) for t, s in strip]

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def conditions_for(self, prompts: list[str | None], repeat: int) -> dict[str, Tensor]:
        """The condition tensors for each prompt ``repeat`` times (None: the empty one)."""
        out = {}
        for f in self.conditions:
            info = self.info.fields[self.data_field(f)[1]]
            if info.kind == "tokens":
                from runtime.prompts import prompt_ids

                rows = [prompt_ids(p, info.shape[0], self.info.vocab) if p is not None
                        else None for p in prompts]
                ids = torch.stack([torch.as_tensor(r) if r is not None else
                                   torch.full(info.shape, int(self.info.extra.get("pad", 0)))
                                   for r in rows]).long()
            elif info.kind == "label":
                classes = self.info.num_classes or 0
                ids = torch.cat([class_labels(1, p, classes, self.info.class_names or (),
                                              self.name)[0] if p is not None
                                 else torch.tensor([classes]) for p in prompts])
            else:
                raise RecipeError(f"recipe 'diffusion' cannot make condition {f!r} from a "
                                  "prompt: it takes a caption (tokens) or a label")
            out[f] = ids.to(self.device).repeat_interleave(repeat, 0)
        return out

    def _prompts(self) -> list[str]:
        if self.tokens:
            from runtime.prompts import EVAL_PROMPTS

            return list(EVAL_PROMPTS)
        return [str(c) for c in (self.info.class_names or ())]

    def _measures(self) -> bool:
        """Whether prompt accuracy is measured: asked for, captions, the shapes data."""
        return bool(self.options["prompt_accuracy"] and self.tokens
                    and "colours" in self.info.extra)

    def prompt_accuracy(self, per_prompt: int = ACCURACY_IMAGES) -> dict[str, float]:
        """Generate ``per_prompt`` images for each evaluation prompt; the share whose
        attributes the attribute classifier reads as asked."""
        from runtime.attributes import prompt_accuracy
        from runtime.prompts import parse_prompt

        texts = self._prompts()
        images, _ = self.generate(self.conditions_for(texts, per_prompt),
                                  len(texts) * per_prompt, self._generator(1))
        parsed = [parse_prompt(t) for t in texts for _ in range(per_prompt)]
        scores = prompt_accuracy(images.float().cpu(), parsed)
        return {f"prompt_{k}": v for k, v in scores.items() if k in ("colour", "shape", "all")}

    def samples(self, data, step, epoch):
        conditional = bool(self.conditions)
        texts = self._prompts()[:PROMPTED] if conditional else [None]
        rows = PER_PROMPT if conditional else 4 * PER_PROMPT
        cond = self.conditions_for(texts, rows) if conditional else {}
        images, _ = self.generate(cond, len(texts) * rows, self._generator(0))
        live = {"prompt": "", "prompt_hint": texts[0] or "", "cols": rows}
        if conditional:
            live["rows"] = texts
        grid = Samples(step, epoch, "samples per prompt" if conditional else "samples",
                       "images", images.clamp(0, 1).cpu().numpy(), None, live)
        firsts = texts[:3] if conditional else [None] * 3
        strip_cond = self.conditions_for(firsts, 1) if conditional else {}
        _, strip = self.generate(strip_cond, len(firsts), self._generator(2), keep=STRIP)
        frames = torch.stack([s for _, s in strip], 1).flatten(0, 1)  # row per image
        denoise = Samples(step, epoch, "denoising x_T → x_0", "images",
                          frames.clamp(0, 1).cpu().numpy(), None,
                          {"cols": len(strip), "columns": [f"t={t}" for t, _ in strip],
                           "rows": [t or "no prompt" for t in firsts]})
        return [grid, denoise]

    def sample(self, n, generator, prompt=None, temperature=1.0):
        if prompt is not None and not self.conditions:
            raise RecipeError("recipe 'diffusion': this denoiser has no condition input, so "
                              "--prompt does not apply")
        if prompt is not None and self.tokens:
            from runtime.prompts import parse_prompt

            parse_prompt(prompt)  # refuses words the vocabulary lacks, naming them
        texts = [prompt] if prompt is not None or not self.conditions else None
        if texts is None:  # a conditional model without a prompt: the evaluation prompts
            texts = [self._prompts()[i % len(self._prompts())] for i in range(n)]
            cond, per = self.conditions_for(texts, 1), 1
        else:
            per = n
            cond = self.conditions_for(texts, n) if self.conditions else {}
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        images, _ = self.generate(cond, n, self._generator(seed))
        extra = {"prompt": prompt or "", "prompt_hint": self._prompts()[0] if self.conditions
                 else ""}
        if prompt is not None and self._measures():
            from runtime.attributes import prompt_accuracy
            from runtime.prompts import parse_prompt

            scores = prompt_accuracy(images.float().cpu(), [parse_prompt(prompt)] * n)
            extra["figures"] = {f"prompt {k}": v for k, v in scores.items()}
        labels = None if per == n else texts
        return Samples(0, 0, f"prompt: {prompt}" if prompt else "samples", "images",
                       images.clamp(0, 1).cpu().numpy(), labels, extra)

    # --- state -------------------------------------------------------------------------------

    def state_dict(self):
        state = self.cadence.state() if self.cadence.done else {}  # nothing before a step
        if self.ema is not None and self.ema.shadow:
            state["ema"] = self.ema.state()
        return state

    def load_state_dict(self, state):
        self.cadence.load(state)
        if self.ema is not None:
            self.ema.load(state.get("ema"), self.nets["denoiser"], self.device)
