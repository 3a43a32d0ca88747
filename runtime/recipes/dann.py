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
                                "for training."))
    feeds = (Feed("label_head", "features", "the feature extractor's output"),
             Feed("domain_head", "features", "the feature extractor's output"))
    params = (
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

    def _target_fields(self) -> set[str]:
        return {f"target.{k}" for k in self.others["target"].fields}

    def strength(self, progress: float) -> float:
        o = self.options
        return o["lambda_max"] * (2.0 / (1.0 + math.exp(-o["gamma"] * progress)) - 1.0) \
            if o["gamma"] > 0 else o["lambda_max"]

    # --- the networks ------------------------------------------------------------------------

    def features(self, batch: dict[str, Tensor], x: Tensor, train: bool = True) -> Tensor:
        return self.output("features", self.forward("features", batch, train,
                                                    replace={self.field: x}))

    def head(self, role: str, batch: dict[str, Tensor], f: Tensor, train: bool = True):
        return self.output(role, self.forward(role, batch, train, replace={"features": f}))

    def check(self, batch):
        f = self.features(batch, batch[self.field], train=False)
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
        # One pass over both domains: normalisation layers see the mixture they will serve.
        f = self.features(batch, torch.cat([xs, xt]))
        logits = self.head("label_head", batch, f[: len(xs)]).float()
        loss_label = F.cross_entropy(logits, ys)
        d = self.head("domain_head", batch, f).float().reshape(-1)
        is_target = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).to(d.device)
        loss_domain = F.binary_cross_entropy_with_logits(d, is_target)
        loss = loss_label + self.options["domain_weight"] * loss_domain
        ctx.optimize(loss, "features", "label_head", "domain_head")
        return {"loss": loss, "loss_label": loss_label, "loss_domain": loss_domain,
                "accuracy": (logits.detach().argmax(1) == ys).float().mean(),
                "domain_accuracy": ((d.detach() > 0).float() == is_target).float().mean(),
                "lambda": torch.tensor(lam)}

    # --- validation --------------------------------------------------------------------------

    def eval_batch(self, batch):
        xs, xt = batch[self.field], batch[f"target.{self.field}"]
        fs, ft = self.features(batch, xs, False), self.features(batch, xt, False)
        pred = self.head("label_head", batch, fs, False).argmax(1)
        ds = self.head("domain_head", batch, fs, False).reshape(-1)
        dt = self.head("domain_head", batch, ft, False).reshape(-1)
        out = {"correct": (pred == batch[self.target]).sum(), "n": torch.tensor(len(xs)),
               "domain_correct": (ds <= 0).sum() + (dt > 0).sum(),
               "n_domain": torch.tensor(len(xs) + len(xt))}
        if self.target_labels:
            pred_t = self.head("label_head", batch, ft, False).argmax(1)
            out["target_correct"] = (pred_t == batch[f"target.{self.target}"]).sum()
            out["n_target"] = torch.tensor(len(xt))
        return out

    def eval_summary(self, totals, count):
        metrics = {"accuracy": float(totals["correct"]) / max(1.0, float(totals["n"])),
                   "domain_accuracy": float(totals["domain_correct"])
                   / max(1.0, float(totals["n_domain"]))}
        if "target_correct" in totals:
            metrics["target_accuracy"] = float(totals["target_correct"]) \
                / max(1.0, float(totals["n_target"]))
        return metrics, {}

    # --- the picture -------------------------------------------------------------------------

    def samples(self, data, step, epoch):
        """Source and target features projected on their two main axes: adaptation is
        working when the two clouds overlap class by class."""
        val, other = data.val, data.others["target"].val
        if not isinstance(val, TensorData) or not isinstance(other, TensorData):
            return []
        xs, xt = val[self.field][:POINTS], other[self.field][:POINTS]
        batch = {self.field: xs}
        f = torch.cat([self.features(batch, xs, False), self.features(batch, xt, False)])
        f = f.float().flatten(1)
        centred = f - f.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        points = (centred @ v[:2].T).cpu().numpy()
        domain = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).long().numpy()
        classes = torch.cat([val[self.target][:POINTS],
                             other[self.target][:POINTS] if self.target in other
                             else torch.full((len(xt),), -1, device=xs.device)])
        return [Samples(step, epoch, "features: source (0) and target (1)", "points", points,
                        domain, {"classes": classes.cpu().numpy()})]
