"""DALL·E in miniature (Ramesh et al. 2021): a VQ-VAE writes each picture as a short map of
codes; a Transformer learns to continue a caption with those codes, as a language model
continues a text; to draw, it writes the codes for a typed prompt one at a time and the
VQ-VAE's decoder paints them.

Three networks.  ``encoder`` and ``decoder`` are a VQ-VAE (as the ``vqvae`` recipe has them:
the encoder ends in a VectorQuantiser, the decoder's Input has source ``recipe`` and field
``latents``).  ``prior`` reads the caption (an Input of the data's tokens) and the code map
laid out row by row (an Input with source ``recipe`` and field ``codes``), joins them into
one sequence, text first, and must be causal: its output at step t may depend on steps ≤ t
only.  It outputs scores over the K codes at every step; the step before code i scores it.

Two stages.  ``vq-vae``: the ``vqvae`` recipe trains the encoder and decoder (the prior
waits).  ``prior``: both are frozen and run in eval mode; each batch's pictures become codes
(no gradient) and the prior learns them by cross-entropy with teacher forcing, so every code
of every picture is a training target at once.  Validation reports that loss as
``loss_prior`` (the VQ-VAE's stage reports its own ``loss``), the share of codes guessed
right, and on the shapes data the prompt accuracy of pictures drawn from the evaluation
prompts (shape and colour as an attribute classifier reads them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.events import Samples
from runtime.recipes.base import Feed, Recipe, RecipeError, Role, Stage, eval_mode
from runtime.recipes.dalle_parts import write_codes
from runtime.recipes.units import unnormalise
from runtime.recipes.vqvae import VQVAE, code_colours

__all__ = ["Dalle"]

PROMPTED = 8  # prompts in the live grid
PER_PROMPT = 6  # pictures per prompt there
CODE_ROWS = 4  # pictures shown beside the code maps they were painted from
ACCURACY_IMAGES = 2  # pictures per evaluation prompt at each validation


class Dalle(Recipe):
    name = "dalle"
    title = "DALL·E in miniature (VQ-VAE, then a Transformer over text and image tokens)"
    description = ("A VQ-VAE turns pictures into maps of codes; a causal Transformer learns "
                   "to continue a caption with its picture's codes, and draws a prompt by "
                   "writing codes one at a time for the VQ-VAE's decoder to paint.")
    roles = (
        Role("encoder", "An image → its latents, ending in a VectorQuantiser block."),
        Role("decoder", "Quantised latents → the image; its Input has source 'recipe' and "
                        "field 'latents'."),
        Role("prior", "The caption's tokens and the codes (an Input with source 'recipe' and "
                      "field 'codes') → scores over the codes at every step, text first, "
                      "causal."),
    )
    feeds = (Feed("decoder", "latents", "the quantised latents of the codes"),
             Feed("prior", "codes", "the picture's codes, row by row"))
    params = (
        Param("field", "str", "x", help="The data field of the pictures (pixels in [0, 1]: "
                                        "the dataset's normalize off)."),
        Param("vqvae_share", "float", 0.3, min=0.05, max=0.95,
              help="Share of the run's epochs spent training the VQ-VAE; the prior learns "
                   "in the rest."),
        Param("temperature", "float", 1.0, min=0.0, max=5.0,
              help="Sampling temperature of the codes: 0 always takes the likeliest, 1 draws "
                   "from the prior's own probabilities. Changes apply live."),
        Param("top_k", "int", 0, min=0, max=65_536,
              help="Draw each code among the k likeliest only (0: among all). Changes "
                   "apply live."),
        Param("prompt_accuracy", "bool", True,
              help="On the shapes data: at each validation, draw two pictures per evaluation "
                   "prompt and report how many have the shape and colour asked."),
    )
    live = ("temperature", "top_k")
    # Not "loss": the VQ-VAE's stage reports that, and one curve must not join the two.
    monitor = ("loss_prior", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.field = self.options["field"]
        # The VQ-VAE's own recipe checks the pair and encodes and decodes for us.
        self.vqvae = VQVAE({r: self.compiled[r] for r in ("encoder", "decoder")}, self.info,
                           {"field": self.field},
                           {r: self.names[r] for r in ("encoder", "decoder")}, self.others)
        self.vq = self.vqvae.vq
        self.k = self.vq.codebook.num_embeddings
        latents = tuple(self.vqvae.latents_spec.shape)
        self.code_shape = latents[1:] if self.vq.axis == 1 else latents[:-1]
        self.length = math.prod(self.code_shape)
        text = [s for s in self.fed_inputs("prior") if s.kind == "index"]
        if len(text) != 1 or len(self.fed_inputs("prior")) != 1:
            raise RecipeError(f"the prior {self.names['prior']!r} reads one caption from the "
                              "data (an Input of token ids)")
        self.caption = text[0].field
        self.text_length = text[0].shape[0] if text[0].shape else None
        if not isinstance(self.text_length, int):
            raise RecipeError(f"the prior's caption input {text[0].name!r} needs a fixed "
                              "length (the captions' length)")
        codes = next(s for s in self.recipe_inputs("prior") if s.field == "codes")
        width = codes.shape[0] if len(codes.shape) == 1 else None
        if len(codes.shape) != 1 or (isinstance(width, int) and width != self.length):
            raise RecipeError(
                f"the prior's input {codes.name!r} takes {list(codes.shape)} codes, but the "
                f"VQ-VAE writes {'×'.join(map(str, self.code_shape))} = {self.length} per "
                f"picture: give it shape [{self.length}] (or a symbolic length)")
        self.grow = not isinstance(width, int)  # any length: drawing feeds what is written

    def stages(self):
        return [Stage("vq-vae", share=self.options["vqvae_share"], recipe="vqvae",
                      params={"field": self.field}, train={"prior": ()}),
                Stage("prior", train={"encoder": (), "decoder": ()})]

    # --- the networks --------------------------------------------------------------------

    def codes_of(self, x: Tensor) -> Tensor:
        """The frozen VQ-VAE's codes of pictures ``x``, [N, L] row by row; eval mode, so the
        quantiser neither tracks usage nor restarts codes."""
        with eval_mode([self.nets["encoder"]]), torch.no_grad():
            self.vqvae.encode({}, x, train=False)
            return self.vq.codes.reshape(x.shape[0], -1)

    def code_logits(self, caption: Tensor, codes: Tensor, train: bool = True) -> Tensor:
        """[N, M, K] for codes [N, M]: at each code's place, the prior's scores for it, read
        one step early (the caption's last step scores the first code; the step before a
        code has seen only what comes before it)."""
        logits = self.output("prior", self.forward(
            "prior", {}, train, replace={self.caption: caption, "codes": codes}))
        start = self.text_length - 1
        return logits[:, start:start + codes.shape[1]]

    def paint(self, codes: Tensor) -> Tensor:
        """Pictures in [0, 1] from codes [N, L], through the decoder (eval mode, no grad)."""
        with eval_mode([self.nets["decoder"]]), torch.no_grad():
            latents = self.vq.lookup(codes.view(-1, *self.code_shape))
            out = self.vqvae.decode({}, latents, train=False)
        return unnormalise(self.info, self.field, out.float()).clamp(0, 1)

    def check(self, batch):
        self.vqvae.check(batch)
        codes = self.codes_of(batch[self.field])
        logits = self.output("prior", self.forward(
            "prior", {}, False, replace={self.caption: batch[self.caption], "codes": codes}))
        want = (self.text_length + self.length, self.k)
        if logits.dim() != 3 or tuple(logits.shape[1:]) != want:
            raise RecipeError(
                f"the prior {self.names['prior']!r} outputs {list(logits.shape[1:])} per "
                f"sample; it must score the {self.k} codes at each of the {want[0]} steps of "
                f"caption and codes: {list(want)} (a TimeDistributedLinear of {self.k} units)")

    # --- training and validation -----------------------------------------------------------

    def step(self, ctx, batch):
        codes = self.codes_of(batch[self.field])
        logits = self.code_logits(batch[self.caption], codes)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), codes.flatten())
        ctx.optimize(loss, "prior")
        right = (logits.detach().argmax(-1) == codes).float().mean()
        return {"loss_prior": loss.detach(), "accuracy": right}

    def eval_batch(self, batch):
        codes = self.codes_of(batch[self.field])
        logits = self.code_logits(batch[self.caption], codes, train=False)
        return {"loss": F.cross_entropy(logits.flatten(0, 1).float(), codes.flatten(),
                                        reduction="sum"),
                "right": (logits.argmax(-1) == codes).sum(),
                "n": torch.tensor(float(codes.numel()), device=codes.device)}

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        metrics = {"loss_prior": float(totals["loss"]) / n,
                   "accuracy": float(totals["right"]) / n}
        metrics["perplexity"] = math.exp(min(metrics["loss_prior"], 50.0))
        if self._measures():
            metrics |= self.prompt_accuracy()
        return metrics, {}

    # --- drawing ---------------------------------------------------------------------------

    def captions(self, prompts: list[str]) -> Tensor:
        """The prompts as caption ids [N, T]; PromptError names words the vocabulary lacks."""
        from runtime.prompts import prompt_ids

        rows = [torch.as_tensor(prompt_ids(p, self.text_length, self.info.vocab))
                for p in prompts]
        return torch.stack(rows).long().to(self.device)

    def draw(self, caption: Tensor, generator: torch.Generator,
             temperature: float | None = None) -> tuple[Tensor, Tensor]:
        """(pictures in [0, 1], their codes) for caption ids [N, T], the codes written by the
        prior one at a time."""
        o = self.options
        t = o["temperature"] if temperature is None else temperature
        with eval_mode([self.nets["prior"]]), torch.no_grad():
            codes = write_codes(lambda c: self.code_logits(caption, c, train=False),
                                len(caption), self.length, t, o["top_k"], generator,
                                self.device, self.grow)
        return self.paint(codes), codes

    def _prompts(self) -> list[str]:
        from runtime.prompts import EVAL_PROMPTS

        return list(EVAL_PROMPTS)

    def _measures(self) -> bool:
        """Prompt accuracy is measured when asked for, on the shapes data."""
        return bool(self.options["prompt_accuracy"] and "colours" in self.info.extra)

    def prompt_accuracy(self, per_prompt: int = ACCURACY_IMAGES) -> dict[str, float]:
        """Draw ``per_prompt`` pictures for each evaluation prompt; the share whose shape and
        colour (and both, ``all`` with the rest the prompt states) read as asked."""
        from runtime.attributes import prompt_accuracy
        from runtime.prompts import parse_prompt

        texts = [t for t in self._prompts() for _ in range(per_prompt)]
        images, _ = self.draw(self.captions(texts), torch.Generator().manual_seed(1))
        scores = prompt_accuracy(images.cpu(), [parse_prompt(t) for t in texts])
        return {f"prompt_{k}": v for k, v in scores.items() if k in ("colour", "shape", "all")}

    def samples(self, data, step, epoch):
        texts = self._prompts()[:PROMPTED]
        g = torch.Generator().manual_seed(0)
        images, codes = self.draw(self.captions([t for t in texts for _ in range(PER_PROMPT)]),
                                  g)
        grid = Samples(step, epoch, "samples per prompt", "images", images.cpu().numpy(), None,
                       {"prompt": "", "prompt_hint": texts[0], "cols": PER_PROMPT,
                        "rows": texts})
        events = [grid]
        if len(self.code_shape) == 2 and images.shape[1] in (1, 3):
            first = slice(0, CODE_ROWS * PER_PROMPT, PER_PROMPT)  # one per prompt
            maps = code_colours(codes[first].view(-1, *self.code_shape), self.k,
                                images.shape[-2:])
            pair = torch.stack([maps, images[first].expand(-1, 3, -1, -1)], 1).flatten(0, 1)
            events.append(Samples(step, epoch, "codes written → picture", "images",
                                  pair.cpu().numpy(), None,
                                  {"cols": 2, "columns": ["codes", "picture"],
                                   "rows": texts[:CODE_ROWS]}))
        return events

    def sample(self, n, generator, prompt=None, temperature=1.0):
        from runtime.prompts import parse_prompt

        if prompt is not None:
            parse_prompt(prompt, self.info.vocab)  # names the words the vocabulary lacks
            texts = [prompt] * n
        else:  # no prompt: the evaluation prompts in turn
            texts = [self._prompts()[i % len(self._prompts())] for i in range(n)]
        images, _ = self.draw(self.captions(texts), generator, temperature)
        extra = {"prompt": prompt or "", "prompt_hint": self._prompts()[0]}
        if prompt is not None and self._measures():
            from runtime.attributes import prompt_accuracy

            scores = prompt_accuracy(images.cpu(), [parse_prompt(prompt)] * n)
            extra["figures"] = {f"prompt {k}": v for k, v in scores.items()}
        return Samples(0, 0, f"prompt: {prompt}" if prompt else "samples", "images",
                       images.cpu().numpy(), None if prompt else texts, extra)
