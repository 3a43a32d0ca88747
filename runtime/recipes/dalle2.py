"""DALL·E 2 in miniature (Ramesh et al. 2022, "unCLIP"): CLIP, a prior from a caption's CLIP
text embedding to a CLIP image embedding, and a diffusion decoder that draws a picture from
an image embedding.

Four networks.  ``image_encoder`` and ``text_encoder`` learn as CLIP in a first stage
(``clip_share`` of the run; the ``clip`` recipe does that step); then both are frozen and
only read.  ``prior`` is a diffusion model over vectors: it reads ``z_t`` (the image
embedding × √E, noised to step ``t``), ``t`` and ``text`` (the caption's embedding) and
predicts the clean z_0, as the paper's prior does.  ``decoder`` reads ``x_t``, ``t`` and
``embedding`` (the image's own normalised CLIP embedding) and predicts the noise ε; with a
``tokens`` Input it also reads the caption's words through the frozen text encoder, and with an
Input reading the captions from the data, their word ids through a text pathway of its own:
DALL·E 2's decoder keeps GLIDE's, trained with it, for what CLIP's embedding fails to hold.
Both learn on one chain in the same step; their conditions are replaced by zeros in
``p_uncond`` of the samples (the caption in ``caption_drop``: zero features, ids of padding),
for classifier-free guidance and for variations, which have no caption.

Generating: prompt → text embedding → prior (DDIM; ``candidates`` draws, the one nearest the
text kept) → image embedding → decoder (DDIM, guided) → picture.  Variations: a picture's own
image embedding decoded again from other noise keeps what CLIP saw in it and redraws the
rest (``layerloom sample --input PICTURE`` makes one).  Pictures use weight averages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.events import Samples
from runtime.recipes.base import Feed, RecipeError, Role
from runtime.recipes.clip_parts import normalised, prompt_captions
from runtime.recipes.clip_stage import AfterClip, dropped, guided_conditions
from runtime.recipes.dalle2_parts import (
    DENOISERS,
    PARAMS,
    embedding_scale,
    eps_from_x0,
    nearest_candidate,
)
from runtime.recipes.diffusion_parts import Cadence, generate, guided
from runtime.recipes.gan_parts import run_generator
from runtime.recipes.imagen_parts import fill

__all__ = ["Dalle2"]

PROMPTED = 6  # prompts in the live grid
PER_PROMPT = 3  # pictures per prompt there
VARIED = 3  # validation pictures in the variations picture
VARIATIONS = 3  # re-decodings of each
ACCURACY_IMAGES = 2  # pictures per evaluation prompt when prompt accuracy is measured
NOISY = {"prior": "z_t", "decoder": "x_t"}  # each denoiser's noised input


class Dalle2(AfterClip):
    name = "dalle2"
    title = "DALL·E 2 in miniature (CLIP, diffusion prior, diffusion decoder)"
    description = ("CLIP learns one space for pictures and captions; a diffusion prior turns "
                   "a caption's text embedding into an image embedding, and a diffusion "
                   "decoder draws a picture from an image embedding. Decoding a picture's "
                   "own embedding again gives variations of it.")
    roles = (
        Role("image_encoder", "A picture → its CLIP embedding [E]; trained in the CLIP stage, "
                              "frozen after it."),
        Role("text_encoder", "A caption's word ids → its CLIP embedding [E]; trained in the "
                             "CLIP stage, frozen after it."),
        Role("prior", "z_t (a noised image embedding × √E), t and the text embedding → the "
                      "clean image embedding × √E."),
        Role("decoder", "x_t, t and the image embedding (and the caption's words) → ε̂, shaped "
                        "like the picture."),
    )
    feeds = (Feed("prior", "z_t", "the noised image embedding, × √E"),
             Feed("prior", "t", "the step t of each sample"),
             Feed("prior", "text", "the frozen text encoder's normalised embedding"),
             Feed("decoder", "x_t", "the noisy picture"),
             Feed("decoder", "t", "the step t of each sample"),
             Feed("decoder", "embedding", "the frozen image encoder's normalised embedding"),
             Feed("decoder", "tokens", "the caption's per-word features from the frozen text "
                                       "encoder (its Output tokens), zero at the padding and "
                                       "when a picture's embedding is redrawn", required=False))
    params = PARAMS
    live = ("guidance", "sample_steps")
    monitor = ("loss", "min")

    learners = DENOISERS
    shifted = ("decoder", "decoder_shift")
    stage_names = ("CLIP", "prior and decoder")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.image_shape = tuple(self.info.fields[self.field].shape)
        if tuple(self.specs["decoder"]["x_t"].shape) != self.image_shape:
            raise RecipeError(f"the decoder's x_t is {list(self.specs['decoder']['x_t'].shape)},"
                              f" but field {self.field!r} holds pictures of "
                              f"{list(self.image_shape)}")
        widths = {f"the prior's {k}": tuple(self.specs["prior"][k].shape) for k in ("z_t", "text")}
        widths["the decoder's embedding"] = tuple(self.specs["decoder"]["embedding"].shape)
        if len(set(widths.values())) != 1 or len(next(iter(widths.values()))) != 1:
            raise RecipeError("the prior's z_t and text and the decoder's embedding must all "
                              "take one CLIP embedding [E]; they take " +
                              ", ".join(f"{k} {list(v)}" for k, v in widths.items()))
        self.width = widths["the decoder's embedding"][0]
        stray = [s for s in self.fed_inputs("decoder") if s.field != self.caption]
        if stray:
            raise RecipeError(f"the decoder's Input {stray[0].name!r} reads field "
                              f"{stray[0].field!r} from the data; of the data the decoder may "
                              f"read only the captions ({self.caption!r}), which a prompt "
                              "stands for when it draws")
        # What the decoder reads of a caption: the frozen encoder's per-word features, the
        # word ids (a text pathway of its own, as GLIDE's), or both.
        self.said_keys = (("tokens",) if "tokens" in self.specs["decoder"] else ()) + \
            ((self.caption,) if self.fed_inputs("decoder") else ())
        self.scale = embedding_scale(self.width)
        self.cadence = Cadence(o["prompt_accuracy"])

    # --- the frozen encoders -------------------------------------------------------------

    def image_embeddings(self, x: Tensor) -> Tensor:
        return self.embed("image_encoder", {self.field: x.to(self.device)})

    def captions(self, prompts: list[str], generator: torch.Generator) -> dict[str, Tensor]:
        """What the text encoder makes of prompts (``read``).  What a prompt leaves out ("a
        red heart": no size or place) is filled in at random per picture, since the text
        encoder only ever read whole captions; a word the captions never use is refused by
        name (PromptError)."""
        from runtime.prompts import prompt_ids

        ids = []
        for p in prompts:
            options = prompt_captions(p, self.info)
            pick = int(torch.randint(len(options), (1,), generator=generator))
            ids.append(torch.as_tensor(prompt_ids(options[pick], self.length, self.info.vocab)))
        ids = torch.stack(ids)
        return self.read(ids) | {self.caption: ids.to(self.device)}

    def said(self, words: dict[str, Tensor]) -> dict[str, Tensor]:
        """Of what ``captions`` gives, what the decoder reads (``said_keys``)."""
        return {k: words[k] for k in self.said_keys}

    def unsaid(self, n: int) -> dict[str, Tensor]:
        """What the decoder reads of no caption, as it learnt it from the dropped ones:
        zeros (no word features; the padding's word ids)."""
        return {k: torch.zeros(n, self.length, dtype=torch.long, device=self.device)
                if k == self.caption else
                torch.zeros(n, *self.specs["decoder"][k].shape, device=self.device)
                for k in self.said_keys}

    # --- training and validation -----------------------------------------------------------

    def _out(self, role: str, x: Tensor, t: Tensor, cond: dict[str, Tensor], train: bool
             ) -> Tensor:
        replace = {NOISY[role]: x, "t": fill(t, tuple(self.specs[role]["t"].shape)), **cond}
        if train:
            return self.output(role, self.forward(role, {}, True, replace))
        shadow = self.averages[role].shadow if role in self.averages else None
        return self.output(role, run_generator(self.nets[role], shadow or None,
                                               self.inputs(role, {}, replace)))

    def _losses(self, batch, generator, train: bool) -> tuple[Tensor, Tensor]:
        """Per-sample errors of the prior (ẑ_0 against z_0) and the decoder (ε̂ or v̂,
        weighted); with ``train`` off (validation) the steps are spread evenly over the
        chain."""
        o = self.options
        x0 = self._pixels(batch[self.field])
        img, words = self.embed("image_encoder", batch), self.read(batch[self.caption])
        prior, embedding = {"text": words["text"]}, {"embedding": img}
        said = self.said(words | {self.caption: batch[self.caption]})
        if train:  # each condition dropped on its own, for guidance (and for variations)
            prior, embedding = (dropped(c, o["p_uncond"], generator) for c in (prior, embedding))
            said = dropped(said, o["caption_drop"], generator)
        conds = {"prior": prior, "decoder": {**embedding, **said}}
        n = len(x0)
        out = []
        for role, clean in (("prior", img * self.scale), ("decoder", x0)):
            chain = self._chain(role)
            t = (torch.randint(0, chain.steps, (n,), device=x0.device, generator=generator)
                 if train else torch.arange(n, device=x0.device) * chain.steps // n)
            eps = torch.randn(clean.shape, device=x0.device, generator=generator)
            pred = self._out(role, chain.noisy(clean, t, eps), t, conds[role], train).float()
            if role == "prior":
                out.append(F.mse_loss(pred, clean, reduction="none").flatten(1).mean(1))
            else:
                out.append(chain.loss(o["prediction"], o["snr_gamma"], pred, clean, t, eps))
        return out[0], out[1]

    def check(self, batch):
        width = self.embed("image_encoder", batch).shape[1:]
        words = self.read(batch[self.caption])
        if tuple(width) != (self.width,) or tuple(words["text"].shape[1:]) != (self.width,):
            raise RecipeError(f"the prior and the decoder take CLIP embeddings of {self.width} "
                              f"numbers; the encoders make {list(width)}")
        self.check_words(words)
        with torch.no_grad():
            self._losses(batch, torch.Generator(self.device).manual_seed(0), train=False)

    def step(self, ctx, batch):
        self.cadence.done = ctx.step + 1
        return super().step(ctx, batch)

    def eval_batch(self, batch):
        g = torch.Generator(device=self.device).manual_seed(0)
        with torch.no_grad():
            prior, decoder = self._losses(batch, g, train=False)
            img, txt = self.embed("image_encoder", batch), self.embed("text_encoder", batch)
            drawn = self.prior_embeddings(txt, g)
        return {"loss_prior": prior.sum(), "loss_decoder": decoder.sum(),
                "prior_cosine": (drawn * img).sum(), "text_cosine": (txt * img).sum(),
                "n": torch.tensor(float(len(img)), device=img.device)}

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        metrics = {k: float(v) / n for k, v in totals.items() if k != "n"}
        metrics["loss"] = metrics["loss_prior"] + metrics["loss_decoder"]
        if self._measures() and self.cadence.due():
            metrics |= self.prompt_accuracy()
        return metrics, {}

    # --- generating --------------------------------------------------------------------------

    def _denoise(self, role: str, cond: dict[str, Tensor], shape: tuple, scale: float,
                 generator: torch.Generator) -> Tensor:
        """One denoiser's DDIM chain from noise, guided by ``cond`` (zeros: no condition)."""
        chain = self._chain(role)

        def denoise(x, t, conditional):
            out = self._out(role, x, t, guided_conditions(cond, {}, conditional), train=False)
            if role == "prior":
                return eps_from_x0(x, t, out, chain)
            return chain.as_eps(self.options["prediction"], x, t, out.to(x.dtype))

        n = len(next(iter(cond.values())))
        x, _ = generate(guided(denoise, scale), chain, (n, *shape), generator,
                        self.device, "ddim", self.options["sample_steps"],
                        clip=role == "decoder")  # embeddings × √E may pass ±1
        return x

    def prior_embeddings(self, text: Tensor, generator: torch.Generator) -> Tensor:
        """Normalised image embeddings [N, E] the prior draws for text embeddings [N, E]:
        ``candidates`` each, the one nearest the text kept."""
        k = self.options["candidates"]
        drawn = self._denoise("prior", {"text": text.repeat_interleave(k, 0)}, (self.width,),
                              self.options["prior_guidance"], generator)
        return normalised(nearest_candidate(drawn.view(len(text), k, -1), text))

    def decode(self, embedding: Tensor, generator: torch.Generator,
               said: dict[str, Tensor] | None = None) -> Tensor:
        """Pictures [N, C, H, W] in [0, 1] drawn by the decoder from image embeddings (and,
        if it reads a caption, ``said``: what ``said`` picks; none: zeros, no caption, as for
        variations and as the decoder learnt without one)."""
        cond = {"embedding": embedding, **(said or self.unsaid(len(embedding)))}
        x = self._denoise("decoder", cond, self.image_shape, self.options["guidance"],
                          generator)
        return ((x + 1) / 2).clamp(0, 1)

    def draw(self, prompts: list[str], generator: torch.Generator) -> Tensor:
        """Pictures for prompts: text embedding → prior → image embedding → decoder."""
        words = self.captions(prompts, generator)
        return self.decode(self.prior_embeddings(words["text"], generator), generator,
                           self.said(words))

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def _measures(self) -> bool:
        return bool(self.options["prompt_accuracy"]) and "colours" in self.info.extra

    def prompt_accuracy(self, per_prompt: int = ACCURACY_IMAGES) -> dict[str, float]:
        """The share of pictures, ``per_prompt`` per evaluation prompt, whose shape and colour
        the attribute classifier reads as asked."""
        from runtime.attributes import prompt_accuracy
        from runtime.prompts import EVAL_PROMPTS

        prompts = [p for p in EVAL_PROMPTS for _ in range(per_prompt)]
        scores = prompt_accuracy(self.draw(prompts, self._generator(1)).float().cpu(), prompts)
        return {f"prompt_{k}": v for k, v in scores.items() if k in ("colour", "shape", "all")}

    def samples(self, data, step, epoch):
        from runtime.prompts import EVAL_PROMPTS

        texts = list(EVAL_PROMPTS[:PROMPTED])
        images = self.draw([t for t in texts for _ in range(PER_PROMPT)], self._generator(0))
        grid = Samples(step, epoch, "samples per prompt", "images", images.cpu().numpy(), None,
                       {"prompt": "", "prompt_hint": texts[0], "cols": PER_PROMPT,
                        "rows": texts})
        return [grid, *self._variations(data, step, epoch)]

    def _variations(self, data, step, epoch) -> list[Samples]:
        """Validation pictures, each followed by its image embedding decoded from new noise."""
        val = getattr(data, "val", None)
        if val is None or len(val) == 0:
            return []
        x = val[self.field][:VARIED].to(self.device)
        again = self.decode(self.image_embeddings(x).repeat_interleave(VARIATIONS, 0),
                            self._generator(3)).view(len(x), VARIATIONS, *self.image_shape)
        rows = torch.cat([((self._pixels(x) + 1) / 2)[:, None], again], 1)
        return [Samples(step, epoch, "variations: a picture, then its embedding redrawn",
                        "images", rows.flatten(0, 1).clamp(0, 1).cpu().numpy(), None,
                        {"cols": 1 + VARIATIONS, "columns": ["picture", *(
                            f"variation {i}" for i in range(1, VARIATIONS + 1))]})]

    def sample(self, n, generator, prompt=None, temperature=1.0):
        from runtime.prompts import EVAL_PROMPTS

        prompts = [prompt] * n if prompt is not None else \
            [EVAL_PROMPTS[i % len(EVAL_PROMPTS)] for i in range(n)]
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        images = self.draw(prompts, self._generator(seed))  # refuses unknown words by name
        extra = {"prompt": prompt or "", "prompt_hint": EVAL_PROMPTS[0]}
        if prompt is not None and self._measures():
            from runtime.attributes import prompt_accuracy

            scores = prompt_accuracy(images.float().cpu(), prompts)
            extra["figures"] = {f"prompt {k}": v for k, v in scores.items()}
        return Samples(0, 0, f"prompt: {prompt}" if prompt else "samples", "images",
                       images.cpu().numpy(), None if prompt else prompts, extra)

    def translation_source(self) -> str:
        return self.field

    def translate(self, x: Tensor) -> Tensor:
        """A variation of each picture: its CLIP image embedding, decoded from new noise."""
        return self.decode(self.image_embeddings(x), self._generator(0))

    # --- state -------------------------------------------------------------------------------

    def state_dict(self):
        state = {f"ema_{r}": a.state() for r, a in self.averages.items() if a.shadow}
        if state or self.updates:
            state |= {"updates": self.updates, **self.cadence.state()}
        return state

    def load_state_dict(self, state):
        self.updates = int(state.get("updates", 0))
        self.cadence.load(state)
        for role, average in self.averages.items():
            average.load(state.get(f"ema_{role}"), self.nets[role], self.device)
