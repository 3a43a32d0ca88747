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

__all__ = ["SupervisedRecipe", "TARGET", "OUTPUT", "plane_grid", "TREES"]

TARGET = Param("target", "str", "y", help="The data field the network should predict.")
OUTPUT = Param("output", "str", "", help="Which Output node is the prediction (default: the "
               "first).")
TREES = 6  # validation trees shown in a "tree" picture


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
        """For trees (the dataset names their fields in ``extra["tree"]``): a few drawn with
        the prediction at the root; for 1-D or 2-D vector inputs: the prediction over the
        plane / along the axis."""
        if self.info.extra.get("tree"):
            return self.tree_samples(data, step, epoch)
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

    def tree_samples(self, data, step: int, epoch: int, count: int = TREES) -> list:
        """The first validation trees, each node with its token and true value, and the
        network's answer against the truth at the root (a value, or a class when the network
        gives several scores)."""
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []
        names = self.info.extra["tree"]
        batch = {k: v[:count] for k, v in val.items()}
        with torch.no_grad():
            pred = self.prediction(batch, train=False).float()
        pred = pred.reshape(pred.shape[0], -1)
        guess = pred[:, 0] if pred.shape[1] == 1 else pred.argmax(1).float()
        truth = batch[self.target].float().reshape(pred.shape[0], -1)[:, 0]
        values = batch.get(names.get("values", ""))
        trees = [_tree(batch[names["tokens"]][i], batch[names["left"]][i],
                       batch[names["right"]][i], int(batch[names["root"]][i]),
                       None if values is None else values[i], self.info.vocab)
                 for i in range(pred.shape[0])]
        return [self.event(step, epoch, "trees", "tree", trees,
                           [t.pop("text") for t in trees],
                           predicted=self.numpy(guess), truth=self.numpy(truth),
                           classes=pred.shape[1] > 1)]

    def predict(self, x: Tensor, field: str) -> Tensor:
        return self.prediction({field: x}, train=False)

    @staticmethod
    def numpy(t: Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    @staticmethod
    def event(step, epoch, name, kind, data, labels=None, **extra) -> Samples:
        return Samples(step, epoch, name, kind, data, labels, extra)


def _tree(tokens: Tensor, left: Tensor, right: Tensor, root: int, values: Tensor | None,
          vocab: tuple[str, ...]) -> dict:
    """One encoded tree as the ``tree`` kind draws it: only the nodes under ``root``,
    renumbered in post-order (children first), with each node's text and true value."""
    tokens, left, right = tokens.tolist(), left.tolist(), right.tolist()
    order: list[int] = []

    def visit(i: int, depth: int) -> None:
        if depth > len(tokens):  # a cycle: left/right do not describe a tree
            raise ValueError(f"the tree's left/right positions loop back at node {i}")
        for child in (left[i], right[i]):
            if 0 <= child < len(tokens):
                visit(child, depth + 1)
        order.append(i)

    visit(root, 0)
    at = {old: new for new, old in enumerate(order)}
    text = [vocab[tokens[i]] if 0 <= tokens[i] < len(vocab) else str(tokens[i]) for i in order]
    kids_l = [at.get(left[i], -1) for i in order]
    kids_r = [at.get(right[i], -1) for i in order]

    def infix(i: int) -> str:
        if kids_l[i] < 0 and kids_r[i] < 0:
            return text[i]
        inner = [infix(c) for c in (kids_l[i], kids_r[i]) if c >= 0]
        return f"({inner[0]}{text[i]}{inner[-1]})" if len(inner) == 2 else \
            f"{text[i]}({inner[0]})"

    return {"labels": text, "left": np.array(kids_l, np.int64),
            "right": np.array(kids_r, np.int64), "root": len(order) - 1,
            "values": None if values is None else
            values.detach().float().cpu().numpy()[order].astype(np.float32),
            "text": infix(len(order) - 1)}
