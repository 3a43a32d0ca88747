"""The autoencoder family in one recipe: an ``encoder`` (x → code) and a ``decoder`` (code →
x rebuilt; its Input has source ``recipe`` and field ``code``), with options per variant.

- plain: reconstruction, summed over the values of each sample, averaged over the batch
  (MSE, or BCE on the decoder's logits for data in [0, 1]);
- denoising: the encoder sees a corrupted copy while training, the target stays clean;
- sparse: β·Σⱼ KL(ρ ‖ ρ̂ⱼ) on a sigmoid code (Ng's sparse autoencoder);
- contractive: λ·‖∂code/∂x‖²_F (Rifai et al. 2011), in closed form for a Linear → Sigmoid
  encoder on the input, through the step context's gradients otherwise;
- variational: when the encoder holds a Reparameterize block, whose β·KL ``ctx.optimize``
  adds on its own; the recipe reports the ELBO's parts and can anneal β over the run;
- anomaly detection: ``holdout_class`` never trains; validation tells how much worse it is
  rebuilt.

Validation's ``loss`` is what the model is judged by: the reconstruction of the clean input
(plus the block's β·KL for a VAE, decoding z = μ: the negative ELBO), over the classes it
trains on; the regularisers are training terms reported on their own.  A plain autoencoder's
codes get a Gaussian fitted at every validation (recipe state), so it samples like a VAE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.events import Samples
from runtime.recipes.ae_parts import (
    CORRUPTIONS,
    Gaussian,
    anomaly_metrics,
    contractive_autograd,
    contractive_closed,
    corrupt,
    linear_before_sigmoid,
    pictures,
    sparsity_kl,
)
from runtime.recipes.base import Feed, Recipe, RecipeError, Role, eval_mode
from runtime.recipes.units import normalise, unnormalise

__all__ = ["Autoencoder"]


class Autoencoder(Recipe):
    name = "autoencoder"
    title = "Autoencoder (plain, denoising, sparse, contractive, variational)"
    description = "An encoder squeezes each sample into a code; a decoder rebuilds it."
    roles = (
        Role("encoder", "A sample → its code (for a VAE: ends in a Reparameterize block)."),
        Role("decoder", "The code → the sample rebuilt; its Input has source 'recipe' and "
                        "field 'code'."),
    )
    feeds = (Feed("decoder", "code", "the encoder's code"),)
    params = (
        Param("field", "str", "x", help="The data field to rebuild (the encoder reads it)."),
        Param("label", "str", "y", help="A label field: colours the pictures and names the "
                                        "held-out class; unused when the data has none."),
        Param("loss", "choice", "mse", choices=("mse", "bce"),
              help="mse: squared error. bce: binary cross-entropy on the decoder's logits "
                   "(no final Sigmoid), for data in [0, 1]: turn the dataset's normalize "
                   "off."),
        Param("corruption", "choice", "none", choices=CORRUPTIONS,
              help="Denoising: corrupt the encoder's input while training; the target "
                   "stays clean."),
        Param("noise", "float", 0.3, min=0.0, max=5.0,
              help="Corruption level, in the data's units: σ of the gaussian noise, or the "
                   "share of values masked (set to 0) or salted (0 or 1)."),
        Param("sparsity_weight", "float", 0.0, min=0.0, max=1000.0,
              help="Sparse: weight β of Σ KL(ρ ‖ ρ̂) on the code's mean activations (0: off); "
                   "needs a Sigmoid code."),
        Param("sparsity_target", "float", 0.05, min=0.001, max=0.999,
              help="Sparse: ρ, the mean activation each code unit should have."),
        Param("contractive_weight", "float", 0.0, min=0.0, max=1000.0,
              help="Contractive: weight λ of ‖∂code/∂x‖²_F (0: off)."),
        Param("kl_warmup", "float", 0.0, min=0.0, max=1.0,
              help="VAE: share of the run over which the KL weight rises from 0 to the "
                   "Reparameterize block's β (0: full weight from the start)."),
        Param("holdout_class", "int", -1, min=-1, max=1_000_000,
              help="Anomaly detection: this class never trains; validation measures how "
                   "much worse it is rebuilt (-1: none)."),
    )
    monitor = ("loss", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.field = o["field"]
        self.bce = o["loss"] == "bce"
        inputs = [s for s in self.fed_inputs("encoder") if s.field == self.field]
        if not inputs:
            raise RecipeError(f"the encoder {self.names['encoder']!r} needs an Input reading "
                              f"field {self.field!r}")
        if o["corruption"] in ("masking", "salt_pepper") and o["noise"] > 1:
            raise RecipeError(f"{o['corruption']} corrupts a share of the values: noise must "
                              f"be at most 1; received {o['noise']}")
        label = self.info.fields.get(o["label"])
        self.label = o["label"] if label is not None and label.kind == "label" else None
        self.holdout = o["holdout_class"]
        classes = self.info.num_classes
        if self.holdout >= 0 and (self.label is None or classes is None):
            raise RecipeError(f"holdout_class needs labels: dataset {self.info.name!r} has no "
                              f"label field {o['label']!r}")
        if self.holdout >= 0 and self.holdout >= classes:
            raise RecipeError(f"holdout_class {self.holdout} is not a class of "
                              f"{self.info.name!r}, which has {classes} (0 to {classes - 1})")
        self.classes = classes or 0
        self.code_spec = next(s for s in self.recipe_inputs("decoder") if s.field == "code")
        self.reparams = [m for m in self.nets["encoder"].modules()
                         if type(m).__name__ == "Reparameterize"]
        self.betas = [float(m.beta) for m in self.reparams]  # each block's own β
        self.linear = linear_before_sigmoid(self.nets["encoder"], inputs[0].name) \
            if o["contractive_weight"] > 0 else None
        self.prior: Gaussian | None = None  # a plain autoencoder's fitted code distribution
        self._scores: list[tuple[Tensor, Tensor]] = []  # this validation's errors, for AUC

    # --- the networks ------------------------------------------------------------------------

    def encode(self, batch, x: Tensor, train: bool = True) -> Tensor:
        return self.output("encoder", self.forward("encoder", batch, train,
                                                   replace={self.field: x}))

    def decode(self, batch, code: Tensor, train: bool = True) -> Tensor:
        return self.output("decoder", self.forward("decoder", batch, train,
                                                   replace={"code": code}))

    def raw(self, x: Tensor) -> Tensor:
        return unnormalise(self.info, self.field, x.float())

    def pixels(self, out: Tensor) -> Tensor:
        """The decoder's output in the data's units (a BCE decoder outputs logits)."""
        return torch.sigmoid(out.float()) if self.bce else self.raw(out)

    def corrupted(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Corruption happens in the data's units (a masked pixel is black), whatever the
        standardisation."""
        o = self.options
        if o["corruption"] == "none" or o["noise"] == 0:
            return x
        noisy = corrupt(self.raw(x), o["corruption"], o["noise"], generator)
        return normalise(self.info, self.field, noisy).to(x.dtype)

    def reconstruction(self, out: Tensor, x: Tensor) -> Tensor:
        """Per sample: the loss summed over its values."""
        out, x = out.float(), x.float()
        err = F.binary_cross_entropy_with_logits(out, x, reduction="none") if self.bce \
            else (out - x).square()
        return err.flatten(1).sum(1)

    def check(self, batch):
        x = batch[self.field]
        if self.bce and (self.field in self.info.stats or float(x.min()) < 0):
            raise RecipeError(f"loss bce needs targets in [0, 1], but field {self.field!r} of "
                              f"{self.info.name!r} has negative values: set the dataset's "
                              "normalize param to false")
        code = self.encode(batch, x, train=False)
        want = tuple(self.code_spec.shape)
        if tuple(code.shape[1:]) != want:
            raise RecipeError(f"the encoder {self.names['encoder']!r} outputs codes of shape "
                              f"{list(code.shape[1:])}, but the decoder "
                              f"{self.names['decoder']!r} input {self.code_spec.name!r} "
                              f"takes {list(want)}")
        out = self.decode(batch, code, train=False)
        if out.shape != x.shape:
            raise RecipeError(f"the decoder {self.names['decoder']!r} outputs "
                              f"{list(out.shape[1:])} per sample; it must rebuild field "
                              f"{self.field!r}, {list(x.shape[1:])}")
        if self.options["sparsity_weight"] > 0 and (float(code.min()) < 0
                                                    or float(code.max()) > 1):
            raise RecipeError(f"the sparsity penalty needs codes in (0, 1): end the encoder "
                              f"{self.names['encoder']!r} with a Sigmoid")

    # --- one step ----------------------------------------------------------------------------

    def anneal(self, progress: float) -> None:
        """β of every Reparameterize block times min(1, progress / kl_warmup)."""
        warmup = self.options["kl_warmup"]
        factor = min(1.0, progress / warmup) if warmup > 0 else 1.0
        for module, beta in zip(self.reparams, self.betas):
            module.beta = beta * factor

    def step(self, ctx, batch):
        o = self.options
        if self.holdout >= 0:  # the held-out class never reaches the networks
            keep = (batch[self.label] != self.holdout).nonzero().squeeze(1)
            if keep.numel() == 0:
                return {"loss": torch.zeros((), device=ctx.device)}  # nothing to learn
            batch = {k: v.index_select(0, keep) for k, v in batch.items()}
        x = batch[self.field]
        self.anneal(ctx.progress)
        x_in = self.corrupted(x, self.generator)
        if o["contractive_weight"] > 0 and self.linear is None:  # ∂code/∂x by autograd
            x_in = x_in.detach().requires_grad_(True)
        code = self.encode(batch, x_in)
        out = self.decode(batch, code)
        recon = self.reconstruction(out, x).mean()
        loss, terms = recon, {}
        if o["sparsity_weight"] > 0:
            terms["sparsity"] = sparsity_kl(code, o["sparsity_target"])
            loss = loss + o["sparsity_weight"] * terms["sparsity"]
        if o["contractive_weight"] > 0:
            per = contractive_closed(code, self.linear.weight) if self.linear is not None \
                else contractive_autograd(ctx.gradients, code, x_in, self.generator)
            terms["contractive"] = per.mean()
            loss = loss + o["contractive_weight"] * terms["contractive"]
        ctx.optimize(loss, "encoder", "decoder")  # adds each Reparameterize's β·KL itself
        total = loss.detach()
        if self.reparams:
            kl = sum(m.kl.detach().float().mean() for m in self.reparams)
            total = total + sum(m.beta * m.kl.detach().float().mean() for m in self.reparams)
            terms["kl"] = kl
            terms["beta"] = torch.full((), float(self.reparams[0].beta), device=kl.device)
        mse = (self.pixels(out.detach()) - self.raw(x)).square().mean()
        return {"loss": total, **({"recon": recon.detach()} if terms else {}), "mse": mse,
                **{k: v.detach() for k, v in terms.items()}}

    # --- validation --------------------------------------------------------------------------

    def eval_batch(self, batch):
        x = batch[self.field]
        code = self.encode(batch, x, False)
        out = self.decode(batch, code, False)
        per = self.reconstruction(out, x)
        w = torch.ones_like(per) if self.holdout < 0 \
            else (batch[self.label] != self.holdout).float()
        sq = (self.pixels(out) - self.raw(x)).square().flatten(1).sum(1)
        totals = {"recon": (per * w).sum(), "n": w.sum(), "se": (sq * w).sum(),
                  "values": w.sum() * x[0].numel()}
        if self.reparams:  # the block's own β: the objective, not this step's annealed one
            totals["kl"] = sum((m.kl.float() * w).sum() for m in self.reparams)
            totals["beta_kl"] = sum(b * (m.kl.float() * w).sum()
                                    for m, b in zip(self.reparams, self.betas))
        else:
            totals.update(Gaussian.sums(code, w))
        if self.options["sparsity_weight"] > 0:
            totals["activation"] = (code.float().flatten(1) * w[:, None]).sum(0)
        if self.holdout >= 0:
            labels = batch[self.label]
            zeros = torch.zeros(self.classes, device=per.device)
            totals["class_error"] = zeros.index_add(0, labels, per)
            totals["class_n"] = zeros.index_add(0, labels, torch.ones_like(per))
            self._scores.append((per, labels))  # AUC needs every sample: it does not add up
        return totals

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        recon = float(totals["recon"]) / n
        metrics = {"loss": recon, "mse": float(totals["se"]) / max(1.0, float(totals["values"]))}
        if self.reparams:
            metrics["loss"] = recon + float(totals["beta_kl"]) / n
            metrics["recon"], metrics["kl"] = recon, float(totals["kl"]) / n
        else:
            self.prior = Gaussian.fit(totals) or self.prior
        if "activation" in totals:
            metrics["mean_activation"] = float(totals["activation"].mean()) / n
        if self.holdout >= 0:
            scores, labels = (torch.cat(part) for part in zip(*self._scores))
            self._scores = []
            metrics.update(anomaly_metrics(totals["class_error"], totals["class_n"],
                                           self.holdout, scores, labels))
        return metrics, {}

    # --- state -------------------------------------------------------------------------------

    def state_dict(self):
        return {"prior": self.prior.state()} if self.prior is not None else {}

    def load_state_dict(self, state):
        unknown = sorted(set(state) - {"prior"})
        if unknown:
            raise RecipeError(f"recipe {self.name!r} keeps only its code distribution, but "
                              f"the checkpoint holds {', '.join(unknown)}")
        if "prior" in state:
            p = state["prior"]
            self.prior = Gaussian(p["mean"].to(self.device), p["scale"].to(self.device))

    # --- pictures ----------------------------------------------------------------------------

    def prior_codes(self, eps: Tensor) -> Tensor | None:
        """Codes from standard-normal ``eps`` [N, K]: the VAE's prior N(0, I), or the
        Gaussian fitted to a plain autoencoder's validation codes (None before any)."""
        if self.reparams:
            z = eps.to(self.device)
        elif self.prior is not None:
            z = self.prior.draw(eps.to(self.device))
        else:
            return None
        return z.reshape(len(eps), *self.code_spec.shape)

    def code_size(self) -> int:
        shape = self.code_spec.shape
        if not all(isinstance(d, int) for d in shape):
            raise RecipeError(f"the decoder {self.names['decoder']!r} input "
                              f"{self.code_spec.name!r} needs a fixed shape to be sampled; it "
                              f"is {list(shape)}")
        return int(torch.Size(shape).numel())

    def class_names(self) -> list[str]:
        return list(self.info.class_names or (str(c) for c in range(self.classes)))

    def samples(self, data, step, epoch):
        return pictures(self, data, step, epoch)

    # --- layerloom sample --------------------------------------------------------------------

    def sample(self, n, generator, prompt=None, temperature=1.0):
        """``n`` decoded codes drawn with ``generator`` (on the CPU, so a seed gives the same
        samples anywhere), spread by ``temperature``."""
        if prompt is not None:
            raise RecipeError(f"recipe {self.name!r} is not conditional: --prompt does not "
                              "apply")
        eps = torch.randn(n, self.code_size(), generator=generator) * temperature
        z = self.prior_codes(eps)
        if z is None:
            raise RecipeError("this autoencoder has no fitted code distribution yet: it is "
                              "fitted at every validation, so train at least one epoch with "
                              "a validation split")
        with eval_mode([self.nets["decoder"]]), torch.no_grad():
            out = self.pixels(self.decode({}, z, False))
        kind = "images" if out.dim() == 4 else "points"
        if out.dim() == 4 or (out.dim() == 2 and out.shape[1] == 2):
            data = out.clamp(0, 1) if kind == "images" else out
            return Samples(0, 0, "samples from the prior", kind, data.cpu().numpy())
        raise RecipeError(f"the decoder makes samples of shape {list(out.shape[1:])}: only "
                          "2-D points and images [C, H, W] can be written")
