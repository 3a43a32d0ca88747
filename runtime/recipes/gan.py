"""GAN family: a generator and a discriminator, two networks and two optimizers, alternating
steps; the variants are options of this one recipe.

The discriminator D learns to tell data from fakes; the generator G learns to fool it
(Goodfellow et al. 2014).  ``loss`` picks the game: ``standard`` (G maximises log D(G(z)),
the non-saturating form), ``minimax`` (G minimises log(1 − D(G(z))), the original, whose
gradient vanishes while D wins), ``wgan`` (D is a critic estimating the Wasserstein distance,
kept Lipschitz by clipping its weights; Arjovsky et al. 2017) and ``wgan_gp`` (the same with a
gradient penalty; Gulrajani et al. 2017).  G's Noise inputs are filled here; D's input that
reads ``field`` is fed the real batch or G's output; a Label input in both networks is fed the
batch's labels, so D judges each fake with the label G was given (a conditional GAN).  With
``categorical_codes`` / ``continuous_codes`` it is an InfoGAN (``gan_codes``).  Pictures come
from fixed noise so the user watches the same samples change; with ``ema`` they (and
``sample``) come from a moving average of G's weights, kept as recipe state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import Recipe, RecipeError, Role, noise_like
from runtime.recipes.gan_codes import FEEDS, Codes, Drawn, generator_args
from runtime.recipes.gan_parts import (
    CRITICS,
    PARAMS,
    Recent,
    WeightAverage,
    class_names,
    clip_weights,
    d_loss,
    g_loss,
    gradient_penalty,
    landscape,
    patch_scores,
    per_sample,
    r1_penalty,
    run_generator,
)
from runtime.recipes.units import unnormalise

__all__ = ["GAN"]

SAMPLES = 512  # fixed-noise points shown for 2-D data
IMAGES, COLS = 64, 8  # images in the fixed-noise grid, per row
PER_CLASS, MAX_ROWS = 8, 16  # a conditional grid: samples per class, classes shown


def _seeded(device, seed: int) -> torch.Generator:
    """A generator of its own for a picture: the same noise every time it is drawn."""
    return torch.Generator(device).manual_seed(seed)


class GAN(Recipe):
    name = "gan"
    title = "GAN"
    description = "A generator learns to produce data a discriminator cannot tell from real."
    roles = (
        Role("generator", "Turns noise (and maybe a label or codes) into a fake sample."),
        Role("discriminator", "Says how real a sample looks: one raw score (logit) per "
                              "sample, or a map of them, one per patch (PatchGAN), no "
                              "sigmoid; InfoGAN adds an output Q for the codes."),
    )
    params = PARAMS
    feeds = FEEDS
    tasks = ()  # any data with the field: ring of Gaussians, MNIST images...
    monitor = None  # no validation number says "better" for a GAN; watch the samples

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.field, self.loss = o["field"], o["loss"]
        self.critic = self.loss in CRITICS
        if self.critic and o["r1"] > 0:
            raise RecipeError(f"r1 penalises a discriminator's logits; loss {self.loss!r} "
                              "trains a critic: set r1 to 0, or use gp_weight with wgan_gp")
        if not any(s.block == "Noise" for s in self.compiled["generator"].inputs):
            raise RecipeError(f"the generator {self.names['generator']!r} needs a Noise input")
        if not any(s.field == self.field for s in self.fed_inputs("discriminator")):
            raise RecipeError(f"the discriminator {self.names['discriminator']!r} needs an "
                              f"Input reading field {self.field!r}")
        self.codes = Codes(o["categorical_codes"], o["continuous_codes"], o["info_weight"],
                           o["q_output"])
        self.codes.check_networks(self)
        outputs = self.compiled["discriminator"].outputs
        self.score = next((name for name in outputs if name != o["q_output"]), outputs[0])
        self.label_spec = next((s for s in self.compiled["generator"].inputs
                                if s.block == "LabelInput"), None)
        self.ema = WeightAverage(o["ema"]) if o["ema"] > 0 else None
        self.recent = Recent()  # D's recent beliefs on real and fake, for its warning
        field = self.info.fields.get(self.field)
        self.quality = None
        if o["quality"] and field is not None and len(field.shape) == 3:
            from runtime.quality import Quality  # here: it loads scipy, a slow import

            label = next((k for k, f in self.info.fields.items() if f.kind == "label"), None)
            self.quality = Quality(field=self.field, label=label, count=500)

    def check(self, batch):
        real = batch[self.field]
        drawn = self._draw(real.shape[0], real.device, _seeded(real.device, 0))
        fake = self._generate(batch, drawn, train=False)
        if fake.shape[1:] != real.shape[1:]:
            raise RecipeError(f"the generator makes samples of shape {list(fake.shape[1:])}, "
                              f"but field {self.field!r} is {list(real.shape[1:])}")
        _, q = self._judge(batch, fake, train=False)
        if q is not None:
            self.codes.check_q(q, self.names["discriminator"])

    def _draw(self, n: int, device, generator) -> Drawn | None:
        return self.codes.draw(n, device, generator) if self.codes.on else None

    def _generate(self, batch, drawn: Drawn | None, train=True,
                  noise: torch.Generator | None = None) -> Tensor:
        """G on the batch with ``drawn`` codes; ``noise``: its z from this generator, not the
        run's."""
        replace = self.codes.feed(drawn) if drawn is not None else {}
        if noise is not None:
            n = batch[self.field].shape[0]
            replace |= {s.name: noise_like(s, n, batch[self.field].device, noise)
                        for s in self.compiled["generator"].inputs if s.block == "Noise"}
        out = self.forward("generator", batch, train, replace=replace or None)
        return self.output("generator", out)

    def _judge(self, batch, sample: Tensor, train=True) -> tuple[Tensor, Tensor | None]:
        """D's raw scores: one per sample [n], or a PatchGAN's map of them flattened [n, P]
        (every patch judged, the losses averaged over all); and Q's code guesses [n, K + M]
        (None: codes off)."""
        out = self.forward("discriminator", batch, train, replace={self.field: sample})
        score = patch_scores(self.output("discriminator", out, self.score))
        if not self.codes.on:
            return score, None
        q = self.output("discriminator", out, self.codes.q_output)
        return score, q.reshape(sample.shape[0], -1)

    def _belief(self, score: Tensor) -> Tensor:
        """What D's score says: "real" as a probability, or a critic's raw value."""
        return score.float() if self.critic else torch.sigmoid(score.float())

    def step(self, ctx, batch):
        real = batch[self.field]
        o, weight, extra = self.options, self.codes.weight, {}
        r1 = o["r1"] > 0  # R1 differentiates D at the real samples
        for _ in range(o["d_steps"]):
            drawn = self._draw(real.shape[0], real.device, self.generator)
            fake = self._generate(batch, drawn)
            seen = real.detach().requires_grad_(True) if r1 else real
            d_real = self._judge(batch, seen)[0].float()
            d_fake, q = self._judge(batch, fake.detach())
            loss_d = d_loss(self.loss, d_real, d_fake.float(), o["label_smoothing"])
            if r1:
                penalty = r1_penalty(ctx, per_sample(d_real), seen)
                loss_d = loss_d + o["r1"] / 2 * penalty
                extra["r1"] = penalty.detach()
            if self.loss == "wgan_gp":
                gp = gradient_penalty(ctx, lambda x: per_sample(self._judge(batch, x)[0]),
                                      real, fake, self.generator)
                loss_d = loss_d + o["gp_weight"] * gp
                extra["gp"] = gp.detach()
            if drawn is not None:  # Q shares D's body: it learns in D's step
                loss_d = loss_d + weight * self.codes.per_sample(q, drawn)[0].mean()
            ctx.optimize(loss_d, "discriminator")
            if self.loss == "wgan":
                clip_weights(self.nets["discriminator"], o["clip"])
        d_gen, q = self._judge(batch, fake)
        loss_g = g_loss(self.loss, d_gen.float())
        if drawn is not None:  # … and G learns to make its codes readable
            info, correct = self.codes.per_sample(q, drawn)
            loss_g = loss_g + weight * info.mean()
            extra["info_loss"] = info.mean().detach()
            if correct is not None:
                extra["code_accuracy"] = correct.float().mean()
        ctx.optimize(loss_g, "generator")
        if self.ema is not None:
            self.ema.update(self.nets["generator"], ctx.step)
        # D's mean beliefs, D(x) and D(G(z)): probabilities, or a critic's mean scores
        r, f = self._belief(d_real.detach()).mean(), self._belief(d_fake.detach()).mean()
        if self.critic:
            extra["wasserstein"] = r - f  # the critic's estimate of the distance
        else:
            self.recent.update(r, f)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": r,
                "d_fake": f, **extra}

    def eval_batch(self, batch):
        real = batch[self.field]
        n = real.shape[0]
        # Fixed codes of its own: validation must not advance the run's noise stream, or a
        # run resumed after a validation would draw other noise than an unbroken one.
        gen = _seeded(real.device, 4321)
        drawn = self._draw(n, real.device, gen)
        fake = self._generate(batch, drawn, False, gen)
        d_real = self._judge(batch, real, train=False)[0].float()
        d_fake, q = self._judge(batch, fake, train=False)
        d_fake = d_fake.float()
        out = {"n": torch.tensor(n, device=real.device),  # sums: means over the whole split
               "d_real": per_sample(self._belief(d_real)).sum(),
               "d_fake": per_sample(self._belief(d_fake)).sum()}
        if not self.critic:  # a PatchGAN's accuracy: the share of its patches judged right
            right = per_sample((d_real > 0).float()) + per_sample((d_fake <= 0).float())
            out |= {"loss_d": d_loss(self.loss, d_real, d_fake) * n,
                    "loss_g": g_loss(self.loss, d_fake) * n, "d_accuracy": right.sum()}
        if drawn is not None:
            info, correct = self.codes.per_sample(q, drawn)
            out["info_loss"] = info.sum()
            if correct is not None:
                out["code_accuracy"] = correct.sum()
        return out

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        metrics = {k: float(v) / n for k, v in totals.items() if k != "n"}
        if self.critic:  # E[D(real)] − E[D(fake)] on held-out data: the Wasserstein estimate
            metrics |= {"wasserstein": metrics["d_real"] - metrics["d_fake"],
                        "loss_g": -metrics["d_fake"]}
        else:
            metrics["d_accuracy"] /= 2  # of 2n judgements
        return metrics, {}

    # --- state: the weight average, D's recent beliefs, the quality history ------------------

    def state_dict(self):
        state = {}
        if self.ema is not None and self.ema.shadow:
            state["ema"] = self.ema.state()
        if self.recent.value is not None:
            state["recent"] = self.recent.value.clone()
        if self.quality is not None:
            state["quality"] = self.quality.state_dict()
        return state

    def load_state_dict(self, state):
        # What the settings now turn off (ema, quality) is ignored: nothing would use it.
        if self.ema is not None:
            self.ema.load(state.get("ema"), self.nets["generator"], self.device)
        self.recent.load(state.get("recent"), self.device)
        if self.quality is not None and "quality" in state:
            self.quality.load_state_dict(state["quality"])

    # --- pictures --------------------------------------------------------------------------

    def _make(self, n: int, noise: torch.Generator, labels: Tensor | None = None,
              drawn: Drawn | None = None, batch=None, cells: Tensor | None = None,
              temperature: float = 1.0) -> Tensor:
        """``n`` fakes of G (its weight average when there is one) in eval mode: z from
        ``noise`` (``cells``: sample i takes the cells[i]-th z), ``labels`` (else the
        batch's), the codes."""
        args = generator_args(self, n, noise, labels, drawn, batch, cells, temperature)
        shadow = self.ema.shadow if self.ema is not None else None
        out = run_generator(self.nets["generator"], shadow, args)
        return self.output("generator", out).float()

    def _images(self, fake: Tensor):
        return unnormalise(self.info, self.field, fake).clamp(0, 1).cpu().numpy()

    def _classes(self) -> list[str]:
        return class_names(int(self.label_spec.params.get("num_classes", 2)),
                           self.info.class_names)

    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []  # file-backed parts have no cheap random access to show
        real = val[self.field]
        dev = real.device
        if real.dim() == 2 and real.shape[1] == 2:
            batch = {k: v[:SAMPLES] for k, v in val.items()}
            n = batch[self.field].shape[0]
            fake = self._make(n, _seeded(dev, 1234), None, self._draw(n, dev, _seeded(dev, 99)),
                              batch)
            return [Samples(step, epoch, "generated points", "points", fake.cpu().numpy(),
                            None, {"real": batch[self.field].float().cpu().numpy()}),
                    landscape(lambda b, x: self._judge(b, x, train=False)[0], batch,
                              batch[self.field], fake, self.critic, step, epoch)]
        if real.dim() != 4:
            return []
        events = [self._grid(dev, step, epoch)]
        if self.codes.on:
            def traverse(n: int, drawn: Drawn, cells: Tensor):  # a conditional G: class 0
                labels = None if self.label_spec is None else torch.zeros_like(cells)
                return self._images(self._make(n, _seeded(dev, 1234), labels, drawn,
                                               cells=cells))

            events += self.codes.traversals(traverse, dev, step, epoch)
        if self.quality is not None:
            events += self._quality(data, dev, step, epoch)
        return events

    def _grid(self, dev, step, epoch) -> Samples:
        """The fixed-noise grid; conditional: a row per class, the same z down a column, so
        a row shows the class and a column one style."""
        if self.label_spec is None:
            n, labels, cells, extra = IMAGES, None, None, {"cols": COLS}
        else:
            names = self._classes()[:MAX_ROWS]
            n = len(names) * PER_CLASS
            cells = torch.arange(n, device=dev) % PER_CLASS
            labels = torch.arange(n, device=dev).div(PER_CLASS, rounding_mode="floor")
            # It answers prompts (a class): the Samples tab offers its prompt box.
            extra = {"cols": PER_CLASS, "rows": names, "prompt": "",
                     "prompt_hint": f"a class, e.g. {names[-1]}"}
        fake = self._make(n, _seeded(dev, 1234), labels, self._draw(n, dev, _seeded(dev, 99)),
                          cells=cells)
        return Samples(step, epoch, "generated images", "images", self._images(fake), None,
                       extra)

    def _quality(self, data, dev, step, epoch) -> list:
        """Fréchet distance, diversity and classes of ``count`` fakes from fixed noise (the
        classes in turn for a conditional G), and a warning when D has won outright."""
        count = self.quality.count
        labels = (None if self.label_spec is None
                  else torch.arange(count, device=dev) % len(self._classes()))
        fake = self._make(count, _seeded(dev, 2024), labels,
                          self._draw(count, dev, _seeded(dev, 2025)))
        events = self.quality.events(fake, data, step, epoch)
        recent = self.recent.read()  # None for a critic: its scores are no probabilities
        warning = recent and self.quality.discriminator_warning(*recent, step)
        return events + ([warning] if warning else [])

    # --- layerloom sample ------------------------------------------------------------------

    def sample(self, n, generator, prompt=None, temperature=1.0):
        """``n`` fakes from noise drawn with ``generator`` (on the CPU, so a seed gives the
        same samples on any device), scaled by ``temperature`` (below 1: closer to the
        typical sample, the truncation trick), labels and codes as ``prompt`` says."""
        labels, drawn, names = self.codes.prompted(n, prompt, self, generator)
        fake = self._make(n, generator, labels, drawn, temperature=temperature)
        if fake.dim() == 2 and fake.shape[1] == 2:
            points = unnormalise(self.info, self.field, fake).cpu().numpy()
            return Samples(0, 0, "generated points", "points", points, names)
        if fake.dim() == 4:
            # Unprompted, a conditional G makes the classes in turn: one row of each.
            rows = {"cols": len(self._classes())} if labels is not None and prompt is None \
                else {}
            return Samples(0, 0, "generated images", "images", self._images(fake), names, rows)
        raise RecipeError(f"the generator makes samples of shape {list(fake.shape[1:])}: "
                          "only 2-D points and images [C, H, W] can be written")
