"""The shape shared by supervised recipes: one network (role ``model``), a target field,
a loss on its output; classification, regression and multi-label fill in the loss."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import Recipe, RecipeError, Role, StepContext

__all__ = ["SupervisedRecipe", "TARGET", "OUTPUT", "plane_grid"]

TARGET = Param("target", "str", "y", help="The data field the network should predict.")
OUTPUT = Param("output", "str", "", help="Which Output node is the prediction (default: the "
               "first).")


def plane_grid(x: Tensor, size: int = 96) -> tuple[Tensor, list[float]]:
    """A size×size grid of points covering the 2-D points ``x`` with a margin (rows from
    the bottom up); and its extent [x0, x1, y0, y1].  Where a picture of the plane is drawn:
    a decision boundary, a discriminator's landscape."""
    lo = x.min(0).values
    hi = x.max(0).values
    pad = (hi - lo) * 0.1 + 1e-3
    lo, hi = lo - pad, hi + pad
    xs = torch.linspace(float(lo[0]), float(hi[0]), size, device=x.device)
    ys = torch.linspace(float(lo[1]), float(hi[1]), size, device=x.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    return pts, [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]


class SupervisedRecipe(Recipe):
    roles = (Role("model", "The network that maps inputs to predictions."),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        target = self.options["target"]
        if target not in self.info.fields:
            raise RecipeError(f"recipe {self.name!r} predicts field {target!r}, but dataset "
                              f"{self.info.name!r} has {', '.join(sorted(self.info.fields))}")
        self.target = target

    def prediction(self, batch: dict[str, Tensor], train: bool = True) -> Tensor:
        out = self.forward("model", batch, train)
        return self.output("model", out, self.options.get("output") or None)

    def loss(self, pred: Tensor, y: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(mean loss, extra 0-d metrics) for a training batch."""
        raise NotImplementedError

    def step(self, ctx: StepContext, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        pred = self.prediction(batch)
        loss, metrics = self.loss(pred, batch[self.target])
        ctx.optimize(loss, "model")
        return {"loss": loss, **metrics}

    def check_output(self, pred: Tensor, y: Tensor) -> None:
        """Raise RecipeError when the prediction cannot be compared with the target."""

    def check(self, batch: dict[str, Tensor]) -> None:
        self.check_output(self.prediction(batch, train=False), batch[self.target])

    # --- pictures ------------------------------------------------------------------------

    def samples(self, data, step: int, epoch: int) -> list:
        """For 1-D or 2-D vector inputs: the prediction over the plane / along the axis."""
        fed = self.fed_inputs("model")
        if len(fed) != 1 or len(fed[0].shape) != 1 or fed[0].shape[0] not in (1, 2):
            return []
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []  # file-backed parts have no cheap random access to show
        x = val[fed[0].field][:1000]
        y = val[self.target][:1000]
        return self.plane_samples(x, y, step, epoch)

    def plane_samples(self, x: Tensor, y: Tensor, step: int, epoch: int) -> list:
        return []

    def predict(self, x: Tensor, field: str) -> Tensor:
        return self.prediction({field: x}, train=False)

    @staticmethod
    def numpy(t: Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    @staticmethod
    def event(step, epoch, name, kind, data, labels=None, **extra) -> Samples:
        return Samples(step, epoch, name, kind, data, labels, extra)
