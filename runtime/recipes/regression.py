"""Regression: predict numbers; mean squared error, mean absolute error or Huber loss.

Validation reports all three views of the error (MSE, MAE, RMSE) and R², whichever loss is
trained, so the user can compare losses on the same scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.recipes.base import RecipeError
from runtime.recipes.supervised import OUTPUT, TARGET, SupervisedRecipe

__all__ = ["Regression", "LOSSES"]

LOSSES = ("mse", "mae", "huber")


class Regression(SupervisedRecipe):
    name = "regression"
    title = "Regression"
    description = "Predict real numbers; trained with MSE, MAE or Huber loss."
    tasks = ("regression", "sequence")
    params = (
        TARGET,
        OUTPUT,
        Param("loss", "choice", "mse", choices=LOSSES,
              help="mse punishes big errors most; mae treats all errors alike; huber is mse "
                   "near zero and mae far away (robust to outliers)."),
        Param("delta", "float", 1.0, min=1e-6, max=1e6, help="Huber: where mse becomes mae."),
    )

    def _match(self, pred: Tensor, y: Tensor) -> Tensor:
        if pred.shape != y.shape and pred.numel() == y.numel():
            return pred.reshape(y.shape)  # [B, 1] against [B] and the like
        return pred

    def check_output(self, pred: Tensor, y: Tensor) -> None:
        if pred.numel() != y.numel():
            raise RecipeError(f"the network predicts {list(pred.shape[1:])} per sample, but "
                              f"the target {self.target!r} is {list(y.shape[1:])}")
        if not y.is_floating_point():
            raise RecipeError(f"field {self.target!r} holds integers: for class labels use "
                              "the classification recipe")

    def _loss(self, pred: Tensor, y: Tensor, reduction: str) -> Tensor:
        kind = self.options["loss"]
        if kind == "mse":
            return F.mse_loss(pred, y, reduction=reduction)
        if kind == "mae":
            return F.l1_loss(pred, y, reduction=reduction)
        return F.huber_loss(pred, y, reduction=reduction, delta=self.options["delta"])

    def loss(self, pred, y):
        pred = self._match(pred, y).float()
        return self._loss(pred, y.float(), "mean"), {}

    def eval_batch(self, batch):
        y = batch[self.target].float()
        pred = self._match(self.prediction(batch, train=False), y).float()
        err = pred - y
        return {
            "loss": self._loss(pred, y, "sum"),
            "sse": (err * err).sum(),
            "sae": err.abs().sum(),
            "sy": y.sum(),
            "syy": (y * y).sum(),
            "n": torch.tensor(y.numel(), device=y.device),
        }

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        mse = float(totals["sse"]) / n
        sst = float(totals["syy"]) - float(totals["sy"]) ** 2 / n
        metrics = {"loss": float(totals["loss"]) / n, "mse": mse, "rmse": mse ** 0.5,
                   "mae": float(totals["sae"]) / n}
        if sst > 0:
            metrics["r2"] = 1.0 - float(totals["sse"]) / sst
        return metrics, {}

    def plane_samples(self, x, y, step, epoch):
        if x.shape[1] != 1 or y[0].numel() != 1:
            return []
        field = self.fed_inputs("model")[0].field
        lo, hi = float(x.min()), float(x.max())
        xs = torch.linspace(lo, hi, 200, device=x.device)[:, None]
        with torch.no_grad():
            curve = self.predict(xs, field).float().reshape(-1)
        return [
            self.event(step, epoch, "fit", "curve",
                       self.numpy(torch.stack([xs[:, 0], curve], 1)), None,
                       points=self.numpy(torch.stack([x[:, 0], y.reshape(-1).float()], 1))),
        ]
