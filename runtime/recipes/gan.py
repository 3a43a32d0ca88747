"""GAN: a generator and a discriminator, two networks and two optimizers, alternating steps.

The discriminator D learns to tell data from fakes; the generator G learns to fool it
(Goodfellow et al. 2014, with the non-saturating generator loss −log D(G(z)) that keeps
gradients alive early on).  G's Noise inputs are filled here with z ~ N(0, 1) or U(−1, 1) as
each Noise block says; D's input that reads the data field ``field`` is fed the real batch or
G's output.  Samples come from a fixed noise batch so the user watches the same points move.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import Recipe, RecipeError, Role, noise_like

__all__ = ["GAN"]

SAMPLES = 512  # fixed-noise points (2-D) or images shown per sample event
IMAGES = 64


class GAN(Recipe):
    name = "gan"
    title = "GAN"
    description = "A generator learns to produce data a discriminator cannot tell from real."
    roles = (
        Role("generator", "Turns noise (and maybe a label) into a fake sample."),
        Role("discriminator", "Says how real a sample looks: one logit per sample."),
    )
    params = (
        Param("field", "str", "x", help="The data field the generator imitates."),
        Param("d_steps", "int", 1, min=1, max=10,
              help="Discriminator updates per generator update."),
        Param("label_smoothing", "float", 0.0, min=0.0, max=0.3,
              help="Train D towards 1 − this on real data (one-sided smoothing)."),
    )
    tasks = ()  # any data with the field: ring of Gaussians, MNIST images...
    monitor = None  # no validation number says "better" for a GAN; watch the samples

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.field = self.options["field"]
        if not any(s.block == "Noise" for s in self.compiled["generator"].inputs):
            raise RecipeError(f"the generator {self.names['generator']!r} needs a Noise input")
        if not any(s.field == self.field for s in self.fed_inputs("discriminator")):
            raise RecipeError(f"the discriminator {self.names['discriminator']!r} needs an "
                              f"Input reading field {self.field!r}")
        self._fixed: list[Tensor] | None = None

    def check_output(self, fake: Tensor, real: Tensor) -> None:
        if fake.shape[1:] != real.shape[1:]:
            raise RecipeError(f"the generator makes samples of shape {list(fake.shape[1:])}, "
                              f"but field {self.field!r} is {list(real.shape[1:])}")

    def check(self, batch):
        fake = self._generate(batch, train=False)
        self.check_output(fake, batch[self.field])
        self._judge(batch, fake, train=False)

    def _generate(self, batch, train=True) -> Tensor:
        return self.output("generator", self.forward("generator", batch, train))

    def _judge(self, batch, sample: Tensor, train=True) -> Tensor:
        out = self.forward("discriminator", batch, train, replace={self.field: sample})
        return self.output("discriminator", out).reshape(sample.shape[0], -1)[:, 0]

    def step(self, ctx, batch):
        real = batch[self.field]
        ones = torch.full((real.shape[0],), 1.0 - self.options["label_smoothing"],
                          device=real.device)
        zeros = torch.zeros(real.shape[0], device=real.device)
        for _ in range(self.options["d_steps"]):
            fake = self._generate(batch)
            d_real = self._judge(batch, real).float()
            d_fake = self._judge(batch, fake.detach()).float()
            loss_d = (F.binary_cross_entropy_with_logits(d_real, ones)
                      + F.binary_cross_entropy_with_logits(d_fake, zeros))
            ctx.optimize(loss_d, "discriminator")
        d_gen = self._judge(batch, fake).float()
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        ctx.optimize(loss_g, "generator")
        return {
            "loss_d": loss_d,
            "loss_g": loss_g,
            "d_real": torch.sigmoid(d_real.detach()).mean(),  # D's belief: real looks real
            "d_fake": torch.sigmoid(d_fake.detach()).mean(),  # … and fakes look real
        }

    def eval_batch(self, batch):
        real = batch[self.field]
        fake = self._generate(batch, train=False)
        d_real = self._judge(batch, real, train=False).float()
        d_fake = self._judge(batch, fake, train=False).float()
        return {
            "loss_d": F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real),
                                                         reduction="sum")
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake),
                                                 reduction="sum"),
            "loss_g": F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake),
                                                         reduction="sum"),
            "d_accuracy": (d_real > 0).sum() + (d_fake <= 0).sum(),
            "n": torch.tensor(real.shape[0], device=real.device),
        }

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        return {"loss_d": float(totals["loss_d"]) / n, "loss_g": float(totals["loss_g"]) / n,
                "d_accuracy": float(totals["d_accuracy"]) / (2 * n)}, {}

    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []  # file-backed parts have no cheap random access to show
        real = val[self.field]
        count = SAMPLES if real.dim() == 2 else IMAGES
        batch = {k: v[:count] for k, v in val.items()}
        if self._fixed is None:  # the same z every time, drawn from its own seed
            gen = torch.Generator(device=real.device).manual_seed(1234)
            self._fixed = [noise_like(s, batch[self.field].shape[0], real.device, gen)
                           for s in self.compiled["generator"].inputs if s.block == "Noise"]
        fixed = iter(self._fixed)
        args = [next(fixed) if s.block == "Noise" else batch[s.field]
                for s in self.compiled["generator"].inputs]
        with torch.no_grad():
            fake = self.output("generator", self.nets["generator"](*args)).float()
        if fake.dim() == 2 and fake.shape[1] == 2:
            events = [Samples(step, epoch, "generated points", "points", fake.cpu().numpy(),
                              None, {"real": batch[self.field].float().cpu().numpy()})]
            events += self._landscape(batch, fake, step, epoch)
            return events
        if fake.dim() == 4:
            images = fake
            if self.info.mean is not None and self.info.std is not None:
                m = torch.tensor(self.info.mean, device=fake.device).view(1, -1, 1, 1)
                s = torch.tensor(self.info.std, device=fake.device).view(1, -1, 1, 1)
                images = images * s + m
            return [Samples(step, epoch, "generated images", "images",
                            images.clamp(0, 1).cpu().numpy())]
        return []

    def _landscape(self, batch, fake, step, epoch) -> list:
        """D's belief "this is real" over the plane around the data: where G is pushed."""
        real = batch[self.field].float()
        both = torch.cat([real, fake])
        lo, hi = both.min(0).values, both.max(0).values
        pad = (hi - lo) * 0.1 + 1e-3
        lo, hi = lo - pad, hi + pad
        size = 64
        xs = torch.linspace(float(lo[0]), float(hi[0]), size, device=real.device)
        ys = torch.linspace(float(lo[1]), float(hi[1]), size, device=real.device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx.flatten(), gy.flatten()], 1)
        others = {k: v[:1].expand(grid.shape[0], *v.shape[1:]) for k, v in batch.items()}
        with torch.no_grad():
            p = torch.sigmoid(self._judge(others, grid, train=False)).reshape(size, size)
        return [Samples(step, epoch, "discriminator", "heatmap", p.cpu().numpy(), None,
                        {"extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]})]
