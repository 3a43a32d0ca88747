"""GAN: a generator and a discriminator, two networks and two optimizers, alternating steps.

The discriminator D learns to tell data from fakes; the generator G learns to fool it
(Goodfellow et al. 2014, with the non-saturating generator loss −log D(G(z)) that keeps
gradients alive early on).  With ``loss = wgan_gp`` D is a critic whose raw scores estimate
the Wasserstein distance, kept 1-Lipschitz by a gradient penalty (Gulrajani et al. 2017).
G's Noise inputs are filled here with z ~ N(0, 1) or U(−1, 1) as each Noise block says; D's
input that reads the data field ``field`` is fed the real batch or G's output; a Label input
of G is fed the batch's labels (a conditional GAN).  Samples come from a fixed noise batch so
the user watches the same points move; with ``ema`` they (and ``sample``) come from a moving
average of G's weights, kept as recipe state so checkpoints carry it.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import functional_call

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import Recipe, RecipeError, Role, noise_like
from runtime.recipes.gan_parts import (
    LOSSES,
    WeightAverage,
    class_labels,
    d_loss,
    g_loss,
    gradient_penalty,
)

__all__ = ["GAN"]

SAMPLES = 512  # fixed-noise points (2-D) or images shown per sample event
IMAGES = 64


class GAN(Recipe):
    name = "gan"
    title = "GAN"
    description = "A generator learns to produce data a discriminator cannot tell from real."
    roles = (
        Role("generator", "Turns noise (and maybe a label) into a fake sample."),
        Role("discriminator", "Says how real a sample looks: one raw score (logit) per "
                              "sample, no sigmoid."),
    )
    params = (
        Param("field", "str", "x", help="The data field the generator imitates."),
        Param("loss", "choice", "standard", choices=LOSSES,
              help="standard: D classifies real/fake (non-saturating GAN). wgan_gp: D is a "
                   "critic estimating the Wasserstein distance, with a gradient penalty; "
                   "steadier, no mode-collapse-prone sigmoid (use d_steps 5)."),
        Param("d_steps", "int", 1, min=1, max=10,
              help="Discriminator (critic) updates per generator update; 5 for wgan_gp."),
        Param("label_smoothing", "float", 0.0, min=0.0, max=0.3,
              help="standard loss: train D towards 1 − this on real data (one-sided)."),
        Param("gp_weight", "float", 10.0, min=0.0, max=1000.0,
              help="wgan_gp: λ of the penalty λ·(‖∇D(x̂)‖ − 1)² on random points x̂ between "
                   "real and fake samples; 10 for images, about 0.1 for 2-D toy data."),
        Param("ema", "float", 0.0, min=0.0, max=0.99999,
              help="Decay of a moving average of the generator's weights (e.g. 0.999; 0: "
                   "off). Samples come from the average: smoother than the last step's."),
    )
    tasks = ()  # any data with the field: ring of Gaussians, MNIST images...
    monitor = None  # no validation number says "better" for a GAN; watch the samples

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.field = self.options["field"]
        self.loss = self.options["loss"]
        if not any(s.block == "Noise" for s in self.compiled["generator"].inputs):
            raise RecipeError(f"the generator {self.names['generator']!r} needs a Noise input")
        if not any(s.field == self.field for s in self.fed_inputs("discriminator")):
            raise RecipeError(f"the discriminator {self.names['discriminator']!r} needs an "
                              f"Input reading field {self.field!r}")
        self._fixed: list[Tensor] | None = None
        self.ema = WeightAverage(self.options["ema"]) if self.options["ema"] > 0 else None

    def check_output(self, fake: Tensor, real: Tensor) -> None:
        if fake.shape[1:] != real.shape[1:]:
            raise RecipeError(f"the generator makes samples of shape {list(fake.shape[1:])}, "
                              f"but field {self.field!r} is {list(real.shape[1:])}")

    def check(self, batch):
        fake = self._generate(batch, train=False)
        self.check_output(fake, batch[self.field])
        self._judge(batch, fake, train=False)

    def _generate(self, batch, train=True, noise: torch.Generator | None = None) -> Tensor:
        """G on the batch; ``noise``: draw its codes from this generator, not the run's."""
        z = None
        if noise is not None:
            n = batch[self.field].shape[0]
            z = {s.name: noise_like(s, n, batch[self.field].device, noise)
                 for s in self.compiled["generator"].inputs if s.block == "Noise"}
        return self.output("generator", self.forward("generator", batch, train, replace=z))

    def _judge(self, batch, sample: Tensor, train=True) -> Tensor:
        out = self.forward("discriminator", batch, train, replace={self.field: sample})
        return self.output("discriminator", out).reshape(sample.shape[0], -1)[:, 0]

    def step(self, ctx, batch):
        real = batch[self.field]
        wgan = self.loss == "wgan_gp"
        for _ in range(self.options["d_steps"]):
            fake = self._generate(batch)
            d_real = self._judge(batch, real).float()
            d_fake = self._judge(batch, fake.detach()).float()
            loss_d = d_loss(self.loss, d_real, d_fake, self.options["label_smoothing"])
            if wgan:
                gp = gradient_penalty(ctx, lambda x: self._judge(batch, x).float(), real,
                                      fake, self.generator)
                loss_d = loss_d + self.options["gp_weight"] * gp
            ctx.optimize(loss_d, "discriminator")
        loss_g = g_loss(self.loss, self._judge(batch, fake).float())
        ctx.optimize(loss_g, "generator")
        if self.ema is not None:
            self.ema.update(self.nets["generator"], ctx.step)
        d_real, d_fake = d_real.detach(), d_fake.detach()
        if wgan:
            return {"loss_d": loss_d, "loss_g": loss_g, "gp": gp.detach(),
                    "wasserstein": d_real.mean() - d_fake.mean()}
        return {"loss_d": loss_d, "loss_g": loss_g,
                "d_real": torch.sigmoid(d_real).mean(),  # D's belief: real looks real
                "d_fake": torch.sigmoid(d_fake).mean()}  # … and fakes look real

    def eval_batch(self, batch):
        real = batch[self.field]
        # Fixed codes of its own: validation must not advance the run's noise stream, or a
        # run resumed after a validation would draw other noise than an unbroken one.
        fake = self._generate(batch, False, torch.Generator(real.device).manual_seed(4321))
        d_real = self._judge(batch, real, train=False).float()
        d_fake = self._judge(batch, fake, train=False).float()
        n = torch.tensor(real.shape[0], device=real.device)
        if self.loss == "wgan_gp":  # sums: the means are taken over the whole split
            return {"d_real": d_real.sum(), "d_fake": d_fake.sum(), "n": n}
        return {"loss_d": d_loss("standard", d_real, d_fake) * real.shape[0],
                "loss_g": g_loss("standard", d_fake) * real.shape[0],
                "d_accuracy": (d_real > 0).sum() + (d_fake <= 0).sum(), "n": n}

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        if self.loss == "wgan_gp":
            real, fake = float(totals["d_real"]) / n, float(totals["d_fake"]) / n
            # E[D(real)] − E[D(fake)] on held-out data: the critic's Wasserstein estimate
            return {"wasserstein": real - fake, "loss_g": -fake}, {}
        return {"loss_d": float(totals["loss_d"]) / n, "loss_g": float(totals["loss_g"]) / n,
                "d_accuracy": float(totals["d_accuracy"]) / (2 * n)}, {}

    # --- state: the weight average ---------------------------------------------------------

    def state_dict(self):
        return {"ema": self.ema.state()} if self.ema is not None and self.ema.shadow else {}

    def load_state_dict(self, state):
        # A saved average is ignored when ema is now off: nothing would use it.
        if self.ema is not None:
            self.ema.load(state.get("ema"), self.nets["generator"], self.device)

    def _run_generator(self, args: list[Tensor]) -> Tensor:
        """G (its weight average when there is one) on ``args``, in eval mode, no grad."""
        net = self.nets["generator"]
        was = net.training
        net.eval()
        try:
            with torch.no_grad():
                if self.ema is not None and self.ema.shadow:
                    out = functional_call(net, self.ema.shadow, tuple(args))
                else:
                    out = net(*args)
        finally:
            net.train(was)
        return self.output("generator", out).float()

    def _unnormalise(self, x: Tensor) -> Tensor:
        """Back to the data's own units (the dataset standardised the field)."""
        stats = self.info.stats.get(self.field)
        if stats is None and self.field == "x" and self.info.mean is not None:
            stats = (self.info.mean, self.info.std)
        if stats is None:
            return x
        shape = (1, -1) + (1,) * (x.dim() - 2)
        m = torch.tensor(stats[0], device=x.device, dtype=x.dtype).view(shape)
        s = torch.tensor(stats[1], device=x.device, dtype=x.dtype).view(shape)
        return x * s + m

    # --- pictures --------------------------------------------------------------------------

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
        fake = self._run_generator(args)
        if fake.dim() == 2 and fake.shape[1] == 2:
            events = [Samples(step, epoch, "generated points", "points", fake.cpu().numpy(),
                              None, {"real": batch[self.field].float().cpu().numpy()})]
            events += self._landscape(batch, fake, step, epoch)
            return events
        if fake.dim() == 4:
            return [Samples(step, epoch, "generated images", "images",
                            self._unnormalise(fake).clamp(0, 1).cpu().numpy())]
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
            score = self._judge(others, grid, train=False).float().reshape(size, size)
        if self.loss == "wgan_gp":  # a critic's scores have no scale: show them relative
            name, p = "critic", (score - score.min()) / (score.max() - score.min() + 1e-12)
        else:
            name, p = "discriminator", torch.sigmoid(score)
        return [Samples(step, epoch, name, "heatmap", p.cpu().numpy(), None,
                        {"extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]})]

    # --- layerloom sample ------------------------------------------------------------------

    def sample(self, n, generator, prompt=None, temperature=1.0):
        """``n`` fakes from fixed noise drawn with ``generator`` (on the CPU, so a seed
        gives the same samples on any device), scaled by ``temperature`` (below 1: closer
        to the typical sample, the truncation trick).  A Label input is fed the classes
        in turn, or only the class ``prompt`` names."""
        specs = self.compiled["generator"].inputs
        conditional = [s for s in specs if s.block == "LabelInput"]
        if prompt is not None and not conditional:
            raise RecipeError(f"recipe {self.name!r} is not conditional: --prompt does not "
                              "apply")
        labels, names = None, None
        args = []
        for s in specs:
            if s.block == "Noise":
                z = noise_like(s, n, torch.device("cpu"), generator) * temperature
                args.append(z.to(self.device))
            elif s.block == "LabelInput":
                if labels is None:
                    labels, names = class_labels(
                        n, prompt, int(s.params.get("num_classes", 2)),
                        self.info.class_names, self.name)
                args.append(labels.to(self.device))
            else:
                raise RecipeError(f"the generator {self.names['generator']!r} reads data "
                                  f"field {s.field!r} (input {s.name!r}); samples need a "
                                  "generator of noise (and labels) alone")
        fake = self._run_generator(args)
        if fake.dim() == 2 and fake.shape[1] == 2:
            points = self._unnormalise(fake).cpu().numpy()
            return Samples(0, 0, "generated points", "points", points, names)
        if fake.dim() == 4:
            images = self._unnormalise(fake).clamp(0, 1).cpu().numpy()
            return Samples(0, 0, "generated images", "images", images, names)
        raise RecipeError(f"the generator makes samples of shape {list(fake.shape[1:])}: "
                          "only 2-D points and images [C, H, W] can be written")
