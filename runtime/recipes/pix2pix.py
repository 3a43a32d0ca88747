"""Pix2Pix (Isola et al. 2017): image-to-image translation learnt from pairs.

The generator G (a U-Net) turns a source picture x (outlines, a grey photo, a mask) into an
image; the discriminator D (a PatchGAN) sees the source beside an image, the real target or
G's output, and answers with a map of logits, one per patch, "real pair" or "fake pair".  D
has two Inputs: one reads ``field`` (the source, from the data) and one reads ``target``,
which this recipe fills with G's output when it asks about a fake; a Concat inside D puts
them side by side, so the conditioning is on the canvas, not hidden in the recipe.

G's loss is the non-saturating adversarial loss averaged over D's patches plus
λ·L1(G(x), y): the L1 term gets the colours and layout right, the adversarial term the
sharpness that L1 alone blurs away.  D's loss is halved, as in the paper, so it learns
slower than G.  Validation reports the L1 distance on the held-out pairs (``loss_l1``, lower
is better: the run's "best"); with every picture, the Fréchet distance of the translations of
500 held-out sources to their targets, in a small classifier's features, says whether the
outputs look like targets (L1 alone rewards a safe blur).  ``translate`` serves
``layerloom sample --input``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.frechet_curves import FrechetHistory, Generated, label_field, quality_params
from runtime.recipes.base import Recipe, RecipeError, Role, eval_mode
from runtime.recipes.gan_parts import d_loss, g_loss, patch_scores, per_sample
from runtime.recipes.units import unnormalise

__all__ = ["Pix2Pix", "as_rgb"]

SHOWN = 8  # validation pairs in the live view, one per column
QUALITY = 500  # held-out translations compared with their targets by the Fréchet distance


def as_rgb(images: Tensor, channels: int) -> Tensor:
    """Grey images repeated to ``channels`` (3) so they sit in one grid with colour ones."""
    return images.expand(-1, channels, -1, -1) if images.shape[1] == 1 < channels else images


class Pix2Pix(Recipe):
    name = "pix2pix"
    title = "Pix2Pix"
    description = ("A generator translates source pictures into target images, taught by L1 "
                   "to the true target and by a patch discriminator that judges the pair.")
    roles = (
        Role("generator", "Turns the source (Input reading the source field) into an image "
                          "of the target's shape, e.g. a U-Net."),
        Role("discriminator", "Sees the source and an image (two Inputs: the source field and "
                              "the target field) and gives raw logits, one or a map of them "
                              "(PatchGAN), no sigmoid."),
    )
    params = (
        Param("field", "str", "x", help="The data field with the source picture."),
        Param("target", "str", "target", help="The data field with the true image; the "
              "discriminator's Input reading it gets G's output for the fake pairs."),
        Param("l1_weight", "float", 100.0, min=0.0, max=10000.0,
              help="λ of λ·L1(G(x), target) in the generator's loss (100 in the paper). 0: "
                   "the adversarial loss alone, sharp but wrong colours; a large λ with no "
                   "discriminator would be plain regression, right but blurry."),
        *quality_params("500 held-out translations to their targets"),
    )
    tasks = ()
    monitor = ("loss_l1", "min")  # the distance to the true targets on held-out pairs

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source, self.target = self.options["field"], self.options["target"]
        self.l1_weight = self.options["l1_weight"]
        if not any(s.field == self.source for s in self.fed_inputs("generator")):
            raise RecipeError(f"the generator {self.names['generator']!r} needs an Input "
                              f"reading the source field {self.source!r}")
        fed = {s.field for s in self.fed_inputs("discriminator")}
        missing = [f for f in (self.source, self.target) if f not in fed]
        if missing:
            raise RecipeError(f"the discriminator {self.names['discriminator']!r} needs "
                              f"Inputs reading {self.source!r} (the source) and "
                              f"{self.target!r} (the image it judges); it lacks "
                              f"{', '.join(map(repr, missing))}")
        self.fid = FrechetHistory(label_field(self.info, self.options["label"]), QUALITY,
                                  "Fréchet distance to the targets")

    def check(self, batch):
        fake = self._generate(batch, train=False)
        real = batch[self.target]
        if fake.shape[1:] != real.shape[1:]:
            raise RecipeError(f"the generator makes images of shape {list(fake.shape[1:])}, "
                              f"but field {self.target!r} is {list(real.shape[1:])}")
        self._judge(batch, fake, train=False)

    def _generate(self, batch, train=True) -> Tensor:
        return self.output("generator", self.forward("generator", batch, train))

    def _judge(self, batch, image: Tensor, train=True) -> Tensor:
        """D's logits for (source, image): [n] or a patch map flattened to [n, P]."""
        out = self.forward("discriminator", batch, train, replace={self.target: image})
        return patch_scores(self.output("discriminator", out))

    def l1(self, fake: Tensor, real: Tensor) -> Tensor:
        """Mean absolute difference per sample [n], in the networks' units."""
        return (fake.float() - real.float()).abs().flatten(1).mean(1)

    def step(self, ctx, batch):
        real = batch[self.target]
        fake = self._generate(batch)
        d_real = self._judge(batch, real).float()
        d_fake = self._judge(batch, fake.detach()).float()
        loss_d = 0.5 * d_loss("standard", d_real, d_fake)
        ctx.optimize(loss_d, "discriminator")
        adv = g_loss("standard", self._judge(batch, fake).float())
        l1 = self.l1(fake, real).mean()
        loss_g = adv + self.l1_weight * l1
        ctx.optimize(loss_g, "generator")
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "loss_g_adv": adv.detach(), "loss_l1": l1.detach(),
                "d_real": torch.sigmoid(d_real.detach()).mean(),
                "d_fake": torch.sigmoid(d_fake.detach()).mean()}

    def eval_batch(self, batch):
        real = batch[self.target]
        fake = self._generate(batch, train=False)
        d_real = self._judge(batch, real, train=False).float()
        d_fake = self._judge(batch, fake, train=False).float()
        n = real.shape[0]
        return {"n": torch.tensor(n, device=real.device), "loss_l1": self.l1(fake, real).sum(),
                "d_real": per_sample(torch.sigmoid(d_real)).sum(),
                "d_fake": per_sample(torch.sigmoid(d_fake)).sum(),
                "d_accuracy": (per_sample((d_real > 0).float())
                               + per_sample((d_fake <= 0).float())).sum() / 2}

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        return {k: float(v) / n for k, v in totals.items() if k != "n"}, {}

    # --- pictures and translation ----------------------------------------------------------

    @torch.no_grad()
    def _translated(self, batch) -> Tensor:
        with eval_mode(self.nets.values()):
            fake = self._generate(batch, train=False).float()
        return unnormalise(self.info, self.target, fake).clamp(0, 1)

    def translation_source(self) -> str:
        return self.source

    def translate(self, x: Tensor) -> Tensor:
        """G's images for sources ``x`` [N, C, H, W] in the networks' units; pixels in
        [0, 1]."""
        return self._translated({self.source: x.to(self.device)})

    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []
        batch = {k: v[:SHOWN].to(self.device) for k, v in val.items()}
        fake = self._translated(batch)
        c = fake.shape[1]
        source = as_rgb(unnormalise(self.info, self.source, batch[self.source].float()), c)
        real = unnormalise(self.info, self.target, batch[self.target].float())
        grid = torch.cat([source.clamp(0, 1), fake, real.clamp(0, 1)])
        events = [Samples(step, epoch, "source / translation / target", "images",
                          grid.cpu().numpy(), None,
                          {"cols": fake.shape[0], "rows": ["input", "output", "target"]})]
        if self.options["quality"]:
            events += self.fid.events({"translations": Generated(
                self._many(val, QUALITY), data, self.target)}, step, epoch)
        return events

    @torch.no_grad()
    def _many(self, val: TensorData, n: int, batch: int = 100) -> Tensor:
        """G's outputs for the first ``n`` held-out sources, in the networks' units."""
        out = []
        with eval_mode(self.nets.values()):
            for i in range(0, min(n, len(val)), batch):
                part = {self.source: val[self.source][i:min(i + batch, n)].to(self.device)}
                out.append(self._generate(part, train=False).float())
        return torch.cat(out)

    # --- state: the Fréchet distances so far ---------------------------------------------

    def state_dict(self):
        return {"fid": self.fid.state_dict()}

    def load_state_dict(self, state):
        self.fid.load_state_dict(state.get("fid", {}))
