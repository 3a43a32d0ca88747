"""Multi-label classification: any number of labels per sample, one sigmoid per label.

Binary cross-entropy on logits (no Sigmoid block needed).  Reported: per-label accuracy,
exact-match accuracy (every label right) and micro-averaged F1, which is what matters when
most labels are off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from builder.blocks.spec import Param
from runtime.recipes.base import RecipeError
from runtime.recipes.supervised import OUTPUT, TARGET, SupervisedRecipe

__all__ = ["MultiLabel"]


class MultiLabel(SupervisedRecipe):
    name = "multilabel"
    title = "Multi-label classification"
    description = "Predict a yes/no per label; trained with binary cross-entropy."
    tasks = ("multilabel",)
    params = (
        TARGET,
        OUTPUT,
        Param("pos_weight", "float", 1.0, min=1e-3, max=1e3,
              help="Weight of positive labels in the loss (above 1 when positives are rare)."),
    )

    def check_output(self, pred, y):
        if pred.shape != y.shape:
            raise RecipeError(f"the network predicts {list(pred.shape[1:])} per sample, but "
                              f"the labels {self.target!r} are {list(y.shape[1:])}: the last "
                              "layer needs one unit per label")

    def _bce(self, logits, y, reduction):
        w = self.options["pos_weight"]
        pos = None if w == 1.0 else torch.full_like(y[0], w)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos, reduction=reduction)

    def loss(self, pred, y):
        y = y.float()
        loss = self._bce(pred.float(), y, "mean")
        acc = ((pred.detach() > 0) == (y > 0.5)).float().mean()
        return loss, {"accuracy": acc}

    def eval_batch(self, batch):
        y = batch[self.target].float() > 0.5
        logits = self.prediction(batch, train=False).float()
        pred = logits > 0
        right = pred == y
        return {
            "loss": self._bce(logits, y.float(), "sum"),
            "right": right.sum(),
            "exact": right.flatten(1).all(1).sum(),
            "tp": (pred & y).sum(),
            "fp": (pred & ~y).sum(),
            "fn": (~pred & y).sum(),
            "n": torch.tensor(y.numel(), device=y.device),
            "samples": torch.tensor(y.shape[0], device=y.device),
        }

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        tp, fp, fn = (float(totals[k]) for k in ("tp", "fp", "fn"))
        return {
            "loss": float(totals["loss"]) / n,
            "accuracy": float(totals["right"]) / n,
            "exact_match": float(totals["exact"]) / max(1.0, float(totals["samples"])),
            "f1": 2 * tp / max(1.0, 2 * tp + fp + fn),
        }, {}
