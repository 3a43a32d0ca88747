"""Imagen in miniature (Saharia et al. 2022): a frozen text encoder, a text-conditional
diffusion model that draws a small picture, and a super-resolution diffusion model that
draws it again at full size, given the small one.

Four networks.  ``text_encoder`` (caption → an embedding [E]) and ``image_encoder`` learn
together as CLIP in a first stage (``text_share`` of the run; the ``clip`` recipe does that
step); then both are frozen: Imagen's point is that a text encoder trained on text alone, or
on text and images, and never touched again, is what steers the pictures.  ``base`` reads
x_t, t and ``text`` (the normalised embedding, filled by the recipe) at the low size (its
x_t's size: 16×16 in the template), and, with a ``tokens`` Input, the encoder's features of
every word (Imagen reads T5's whole token sequence, not one pooled vector); ``sr`` reads x_t
and t at the data's size (32×32), the low image as ``low`` and, when it has such Inputs,
``text``, ``tokens`` and ``aug``.  Both learn
ε-prediction in the same step, on chains of the same T (the base model's moved towards less
noise by ``base_shift``), as Imagen trains its cascade: the base on
the data's images shrunk by area averaging, the super-resolution model on the true low image
noised by a random small step ``aug`` (noise-conditioning augmentation: at sampling time the
low image comes from the base model, flaws and all).  With ``sr_residual`` the sr model's x_0
is what the enlarged low image lacks (x minus the low image enlarged), added back when
generating.  With ``sr_share`` below 1 the sr model learns from only the first part of each
batch: Imagen trains each model of its cascade on a budget of its own, and the base model,
which decides what is drawn, gets the time.  Classifier-free guidance: the
embedding (and the words) are replaced by zeros in ``p_uncond`` of the samples.

Generating: prompt → embedding → base (DDIM, guided) → low image → noised to ``aug_sample``
→ sr (DDIM) → the full-size image.  Pictures use weight averages (recipe state).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.events import Samples
from runtime.recipes.base import Feed, RecipeError, Role
from runtime.recipes.clip_stage import AfterClip, dropped, guided_conditions
from runtime.recipes.diffusion_parts import generate, guided
from runtime.recipes.gan_parts import run_generator
from runtime.recipes.imagen_parts import DENOISERS, PARAMS, augment, augment_steps, fill, resize

__all__ = ["Imagen"]

PROMPTED = 8  # prompts in the live grid
PER_PROMPT = 3  # (16×16, 32×32) pairs per prompt there
SR_SHOWN = 8  # validation images in the super-resolution picture
ACCURACY_IMAGES = 2  # images per evaluation prompt at each validation


class Imagen(AfterClip):
    name = "imagen"
    title = "Imagen in miniature (frozen text encoder, diffusion cascade)"
    description = ("A text encoder pre-trained as CLIP and then frozen steers a diffusion "
                   "model that draws small pictures from captions; a super-resolution "
                   "diffusion model redraws each at full size from the small one.")
    roles = (
        Role("text_encoder", "A caption's word ids → its embedding [E]; trained in the CLIP "
                             "stage, frozen after it."),
        Role("image_encoder", "An image → its embedding [E], CLIP's other tower: it only "
                              "teaches the text encoder."),
        Role("base", "x_t and t at the low size, and the text embedding (and its words) → "
                     "ε̂."),
        Role("sr", "x_t and t at full size, the low image (and the text, its words and the "
                   "augmentation level) → ε̂."),
    )
    feeds = (Feed("base", "x_t", "the noisy low-resolution image"),
             Feed("base", "t", "the step t of each sample"),
             Feed("base", "text", "the frozen text encoder's normalised embedding"),
             Feed("base", "tokens", "the frozen text encoder's per-word features (its "
                                    "Output tokens), zero at the padding", required=False),
             Feed("sr", "x_t", "the noisy full-size image"),
             Feed("sr", "t", "the step t of each sample"),
             Feed("sr", "low", "the low-resolution image, noised by the augmentation"),
             Feed("sr", "text", "the text embedding", required=False),
             Feed("sr", "aug", "the augmentation step of the low image", required=False),
             Feed("sr", "tokens", "the per-word features, as the base model's",
                  required=False))
    params = PARAMS
    live = ("guidance", "sample_steps")
    monitor = ("loss", "min")

    learners = DENOISERS
    shifted = ("base", "base_shift")
    share_param = "text_share"
    stage_names = ("text encoder (CLIP)", "base and super-resolution")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shapes = {r: tuple(self.specs[r]["x_t"].shape) for r in DENOISERS}
        full = tuple(self.info.fields[self.field].shape)
        if self.shapes["sr"] != full:
            raise RecipeError(f"the super-resolution model's x_t is {list(self.shapes['sr'])}, "
                              f"but field {self.field!r} holds images of {list(full)}")

    # --- the conditions ------------------------------------------------------------------

    def texts(self, prompts: list[str]) -> dict[str, Tensor]:
        """What the text encoder makes of prompts (``read``); PromptError names any word the
        captions never use."""
        from runtime.prompts import prompt_ids

        ids = [torch.as_tensor(prompt_ids(p, self.length, self.info.vocab)) for p in prompts]
        return self.read(torch.stack(ids))

    def _low_condition(self, low: Tensor, steps: Tensor, generator) -> dict[str, Tensor]:
        """The sr model's view of a low image: at its ``low`` Input's size, noised to the
        augmentation ``steps``, which it is told as ``aug``."""
        specs = self.specs["sr"]
        out = {"low": augment(resize(low, specs["low"].shape[-1]), steps, self._chain("sr"),
                              generator)}
        if "aug" in specs:
            out["aug"] = fill(steps, tuple(specs["aug"].shape))
        return out

    def _net(self, role: str, x: Tensor, t: Tensor, cond: dict[str, Tensor], train: bool
             ) -> Tensor:
        """A denoiser's output at x_t: ε̂ or v̂, as ``prediction`` says."""
        replace = {"x_t": x, "t": fill(t, tuple(self.specs[role]["t"].shape)), **cond}
        if train:
            return self.output(role, self.forward(role, {}, True, replace))
        shadow = self.averages[role].shadow if role in self.averages else None
        return self.output(role, run_generator(self.nets[role], shadow or None,
                                               self.inputs(role, {}, replace)))

    # --- training and validation -----------------------------------------------------------

    def _losses(self, batch, generator, train: bool) -> tuple[Tensor, Tensor]:
        """Per-sample (weighted) errors of the base and the sr model on one batch; with a
        fixed ``generator`` (validation) the steps are spread evenly over the chain."""
        o = self.options
        x = self._pixels(batch[self.field])
        low = resize(x, self.shapes["base"][-1])
        words = self.read(batch[self.caption])
        n = x.shape[0]
        m = max(1, round(o["sr_share"] * n)) if train else n  # what the sr model learns from
        if train:  # the embedding and the words dropped together, for guidance
            words = dropped(words, o["p_uncond"], generator)
        aug = augment_steps(o["aug_train"], self._chain("sr"), m, x.device, generator)
        conds = {"base": words, "sr": {**{k: v[:m] for k, v in words.items()},
                                       **self._low_condition(low[:m], aug, generator)}}
        sr = x[:m] - self._enlarged(low[:m], x.shape[-1])
        out = []
        for role, x0 in (("base", low), ("sr", sr)):
            n, chain = len(x0), self._chain(role)
            t = (torch.randint(0, chain.steps, (n,), device=x.device, generator=generator)
                 if train else torch.arange(n, device=x.device) * chain.steps // n)
            eps = torch.randn(x0.shape, device=x.device, generator=generator)
            pred = self._net(role, chain.noisy(x0, t, eps), t, conds[role], train)
            out.append(chain.loss(o["prediction"], o["snr_gamma"], pred, x0, t, eps))
        return out[0], out[1]

    def check(self, batch):
        self.check_words(self.read(batch[self.caption]))
        with torch.no_grad():
            self._losses(batch, torch.Generator(self.device).manual_seed(0), train=False)

    def eval_batch(self, batch):
        g = torch.Generator(device=self.device).manual_seed(0)
        with torch.no_grad():
            base, sr = self._losses(batch, g, train=False)
        return {"loss_base": base.sum(), "loss_sr": sr.sum(),
                "n": torch.tensor(float(base.numel()), device=base.device)}

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        metrics = {k: float(totals[k]) / n for k in ("loss_base", "loss_sr")}
        metrics["loss"] = metrics["loss_base"] + metrics["loss_sr"]
        if self._measures():
            metrics |= self.prompt_accuracy()
        return metrics, {}

    # --- generating --------------------------------------------------------------------------

    def _denoise(self, role: str, words: dict[str, Tensor], extra: dict[str, Tensor],
                 scale: float, generator: torch.Generator) -> Tensor:
        """One denoiser's DDIM chain from noise, guided by ``words`` (zeros: no caption)."""
        def denoise(x, t, conditional):
            cond = guided_conditions(words, extra, conditional)
            out = self._net(role, x, t, cond, train=False)
            return self._chain(role).as_eps(self.options["prediction"], x, t, out.to(x.dtype))

        n = len(words["text"])
        x, _ = generate(guided(denoise, scale), self._chain(role), (n, *self.shapes[role]),
                        generator, self.device, "ddim", self.options["sample_steps"],
                        threshold=self.options["threshold"])
        return x

    def cascade(self, words: dict[str, Tensor], generator: torch.Generator
                ) -> tuple[Tensor, Tensor]:
        """(the low images, the full-size images) in [0, 1] for captions as ``read`` gives
        them."""
        low = self._denoise("base", words, {}, self.options["guidance"], generator)
        return (low + 1) / 2, self.upscale(low, words, generator)

    def upscale(self, low: Tensor, words: dict[str, Tensor], generator: torch.Generator
                ) -> Tensor:
        """The sr model's full-size images in [0, 1] for low images in [−1, 1]."""
        o, chain = self.options, self._chain("sr")
        step = min(chain.steps - 1, round(o["aug_sample"] * chain.steps))
        steps = torch.full((len(low),), step, device=self.device, dtype=torch.long)
        cond = self._low_condition(low, steps, generator)
        x = self._denoise("sr", words, cond, o["sr_guidance"], generator)
        # a residual drawing on the enlargement can step outside the pixel range
        return ((x + self._enlarged(low, self.shapes["sr"][-1]) + 1) / 2).clamp(0, 1)

    def _enlarged(self, low: Tensor, side: int) -> Tensor:
        """What the sr model's output adds to: the low image enlarged (``sr_residual``), or
        zero (it draws the whole image)."""
        if self.options["sr_residual"]:
            return resize(low, side)
        return torch.zeros((), device=low.device)

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def _measures(self) -> bool:
        """Whether prompt accuracy is measured: asked for, on the shapes data."""
        return bool(self.options["prompt_accuracy"] and "colours" in self.info.extra)

    def prompt_accuracy(self, per_prompt: int = ACCURACY_IMAGES) -> dict[str, float]:
        """The share of full-size images, ``per_prompt`` per evaluation prompt, whose shape
        and colour the attribute classifier reads as asked."""
        from runtime.attributes import prompt_accuracy
        from runtime.prompts import EVAL_PROMPTS

        prompts = [p for p in EVAL_PROMPTS for _ in range(per_prompt)]
        _, images = self.cascade(self.texts(prompts), self._generator(1))
        scores = prompt_accuracy(images.float().cpu(), prompts)
        return {f"prompt_{k}": v for k, v in scores.items() if k in ("colour", "shape", "all")}

    def samples(self, data, step, epoch):
        from runtime.prompts import EVAL_PROMPTS

        texts = list(EVAL_PROMPTS[:PROMPTED])
        low, high = self.cascade(self.texts([t for t in texts for _ in range(PER_PROMPT)]),
                                 self._generator(0))
        side = high.shape[-1]
        pairs = torch.stack([F.interpolate(low, size=(side, side), mode="nearest"), high], 1)
        grid = Samples(step, epoch, "16×16 → 32×32 per prompt", "images",
                       pairs.flatten(0, 1).clamp(0, 1).cpu().numpy(), None,
                       {"prompt": "", "prompt_hint": texts[0], "cols": 2 * PER_PROMPT,
                        "rows": texts, "columns": ["16×16", "32×32"] * PER_PROMPT})
        return [grid, *self._super_resolution(data, step, epoch)]

    def _super_resolution(self, data, step, epoch) -> list[Samples]:
        """Real validation images shrunk, then redrawn by the sr model: low, redrawn, true."""
        val = getattr(data, "val", None)
        if val is None or len(val) == 0:
            return []
        batch = {k: v[:SR_SHOWN].to(self.device) for k, v in val.items()}
        x = self._pixels(batch[self.field])
        low = resize(x, self.shapes["base"][-1])
        high = self.upscale(low, self.read(batch[self.caption]), self._generator(3))
        side = x.shape[-1]
        rows = torch.stack([F.interpolate((low + 1) / 2, size=(side, side), mode="nearest"),
                            high, (x + 1) / 2], 1)
        return [Samples(step, epoch, "super-resolution of validation images", "images",
                        rows.flatten(0, 1).clamp(0, 1).cpu().numpy(), None,
                        {"cols": 3, "columns": ["16×16", "redrawn", "true 32×32"]})]

    def sample(self, n, generator, prompt=None, temperature=1.0):
        from runtime.prompts import EVAL_PROMPTS

        prompts = [prompt] * n if prompt is not None else \
            [EVAL_PROMPTS[i % len(EVAL_PROMPTS)] for i in range(n)]
        words = self.texts(prompts)  # refuses unknown words, naming them
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        _, images = self.cascade(words, self._generator(seed))
        extra = {"prompt": prompt or "", "prompt_hint": EVAL_PROMPTS[0]}
        if prompt is not None and self._measures():
            from runtime.attributes import prompt_accuracy

            scores = prompt_accuracy(images.float().cpu(), prompts)
            extra["figures"] = {f"prompt {k}": v for k, v in scores.items()}
        return Samples(0, 0, f"prompt: {prompt}" if prompt else "samples", "images",
                       images.clamp(0, 1).cpu().numpy(), None if prompt else prompts, extra)

    # --- state -------------------------------------------------------------------------------

    def state_dict(self):
        state = {f"ema_{r}": a.state() for r, a in self.averages.items() if a.shadow}
        return {**state, "updates": self.updates} if state or self.updates else {}

    def load_state_dict(self, state):
        self.updates = int(state.get("updates", 0))
        for role, average in self.averages.items():
            average.load(state.get(f"ema_{role}"), self.nets[role], self.device)
