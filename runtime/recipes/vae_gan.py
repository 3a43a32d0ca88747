"""VAE-GAN (Larsen et al. 2016): a VAE whose decoder is also a GAN's generator, and whose
reconstruction is measured in the discriminator's features instead of pixel by pixel.

Three networks: an ``encoder`` x → z ending in a Reparameterize block (its β·KL is the prior
loss L_prior, added by the trainer as for any VAE), a ``decoder`` z → x̃ (its Input has source
``recipe`` and field ``code``) and a ``discriminator`` x → a raw score (logit, or a map of
them).  ``feature_node`` names the discriminator's layer l whose output D_l compares a sample
with its reconstruction: L_llike = ‖D_l(x) − D_l(x̃)‖².  Per step, with z_p ~ N(0, I):

- the discriminator learns to tell x from both x̃ and Dec(z_p) (it maximises L_GAN);
- the encoder minimises L_prior + L_llike;
- the decoder minimises γ·L_llike plus the non-saturating generator loss on x̃ and Dec(z_p).

The discriminator learns what makes a digit look real, so its features reward crisp strokes
where a pixel loss settles for the blurry average.  To see that, the recipe trains a plain
VAE beside it on the same batches: copies of the encoder and decoder taken when the recipe is
built (the same initial weights), learning with pixel reconstruction + KL.  The copies are
helpers: checkpointed so a run resumes, never saved as results.  The pictures show input,
both reconstructions and both models' samples from the same fixed codes.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch.func import functional_call

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.frechet_curves import FrechetHistory, Generated
from runtime.recipes.base import Feed, Recipe, RecipeError, Role, eval_mode
from runtime.recipes.gan_parts import d_loss, g_loss
from runtime.recipes.units import unnormalise
from runtime.recipes.vae_gan_parts import (
    FeatureTap,
    feature_loss,
    pixel_loss,
    sharpness,
    side_by_side,
)

__all__ = ["VAEGAN"]

COLS = 8  # images per row of the picture
QUALITY = 500  # prior samples and validation images compared by the Fréchet distance


class VAEGAN(Recipe):
    name = "vae_gan"
    title = "VAE-GAN (with a plain VAE beside it)"
    description = ("A VAE whose decoder is a GAN's generator and whose reconstruction is "
                   "measured in the discriminator's features; a plain VAE trains alongside "
                   "for comparison.")
    roles = (
        Role("encoder", "A sample → its code z; ends in a Reparameterize block (μ, log σ²)."),
        Role("decoder", "The code → a sample (the generator); its Input has source 'recipe' "
                        "and field 'code'."),
        Role("discriminator", "A sample → one raw score (a logit, no sigmoid), or a map of "
                              "them; feature_node names the layer compared."),
    )
    feeds = (Feed("decoder", "code", "the encoder's code, or one drawn from the prior"),)
    params = (
        Param("field", "str", "x", help="The data field to rebuild and generate."),
        Param("label", "str", "y", help="A label field, for the Fréchet distance's judge; "
                                        "unused when the data has none."),
        Param("feature_node", "str", "",
              help="The discriminator's layer (node id) whose output is compared between a "
                   "sample and its reconstruction, e.g. the activation after its last "
                   "convolution."),
        Param("gamma", "float", 0.5, min=0.0, max=100.0,
              help="γ: weight of the feature loss in the decoder's objective, against "
                   "fooling the discriminator (Larsen et al. tune it; 0.01 to 1)."),
        Param("label_smoothing", "float", 0.0, min=0.0, max=0.3,
              help="Train the discriminator towards 1 − this on real data (one-sided)."),
        Param("pixel_loss", "choice", "mse", choices=("mse", "bce"),
              help="The plain VAE's reconstruction loss: squared error, or binary "
                   "cross-entropy for pixels in [0, 1] (a decoder ending in a Sigmoid, the "
                   "dataset's normalize off)."),
        Param("twin", "bool", True,
              help="Train a plain VAE (copies of the encoder and decoder) on the same "
                   "batches, to compare with (about 1.5 times the work per step)."),
        Param("quality", "bool", True,
              help="With every picture, the Fréchet distance of 500 samples of each model "
                   "to the data, in a small classifier's features."),
    )
    tasks = ()
    monitor = ("mse", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.field, self.gamma = o["field"], o["gamma"]
        for role in ("encoder", "discriminator"):
            if not any(s.field == self.field for s in self.fed_inputs(role)):
                raise RecipeError(f"the {role} {self.names[role]!r} needs an Input reading "
                                  f"field {self.field!r}")
        self.code_spec = next(s for s in self.recipe_inputs("decoder") if s.field == "code")
        self.reparams = self._reparams(self.nets["encoder"])
        if not self.reparams:
            raise RecipeError(f"the encoder {self.names['encoder']!r} needs a Reparameterize "
                              "block (μ and log σ² in, z out): it makes the KL term")
        if not o["feature_node"]:
            raise RecipeError("set feature_node to the discriminator's layer whose output "
                              "compares a sample with its reconstruction (e.g. the "
                              "activation after its last convolution)")
        self.tap = FeatureTap(self.nets["discriminator"], o["feature_node"],
                              f"recipe {self.name!r}, feature_node")
        label = self.info.fields.get(o["label"])
        self.label = o["label"] if label is not None and label.kind == "label" else None
        # The plain VAE: copies now, given the networks' weights again at the first step
        # (after any start-from weights were loaded), so both models start alike.
        self.twins: dict[str, str] = {}
        self.synced = False
        if o["twin"]:
            for role in ("encoder", "decoder"):
                twin = f"{self.names[role]}_vae"
                self.nets[twin] = self.calls[twin] = copy.deepcopy(self.nets[role])
                self.names[twin] = twin
                self.twins[role] = twin
            self.twin_reparams = self._reparams(self.nets[self.twins["encoder"]])
        self.fid = FrechetHistory(self.label, QUALITY, "Fréchet distance of prior samples")

    @staticmethod
    def _reparams(module) -> list:
        return [m for m in module.modules() if type(m).__name__ == "Reparameterize"]

    # --- the networks ------------------------------------------------------------------------

    def encode(self, batch, x: Tensor, train=True, role="encoder") -> Tensor:
        module = self.calls[role] if train else self.nets[role]
        return self.output("encoder", module(*self.inputs("encoder", batch,
                                                           {self.field: x})))

    def decode(self, batch, code: Tensor, train=True, role="decoder") -> Tensor:
        module = self.calls[role] if train else self.nets[role]
        return self.output("decoder", module(*self.inputs("decoder", batch, {"code": code})))

    def judge(self, batch, sample: Tensor, train=True) -> tuple[Tensor, Tensor]:
        """D's raw scores [n, k] (one, or a map flattened) and its features at layer l."""
        out = self.forward("discriminator", batch, train, replace={self.field: sample})
        score = self.output("discriminator", out).float().reshape(sample.shape[0], -1)
        return score, self.tap.take()

    def prior(self, n: int, generator: torch.Generator | None, device=None) -> Tensor:
        shape = tuple(self.code_spec.shape)
        if not all(isinstance(d, int) for d in shape):
            raise RecipeError(f"the decoder's input {self.code_spec.name!r} needs a fixed "
                              f"shape to be sampled; it is {list(shape)}")
        return torch.randn((n, *shape), generator=generator, device=device or self.device)

    def kl(self, modules) -> Tensor:
        """The KL of the latest encoder call, per sample, unweighted."""
        return sum(m.kl.float() for m in modules)

    def beta_kl(self, modules) -> Tensor:
        return sum(m.beta * m.kl.float() for m in modules)

    def check(self, batch):
        x = batch[self.field]
        if self.options["pixel_loss"] == "bce" and (self.field in self.info.stats
                                                    or float(x.min()) < 0):
            raise RecipeError(f"pixel_loss bce needs data in [0, 1], but field {self.field!r} "
                              f"of {self.info.name!r} is standardised: set the dataset's "
                              "normalize param to false")
        code = self.encode(batch, x, train=False)
        if tuple(code.shape[1:]) != tuple(self.code_spec.shape):
            raise RecipeError(f"the encoder {self.names['encoder']!r} outputs codes of shape "
                              f"{list(code.shape[1:])}, but the decoder's input "
                              f"{self.code_spec.name!r} takes {list(self.code_spec.shape)}")
        out = self.decode(batch, code, train=False)
        if out.shape != x.shape:
            raise RecipeError(f"the decoder {self.names['decoder']!r} makes samples of shape "
                              f"{list(out.shape[1:])}; it must rebuild field {self.field!r}, "
                              f"{list(x.shape[1:])}")
        self.judge(batch, out, train=False)

    # --- one step ----------------------------------------------------------------------------

    def step(self, ctx, batch):
        if self.twins and not self.synced:
            self._start_twins()
        x = batch[self.field]
        n = x.shape[0]
        z = self.encode(batch, x)  # the Reparameterize block keeps this call's KL
        kl = self.kl(self.reparams).mean()
        # x̃ from the code cut off the encoder: the decoder's objective must not reach it.
        recon = self.decode(batch, z.detach())
        fake = self.decode(batch, self.prior(n, self.generator, x.device))
        # The discriminator: x is real, x̃ and the prior sample are not.  One call on the
        # three, so a batch norm in D sees them together (as Larsen et al. do) and cannot
        # tell them apart by their batch statistics alone.
        scores = self.judge(batch, torch.cat([x, recon.detach(), fake.detach()]))[0]
        d_real, d_recon, d_fake = scores.split(n)
        loss_d = d_loss("standard", d_real, torch.cat([d_recon, d_fake]),
                        self.options["label_smoothing"])
        ctx.optimize(loss_d, "discriminator")
        # The encoder and the decoder in one pass, each with its own objective: the
        # encoder's x̃ comes from the decoder's weights held fixed, the decoder's from z cut
        # off the encoder.  Encoder: L_prior (the block's β·KL, added by the trainer) +
        # L_llike.  Decoder: γ·L_llike + fooling D with x̃ and the prior sample.
        seen = self.decode_fixed(batch, z)
        scores, feats = self.judge(batch, torch.cat([x, seen, recon, fake]))
        target, f_seen, f_recon, _ = feats.split(n)
        loss_feature = feature_loss(f_seen, target)
        loss_g = g_loss("standard", scores[2 * n:])
        ctx.optimize(loss_feature + self.gamma * feature_loss(f_recon, target) + loss_g,
                     "encoder", "decoder")
        metrics = {"loss": (loss_feature + self.beta_kl(self.reparams).mean()).detach(),
                   "loss_kl": kl.detach(), "loss_feature": loss_feature.detach(),
                   "loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                   "d_real": torch.sigmoid(d_real.detach()).mean(),
                   "d_fake": torch.sigmoid(d_fake.detach()).mean(),
                   "mse": (recon.detach().float() - x.float()).square().mean()}
        if self.twins:
            metrics |= self._twin_step(ctx, batch, x)
        return metrics

    def decode_fixed(self, batch, code: Tensor) -> Tensor:
        """The decoder on ``code`` with its weights as constants: gradients reach the code
        (the encoder), not the decoder."""
        net = self.nets["decoder"]
        fixed = {k: p.detach() for k, p in net.named_parameters()}
        out = functional_call(net, fixed, tuple(self.inputs("decoder", batch, {"code": code})))
        return self.output("decoder", out)

    @torch.no_grad()
    def _start_twins(self) -> None:
        """The plain VAE takes the networks' weights as they start training (start-from
        weights included), in place: its optimizers hold these very tensors."""
        for role, twin in self.twins.items():
            self.nets[twin].load_state_dict(self.nets[role].state_dict())
        self.synced = True

    def _twin_step(self, ctx, batch, x: Tensor) -> dict[str, Tensor]:
        """The plain VAE on the same batch: pixel reconstruction + its block's β·KL."""
        enc, dec = self.twins["encoder"], self.twins["decoder"]
        out = self.decode(batch, self.encode(batch, x, role=enc), role=dec)
        pixel = pixel_loss(self.options["pixel_loss"], out, x).mean()
        ctx.optimize(pixel, enc, dec)  # the trainer adds the copy's own β·KL
        total = pixel.detach() + self.beta_kl(self.twin_reparams).detach().mean()
        return {"loss_vae": total, "loss_kl_vae": self.kl(self.twin_reparams).detach().mean(),
                "mse_vae": (out.detach().float() - x.float()).square().mean()}

    # --- validation --------------------------------------------------------------------------

    def eval_batch(self, batch):
        x = batch[self.field]
        n = x.shape[0]
        recon = self.decode(batch, self.encode(batch, x, False), False)  # z = μ in eval
        kl, beta_kl = self.kl(self.reparams), self.beta_kl(self.reparams)
        feats = feature_loss(self.judge(batch, recon, False)[1], self.judge(batch, x, False)[1])
        raw, shown = self.raw(x), self.raw(recon)
        count = torch.tensor(n, device=x.device)
        out = {"n": count, "values": count * x[0].numel(),
               "kl": kl.sum(), "beta_kl": beta_kl.sum(), "feature": feats * n,
               "se": (shown - raw).square().sum(), "sharp": sharpness(shown).sum(),
               "sharp_data": sharpness(raw).sum()}
        if self.twins:
            enc, dec = self.twins["encoder"], self.twins["decoder"]
            twin = self.decode(batch, self.encode(batch, x, False, enc), False, dec)
            shown = self.raw(twin)
            out |= {"se_vae": (shown - raw).square().sum(), "sharp_vae": sharpness(shown).sum(),
                    "pixel_vae": pixel_loss(self.options["pixel_loss"], twin, x).sum(),
                    "beta_kl_vae": self.beta_kl(self.twin_reparams).sum()}
        return out

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        values = max(1.0, float(totals["values"]))
        m = {"loss": (float(totals["feature"]) + float(totals["beta_kl"])) / n,
             "loss_kl": float(totals["kl"]) / n, "loss_feature": float(totals["feature"]) / n,
             "mse": float(totals["se"]) / values, "sharpness": float(totals["sharp"]) / n,
             "sharpness_data": float(totals["sharp_data"]) / n}
        if "se_vae" in totals:
            m |= {"mse_vae": float(totals["se_vae"]) / values,
                  "sharpness_vae": float(totals["sharp_vae"]) / n,
                  "loss_vae": (float(totals["pixel_vae"]) + float(totals["beta_kl_vae"])) / n}
        return m, {}

    # --- state: the Fréchet distances so far, whether the twins got their start ----------------

    def state_dict(self):
        return {"fid": self.fid.state_dict(),
                "synced": self.synced}

    def load_state_dict(self, state):
        self.synced = bool(state.get("synced", False))
        unknown = sorted(set(state) - {"fid", "synced"})
        if unknown:
            raise RecipeError(f"recipe {self.name!r} keeps only its Fréchet distances, but the "
                              f"checkpoint holds {', '.join(unknown)}")
        self.fid.load_state_dict(state.get("fid", {}))

    # --- pictures ----------------------------------------------------------------------------

    def raw(self, x: Tensor) -> Tensor:
        return unnormalise(self.info, self.field, x.float())

    def _models(self) -> list[tuple[str, str, str]]:
        """(title, encoder role, decoder role) of each model shown."""
        models = [("VAE-GAN", "encoder", "decoder")]
        if self.twins:
            models.append(("plain VAE", self.twins["encoder"], self.twins["decoder"]))
        return models

    @torch.no_grad()
    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0 or val[self.field].dim() != 4:
            return []
        batch = {k: v[:COLS] for k, v in val.items()}
        x = batch[self.field]
        z = self.prior(COLS, torch.Generator().manual_seed(1234), "cpu").to(x.device)
        rows, priors = [("input", self.raw(x))], []
        models = self._models()
        with eval_mode(self.nets.values()):
            for title, enc, dec in models:
                code = self.encode(batch, x, False, enc)
                rows.append((f"{title} reconstruction", self.raw(self.decode(batch, code, False,
                                                                             dec))))
            for title, _, dec in models:
                priors.append((f"{title} prior sample", self.raw(self.decode({}, z, False,
                                                                             dec))))
            events = [side_by_side(rows + priors, step, epoch)]
            if self.options["quality"]:
                events += self._quality(data, step, epoch)
        return events

    def _quality(self, data, step, epoch) -> list:
        """Each model's prior samples from fixed codes, judged against the validation
        images."""
        z = self.prior(QUALITY, torch.Generator().manual_seed(2024), "cpu").to(self.device)
        return self.fid.events({title: Generated(self.decode({}, z, False, dec), data, self.field)
                                for title, _, dec in self._models()}, step, epoch)

    # --- layerloom sample --------------------------------------------------------------------

    def sample(self, n, generator, prompt=None, temperature=1.0):
        """``n`` decoded codes from the prior N(0, I), drawn with ``generator`` (on the CPU:
        a seed gives the same samples anywhere), spread by ``temperature``."""
        if prompt is not None:
            raise RecipeError(f"recipe {self.name!r} is not conditional: --prompt does not "
                              "apply")
        z = (self.prior(n, generator, "cpu") * temperature).to(self.device)
        with eval_mode([self.nets["decoder"]]), torch.no_grad():
            out = self.raw(self.decode({}, z, False))
        if out.dim() != 4:
            raise RecipeError(f"the decoder makes samples of shape {list(out.shape[1:])}: "
                              "only images [C, H, W] can be written")
        return Samples(0, 0, "samples from the prior", "images",
                       out.clamp(0, 1).cpu().numpy())
