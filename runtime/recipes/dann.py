"""Domain-adversarial training (DANN, Ganin & Lempitsky 2015): learn features that classify the
labelled source domain and that a domain classifier cannot tell apart from the unlabelled
target domain's.

Three networks: ``features`` (x → f), ``label_head`` (f → class logits) and ``domain_head``
(f → one logit: "from the target domain").  The domain head starts with a Gradient reversal
block, so minimising the domain loss trains the head to tell the domains apart while the
reversed gradient trains the features to confuse it.  The reversal strength follows the
paper's schedule over the run, λ(p) = λ_max · (2 / (1 + exp(−γ·p)) − 1), which keeps the noisy
early domain signal from swamping the label loss.

Two data streams: ``source`` (the project's dataset; labels used) and ``target`` (labels
never used for training; reported only, where the data has them, as the number that shows
whether adaptation worked).

``method`` swaps in the baselines, so one project trained once per method shows in the Runs
panel's overlay what DANN gains: ``source_only`` (λ = 0 and the domain head never trained:
plain supervised learning on the source), ``per_domain_bn`` (each domain's feature batch
standardised with its own statistics before the heads, running ones for validation; no
adversary) and ``reweight`` (no adversary either: the domain head, trained on detached
features, weighs each source sample's label loss by its odds of looking like the target).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import Feed, Recipe, RecipeError, Role, Stream

__all__ = ["DANN"]

POINTS = 400  # per domain in the feature-space picture
METHODS = ("dann", "source_only", "per_domain_bn", "reweight")
MOMENTUM = 0.1  # of the per-domain running feature statistics
MAX_WEIGHT = 10.0  # re-weighting: one source sample counts at most this many times the mean


class DANN(Recipe):
    name = "dann"
    title = "Domain adaptation (DANN)"
    description = ("Classify a labelled source domain with features a domain classifier "
                   "cannot tell from an unlabelled target domain's.")
    roles = (
        Role("features", "The shared feature extractor: a sample → its features."),
        Role("label_head", "Features → one logit per class (trained on the source only)."),
        Role("domain_head", "Features → one logit, 'this comes from the target domain'; "
                            "starts with a Gradient reversal block."),
    )
    streams = (Stream("source", "Labelled data."),
               Stream("target", "Data of the domain to adapt to; its labels are not used "
                                "for training (an image folder may be flat: unlabelled)."))
    feeds = (Feed("label_head", "features", "the feature extractor's output"),
             Feed("domain_head", "features", "the feature extractor's output"))
    params = (
        Param("method", "choice", "dann", choices=METHODS,
              help="dann; or a baseline to compare with in the Runs panel: source_only, "
                   "per_domain_bn (feature statistics per domain), reweight (source samples "
                   "weighted by the domain classifier's odds)."),
        Param("field", "str", "x", help="The data field both domains feed the features."),
        Param("target", "str", "y", help="The source stream's label field."),
        Param("lambda_max", "float", 1.0, min=0.0, max=10.0,
              help="Final strength λ of the gradient reversal."),
        Param("gamma", "float", 10.0, min=0.0, max=100.0,
              help="How fast λ ramps up over the run (0: λ_max from the start)."),
        Param("domain_weight", "float", 1.0, min=0.0, max=100.0,
              help="Weight of the domain loss against the label loss."),
    )
    tasks = ("classification",)
    monitor = ("accuracy", "max")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.options
        self.field, self.target = o["field"], o["target"]
        if self.info.num_classes is None or self.target not in self.info.fields:
            raise RecipeError(f"the source dataset {self.info.name!r} needs labels in field "
                              f"{self.target!r}")
        if f"target.{self.field}" not in self._target_fields():
            raise RecipeError(f"the target dataset {self.others['target'].name!r} has no field "
                              f"{self.field!r}")
        self.reversals = [m for m in self.nets["domain_head"].modules()
                          if type(m).__name__ == "GradientReversal"]
        if not self.reversals:
            raise RecipeError(f"the domain head {self.names['domain_head']!r} needs a Gradient "
                              "reversal block between its input and its first layer")
        self.classes = int(self.info.num_classes)
        self.target_labels = self.target in self.others["target"].fields
        self.method = o["method"]
        self.stats: dict[str, list[Tensor]] = {}  # per_domain_bn: domain → [mean, var]
        self.before: dict[str, Tensor] | None = None  # the first feature picture, kept

    def _target_fields(self) -> set[str]:
        return {f"target.{k}" for k in self.others["target"].fields}

    def strength(self, progress: float) -> float:
        o = self.options
        if self.method != "dann":  # the baselines have no adversary
            return 0.0
        return o["lambda_max"] * (2.0 / (1.0 + math.exp(-o["gamma"] * progress)) - 1.0) \
            if o["gamma"] > 0 else o["lambda_max"]

    # --- the networks ------------------------------------------------------------------------

    def features(self, batch: dict[str, Tensor], x: Tensor, train: bool = True,
                 domain: str | None = None) -> Tensor:
        """x's features as the heads see them: standardised with ``domain``'s statistics
        under per_domain_bn (this batch's in training, the running ones in validation)."""
        f = self.output("features", self.forward("features", batch, train,
                                                 replace={self.field: x}))
        if self.method != "per_domain_bn" or domain is None:
            return f
        if train or domain not in self.stats:
            mean, var = f.mean(0), f.var(0, unbiased=False)
            if train:
                old = self.stats.setdefault(domain, [mean.detach().float(),
                                                     var.detach().float()])
                for i, new in enumerate((mean, var)):
                    old[i] = torch.lerp(old[i], new.detach().float(), MOMENTUM)
        else:
            mean, var = self.stats[domain]
        return (f - mean) / torch.sqrt(var + 1e-5)

    def head(self, role: str, batch: dict[str, Tensor], f: Tensor, train: bool = True):
        return self.output(role, self.forward(role, batch, train, replace={"features": f}))

    def check(self, batch):
        f = self.features(batch, batch[self.field], train=False, domain="source")
        logits = self.head("label_head", batch, f, train=False)
        if logits.dim() != 2 or logits.shape[1] != self.classes:
            raise RecipeError(f"the label head outputs {list(logits.shape[1:])} per sample; "
                              f"{self.info.name!r} has {self.classes} classes")
        d = self.head("domain_head", batch, f, train=False)
        if d[0].numel() != 1:
            raise RecipeError(f"the domain head must output one logit per sample; it outputs "
                              f"{list(d.shape[1:])}")

    # --- one step ----------------------------------------------------------------------------

    def step(self, ctx, batch):
        xs, ys, xt = batch[self.field], batch[self.target], batch[f"target.{self.field}"]
        lam = self.strength(ctx.progress)
        for grl in self.reversals:
            grl.lambd = lam
        if self.method == "per_domain_bn":  # one pass per domain: each its own statistics
            f = torch.cat([self.features(batch, xs, domain="source"),
                           self.features(batch, xt, domain="target")])
        else:  # one pass over both: normalisation layers see the mixture they will serve
            f = self.features(batch, torch.cat([xs, xt]))
        logits = self.head("label_head", batch, f[: len(xs)]).float()
        is_target = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).to(f.device)
        out = {"lambda": torch.tensor(lam)}
        if self.method in ("dann", "reweight"):
            # reweight trains its domain classifier on detached features: no adversary
            d = self.head("domain_head", batch, f if self.method == "dann" else f.detach())
            d = d.float().reshape(-1)
            loss_domain = F.binary_cross_entropy_with_logits(d, is_target)
            out.update(loss_domain=loss_domain,
                       domain_accuracy=((d.detach() > 0).float() == is_target).float().mean())
        ce = F.cross_entropy(logits, ys, reduction="none")
        if self.method == "reweight":
            # w = p(target | x) / p(source | x) = exp(logit), scaled to mean 1 over the batch
            w = d.detach()[: len(xs)].clamp(-20, 20).exp()
            w = (w / w.mean()).clamp(max=MAX_WEIGHT)
            out["weight_max"] = w.max()
            ce = ce * w / w.mean()
        loss_label = ce.mean()
        loss = loss_label
        if "loss_domain" in out:
            loss = loss + self.options["domain_weight"] * out["loss_domain"]
            ctx.optimize(loss, "features", "label_head", "domain_head")
        else:  # the domain head is left untouched
            ctx.optimize(loss, "features", "label_head")
        return {"loss": loss, "loss_label": loss_label,
                "accuracy": (logits.detach().argmax(1) == ys).float().mean(), **out}

    # --- validation --------------------------------------------------------------------------

    def eval_batch(self, batch):
        xs, xt = batch[self.field], batch[f"target.{self.field}"]
        fs = self.features(batch, xs, False, "source")
        ft = self.features(batch, xt, False, "target")
        pred = self.head("label_head", batch, fs, False).argmax(1)
        ds = self.head("domain_head", batch, fs, False).reshape(-1)
        dt = self.head("domain_head", batch, ft, False).reshape(-1)
        out = {"correct": (pred == batch[self.target]).sum(), "n": torch.tensor(len(xs))}
        if self.method in ("dann", "reweight"):  # the baselines without one train no head
            out.update(domain_correct=(ds <= 0).sum() + (dt > 0).sum(),
                       n_domain=torch.tensor(len(xs) + len(xt)))
        if self.target_labels:
            pred_t = self.head("label_head", batch, ft, False).argmax(1)
            out["target_correct"] = (pred_t == batch[f"target.{self.target}"]).sum()
            out["n_target"] = torch.tensor(len(xt))
        return out

    def eval_summary(self, totals, count):
        metrics = {"accuracy": float(totals["correct"]) / max(1.0, float(totals["n"]))}
        if "domain_correct" in totals:
            metrics["domain_accuracy"] = float(totals["domain_correct"]) \
                / max(1.0, float(totals["n_domain"]))
        if "target_correct" in totals:
            metrics["target_accuracy"] = float(totals["target_correct"]) \
                / max(1.0, float(totals["n_target"]))
        return metrics, {}

    # --- state: the running statistics and the first picture ---------------------------------

    def state_dict(self):
        return {"stats": {k: list(v) for k, v in self.stats.items()},
                "before": self.before}

    def load_state_dict(self, state):
        self.stats = {k: list(v) for k, v in (state.get("stats") or {}).items()}
        self.before = state.get("before")

    # --- the picture -------------------------------------------------------------------------

    def samples(self, data, step, epoch):
        """Source and target features projected on their two main axes: adaptation is
        working when the two clouds overlap class by class.  The first picture is kept as
        "before", beside the latest."""
        device = next(iter(self.nets["features"].parameters()), torch.zeros(0)).device
        val = _first(data.val, POINTS, device)
        other = _first(data.others["target"].val, POINTS, device)
        if not val or not other:
            return []
        xs, xt = val[self.field], other[self.field]
        batch = {self.field: xs}
        f = torch.cat([self.features(batch, xs, False, "source"),
                       self.features(batch, xt, False, "target")])
        f = f.float().flatten(1)
        centred = f - f.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        now = {"points": (centred @ v[:2].T).cpu(),
               "domain": torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).long(),
               "classes": torch.cat([val[self.target].cpu(),
                                     other[self.target].cpu() if self.target in other
                                     else torch.full((len(xt),), -1)]),
               "epoch": torch.tensor(epoch)}
        if self.before is None:
            self.before = now
        return [self._picture(step, epoch, self.before,
                              f"features before (epoch {int(self.before['epoch']) + 1})"),
                self._picture(step, epoch, now, "features now: source and target")]

    @staticmethod
    def _picture(step, epoch, p, name):
        return Samples(step, epoch, name, "points", p["points"].numpy(), p["domain"].numpy(),
                       {"classes": p["classes"].numpy(), "names": ["source", "target"]})


def _first(part, n: int, device: torch.device) -> dict[str, Tensor]:
    """The first ``n`` samples of a validation part as one batch; a file-backed part (an
    image folder) is read through its Dataset, fewer of them as each is a decode."""
    if isinstance(part, TensorData):
        return {k: part[k][:n] for k in part.keys()}
    items = [part[i] for i in range(min(n // 2, len(part)))]
    if not items:
        return {}
    return {k: torch.stack([it[k] for it in items]).to(device) for k in items[0]}
