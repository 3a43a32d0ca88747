"""CycleGAN (Zhu et al. 2017): translate images between two domains from unpaired examples.

Four networks: generators ``g_ab`` (A → B) and ``g_ba`` (B → A), discriminators ``d_a`` and
``d_b`` (real or fake, for images of A and of B: one score per image, or a PatchGAN map of
scores, one per patch; the losses average over every score).  Two data streams: ``a`` (the
project's dataset) and ``b`` (a second dataset, never paired with the first).

Nothing tells G_ab which B image an A image should become; the cycle-consistency loss
λ_cyc·(|G_ba(G_ab(a)) − a|₁ + |G_ab(G_ba(b)) − b|₁) asks that a translation can be undone,
so it keeps the content, while the adversarial losses make each translation look like its
target domain.  The identity loss λ_id·(|G_ba(a) − a|₁ + |G_ab(b) − b|₁) asks a generator to
leave an image already in its target domain alone (it keeps colours).  The adversarial game
is least squares by default, as in the paper (``loss``); the discriminators judge fakes drawn
from an image pool of past fakes (recipe state, saved in checkpoints).

Each step: both generators learn from ``loss`` = adversarial + λ_cyc·cycle + λ_id·identity
(their whole objective, reported as ``loss``; ``loss_g``, ``loss_cycle`` and
``loss_identity`` are its unweighted parts), then both discriminators (``loss_d``, their
sum).  Validation reports the cycle L1 of held-out images (``cycle``, the monitor); with every
picture, the Fréchet distance of 500 held-out translations to the real images of the domain
they were translated into says whether they pass for it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.frechet_curves import FrechetHistory, Generated, label_field
from runtime.recipes.base import Recipe, RecipeError, Role, Stream, eval_mode
from runtime.recipes.cycle_parts import (
    PARAMS,
    ImagePool,
    as_rgb,
    cycle_loss,
    d_loss,
    g_loss,
    l1,
    per_image,
)
from runtime.recipes.units import unnormalise

__all__ = ["CycleGAN"]

SHOWN = 8  # fixed validation images per domain in the pictures (kept as recipe state)
QUALITY = 500  # held-out translations per direction measured by the Fréchet distance
ROWS = ["A", "A → B", "A → B → A", "B", "B → A", "B → A → B"]


class CycleGAN(Recipe):
    name = "cyclegan"
    title = "CycleGAN (unpaired translation)"
    description = ("Two generators translate images between two domains and back; "
                   "discriminators judge each domain and a cycle loss keeps the content.")
    roles = (
        Role("g_ab", "Generator A → B: an image of domain A → the same scene in domain B."),
        Role("g_ba", "Generator B → A."),
        Role("d_a", "Discriminator of domain A: raw scores (logits), one per image or a "
                    "PatchGAN map of one per patch."),
        Role("d_b", "Discriminator of domain B."),
    )
    streams = (Stream("a", "Domain A: the project's dataset."),
               Stream("b", "Domain B: a second dataset of images, not paired with A's."))
    params = PARAMS
    tasks = ()
    monitor = ("cycle", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.field, self.loss = o["field"], o["loss"]
        self.key_b = f"b.{self.field}"
        for stream, info in (("a", self.info), ("b", self.others["b"])):
            f = info.fields.get(self.field)
            if f is None or len(f.shape) != 3:
                raise RecipeError(f"domain {stream.upper()}'s dataset {info.name!r} needs "
                                  f"images [C, H, W] in field {self.field!r}")
        self.shape = {"a": tuple(self.info.fields[self.field].shape),
                      "b": tuple(self.others["b"].fields[self.field].shape)}
        self.port = {role: self._port(role) for role in self.compiled}
        self.lam_cyc = o["cycle_weight"]
        self.lam_id = o["cycle_weight"] * o["identity_share"]
        if self.lam_id and self.shape["a"] != self.shape["b"]:
            raise RecipeError("the identity loss feeds A's images to G_ba and B's to G_ab, so "
                              f"both domains need one shape; A's are {list(self.shape['a'])}, "
                              f"B's {list(self.shape['b'])}: set identity_share to 0")
        self.pools = {"a": ImagePool(o["pool_size"], 0), "b": ImagePool(o["pool_size"], 1)}
        self.shown: dict[str, Tensor] | None = None  # fixed validation images, by domain
        label = o["label"]
        self.fid = FrechetHistory(label if label_field(self.info, label) and label_field(
            self.others["b"], label) else None, QUALITY, "Fréchet distance to the other domain")

    def _port(self, role: str) -> str:
        """The field of the role's one image Input: the recipe fills it with what it needs."""
        fed = self.fed_inputs(role)
        if len(fed) != 1 or len(self.compiled[role].inputs) != 1:
            raise RecipeError(f"network {self.names[role]!r} ({role}) needs exactly one Input, "
                              "an image; it has "
                              f"{', '.join(s.name for s in self.compiled[role].inputs)}")
        return fed[0].field

    def run(self, role: str, x: Tensor, train: bool = True) -> Tensor:
        return self.output(role, self.forward(role, {}, train, replace={self.port[role]: x}))

    def check(self, batch):
        a, b = batch[self.field], batch[self.key_b]
        for role, x, to in (("g_ab", a, "b"), ("g_ba", b, "a")):
            out = self.run(role, x, train=False)
            if tuple(out.shape[1:]) != self.shape[to]:
                raise RecipeError(f"generator {self.names[role]!r} makes images of shape "
                                  f"{list(out.shape[1:])}, but domain {to.upper()}'s are "
                                  f"{list(self.shape[to])}")
        for role, x in (("d_a", a), ("d_b", b)):
            if not self.run(role, x, train=False).is_floating_point():
                raise RecipeError(f"discriminator {self.names[role]!r} must output raw scores")

    # --- one step ------------------------------------------------------------------------

    def step(self, ctx, batch):
        a, b = batch[self.field], batch[self.key_b]
        fake_b, fake_a = self.run("g_ab", a), self.run("g_ba", b)
        adversarial = (g_loss(self.loss, self.run("d_b", fake_b).float())
                       + g_loss(self.loss, self.run("d_a", fake_a).float()))
        cycle = cycle_loss(a, self.run("g_ba", fake_b), b, self.run("g_ab", fake_a))
        total = adversarial + self.lam_cyc * cycle
        out = {"loss_g": adversarial.detach(), "loss_cycle": cycle.detach()}
        if self.lam_id:
            identity = l1(self.run("g_ba", a), a) + l1(self.run("g_ab", b), b)
            total = total + self.lam_id * identity
            out["loss_identity"] = identity.detach()
        ctx.optimize(total, "g_ab", "g_ba")
        # The discriminators judge fakes from the pools: half new, half from past steps.
        loss_d = (d_loss(self.loss, self.run("d_a", a).float(),
                         self.run("d_a", self.pools["a"].query(fake_a)).float())
                  + d_loss(self.loss, self.run("d_b", b).float(),
                           self.run("d_b", self.pools["b"].query(fake_b)).float()))
        ctx.optimize(loss_d, "d_a", "d_b")
        return {"loss": total.detach(), "loss_d": loss_d.detach(), **out}

    # --- validation ----------------------------------------------------------------------

    def eval_batch(self, batch):
        a, b = batch[self.field], batch[self.key_b]
        if self.shown is None:  # the first validation images: the pictures' fixed ones
            self.shown = {"a": a[:SHOWN].detach().clone(), "b": b[:SHOWN].detach().clone()}
        fake_b, fake_a = self.run("g_ab", a, False), self.run("g_ba", b, False)
        cycle_a = per_image(self.run("g_ba", fake_b, False), a)
        cycle_b = per_image(self.run("g_ab", fake_a, False), b)
        out = {"cycle_a": cycle_a.sum(), "cycle_b": cycle_b.sum(),
               "n_a": torch.tensor(len(a), device=a.device),
               "n_b": torch.tensor(len(b), device=b.device)}
        if self.lam_id:
            out["identity_a"] = per_image(self.run("g_ba", a, False), a).sum()
            out["identity_b"] = per_image(self.run("g_ab", b, False), b).sum()
        return out

    def eval_summary(self, totals, count):
        n = {d: max(1.0, float(totals[f"n_{d}"])) for d in "ab"}
        metrics = {k: float(totals[k]) / n[k[-1]] for k in totals if not k.startswith("n_")}
        metrics["cycle"] = metrics["cycle_a"] + metrics["cycle_b"]  # the step's loss_cycle
        if self.lam_id:
            metrics["identity"] = metrics.pop("identity_a") + metrics.pop("identity_b")
        return metrics, {}

    # --- state: the image pools and the pictures' images -------------------------------

    def state_dict(self):
        state = {"pool_a": self.pools["a"].state_dict(), "pool_b": self.pools["b"].state_dict(),
                 "fid": self.fid.state_dict()}
        if self.shown is not None:
            state["shown"] = {k: v.clone() for k, v in self.shown.items()}
        return state

    def load_state_dict(self, state):
        for d in "ab":
            self.pools[d].load_state_dict(state.get(f"pool_{d}"), self.device)
        self.fid.load_state_dict(state.get("fid", {}))
        shown = state.get("shown")
        self.shown = None if shown is None else {k: v.to(self.device) for k, v in shown.items()}

    # --- pictures and translation --------------------------------------------------------

    def _pixels(self, domain: str, x: Tensor) -> Tensor:
        info = self.info if domain == "a" else self.others["b"]
        return unnormalise(info, self.field, x.float()).clamp(0, 1)

    @torch.no_grad()
    def _round_trips(self, n: int) -> tuple[Tensor, int]:
        """Rows A, A → B, A → B → A, B, B → A, B → A → B of the first ``n`` kept images,
        as pixels, and the row length."""
        a, b = self.shown["a"][:n], self.shown["b"][:n]
        k = min(len(a), len(b))
        a, b = a[:k], b[:k]
        with eval_mode(self.nets.values()):
            fake_b, fake_a = self.run("g_ab", a, False), self.run("g_ba", b, False)
            rows = [("a", a), ("b", fake_b), ("a", self.run("g_ba", fake_b, False)),
                    ("b", b), ("a", fake_a), ("b", self.run("g_ab", fake_a, False))]
        pixels = [self._pixels(d, x) for d, x in rows]
        channels = max(p.shape[1] for p in pixels)
        return torch.cat([as_rgb(p, channels) for p in pixels]), k

    def samples(self, data, step, epoch):
        if self.shown is None:
            val, other = data.val, data.others["b"].val
            if not all(isinstance(p, TensorData) and len(p) for p in (val, other)):
                return []  # file-backed parts have no cheap random access to show
            self.shown = {"a": val[self.field][:SHOWN].clone(),
                          "b": other[self.field][:SHOWN].clone()}
        images, k = self._round_trips(SHOWN)
        events = [Samples(step, epoch, "translations there and back", "images",
                          images.cpu().numpy(), None, {"cols": k, "rows": ROWS})]
        a, b = data.val, data.others["b"].val
        if self.options["quality"] and all(isinstance(p, TensorData) and len(p) for p in (a, b)):
            events += self.fid.events({
                "A → B": Generated(self._many("g_ab", a), data.others["b"], self.field),
                "B → A": Generated(self._many("g_ba", b), data, self.field)}, step, epoch)
        return events

    @torch.no_grad()
    def _many(self, role: str, val: TensorData, batch: int = 100) -> Tensor:
        """``role``'s translations of the first QUALITY held-out images of its domain."""
        n, out = min(QUALITY, len(val)), []
        with eval_mode([self.nets[role]]):
            for i in range(0, n, batch):
                out.append(self.run(role, val[self.field][i:min(i + batch, n)].to(self.device),
                                    False).float())
        return torch.cat(out)

    def sample(self, n, generator, prompt=None, temperature=1.0):
        """The round trips of the validation images this run kept (up to ``n`` a row)."""
        if prompt is not None:
            raise RecipeError("recipe 'cyclegan' takes no prompt; give an image to translate "
                              "with --input")
        if self.shown is None:
            raise RecipeError("this run kept no validation images to translate (it never "
                              "validated); give an image with --input")
        images, k = self._round_trips(n)
        return Samples(0, 0, "translations there and back", "images", images.cpu().numpy(),
                       None, {"cols": k, "rows": ROWS})

    def translation_source(self) -> str:
        return self.field

    @torch.no_grad()
    def translate(self, x: Tensor) -> Tensor:
        """A batch of domain-A images [N, C, H, W] (in the network's units) → G_ab's
        translations into domain B, as pixels in [0, 1]."""
        if tuple(x.shape[1:]) != self.shape["a"]:
            raise RecipeError(f"the generator A → B takes images of shape "
                              f"{list(self.shape['a'])}; received {list(x.shape[1:])}")
        with eval_mode([self.nets["g_ab"]]):
            return self._pixels("b", self.run("g_ab", x.to(self.device), False))
