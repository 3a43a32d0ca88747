"""Regression: predict numbers; mean squared error, mean absolute error or Huber loss.

Validation reports all three views of the error (MSE, MAE, RMSE) and R², whichever loss is
trained, so the user can compare losses on the same scale.  A forecaster (a ``[T, 1]``
sequence in, the next values out) is drawn as a few validation windows: the past, the true
future and the predicted one.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import RecipeError
from runtime.recipes.supervised import OUTPUT, TARGET, SupervisedRecipe

__all__ = ["Regression", "LOSSES", "WINDOWS"]

LOSSES = ("mse", "mae", "huber")
WINDOWS = 3  # validation windows a forecast picture shows, side by side


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

    # --- forecasts -------------------------------------------------------------------------

    def samples(self, data, step, epoch):
        fed = self.fed_inputs("model")
        if len(fed) == 1 and self._forecaster(data, fed[0].field):
            return self.forecast_samples(data, fed[0].field, step, epoch)
        return super().samples(data, step, epoch)

    def _forecaster(self, data, field: str) -> bool:
        """One series in ([T, 1] values), its next values out ([H] floats): a forecast."""
        x, y = data.info.fields.get(field), data.info.fields.get(self.target)
        return (x is not None and x.kind == "sequence" and len(x.shape) == 2
                and x.shape[1] == 1 and y is not None and len(y.shape) == 1
                and y.dtype.startswith("float") and isinstance(data.val, TensorData)
                and len(data.val) > 0)

    def _raw(self, t: Tensor, field: str) -> Tensor:
        """Values in the data's own units: a standardised field's statistics undone."""
        if field not in self.info.stats:
            return t
        mean, std = (torch.tensor(s, device=t.device) for s in self.info.stats[field])
        if mean.numel() != t.shape[-1]:
            mean, std = mean[:1], std[:1]
        return t * std + mean

    def forecast_samples(self, data, field: str, step: int, epoch: int,
                         count: int = WINDOWS) -> list:
        """The first validation windows side by side (a gap between them) as one "curve":
        ``past`` the last values the model read (at most twice the horizon, at least 16,
        so the future stays in sight), and as series the true future and the forecast,
        each starting from the last past value so the lines join on."""
        x, y = data.val[field][:count], data.val[self.target][:count].float()
        with torch.no_grad():
            pred = self._match(self.predict(x, field), y).float()
        y, pred = self.numpy(self._raw(y, self.target)), self.numpy(self._raw(pred, self.target))
        h = y.shape[1]
        past = self.numpy(self._raw(x[..., 0].float(), field))[:, -max(16, 2 * h):]
        w = past.shape[1]
        gap = max(2, (w + h) // 8)
        lines: dict[str, list[np.ndarray]] = {"past": [], "true future": [], "forecast": []}
        for i in range(len(past)):
            at = i * (w + h + gap)
            future = at + w - 1 + np.arange(h + 1)
            lines["past"].append(np.stack([at + np.arange(w), past[i]], 1))
            for name, values in (("true future", y[i]), ("forecast", pred[i])):
                lines[name].append(np.stack([future, np.r_[past[i, -1], values]], 1))
        # NaN rows between windows break the lines.
        gap_row = np.full((1, 2), np.nan)
        joined = {k: np.concatenate([p for part in v for p in (part, gap_row)][:-1])
                  for k, v in lines.items()}
        past = joined.pop("past")
        extra = {"name": "past", "series": joined, "y_label": "value",
                 "x_label": "time step (windows side by side)"}
        return [Samples(step, epoch, "forecast", "curve", past, None, extra)]
