"""Fine-tuning beside a from-scratch twin: what pre-trained weights are worth, as two curves.

The recipe classifies as ``classification`` does and, on the very same batches, trains a copy
of the network taken when the recipe was built — before any start-from weights were loaded
and before any pre-training stage ran, so the copy holds the network's own initial weights.
Both answer every validation batch: ``accuracy`` is the fine-tuned network's and
``scratch_accuracy`` the copy's, drawn in one metrics plot (and ``loss`` beside
``loss_scratch``).  The copy is a helper: checkpointed so a run resumes, never saved as a
result.

``new_head`` names a layer that gets its initial weights back before the first step: the new
output layer of the new task, whose pre-trained weights answer the old task's classes.
Used on its own with start-from weights (an imported or earlier trained network), or as the
fine-tuning stage of the ``transfer`` and ``layerwise`` recipes.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from builder.compiler import LR_SCALE
from runtime.recipes.base import RecipeError, node_module
from runtime.recipes.classification import Classification

__all__ = ["FineTune", "NEW_HEAD"]

NEW_HEAD = Param("new_head", "str", "",
                 help="A layer (node id) given back its initial weights before fine-tuning "
                      "starts: the new head for the new task.  Empty: none.")


class FineTune(Classification):
    name = "fine_tune"
    title = "Fine-tuning vs from scratch"
    description = ("Classification that also trains a copy of the network from its initial "
                   "weights on the same batches: the gap between accuracy and "
                   "scratch_accuracy is what the start-from (pre-trained) weights bring.")
    tasks = ("classification",)
    params = Classification.params + (
        NEW_HEAD,
        Param("scratch", "bool", True,
              help="Train the from-scratch copy alongside (about twice the work per step)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        model = self.nets["model"]
        self.twin = f"{self.names['model']}_scratch" if self.options["scratch"] else None
        if self.twin:
            twin = copy.deepcopy(model)
            for p in twin.parameters():  # from scratch means every layer learns,
                p.requires_grad_(True)
            for m in twin.modules():  # at the network's own rate (factors suit fine-tuning)
                if hasattr(m, LR_SCALE):
                    delattr(m, LR_SCALE)
            self.nets[self.twin] = self.calls[self.twin] = twin
            self.names[self.twin] = self.twin
        self.head = None
        if self.options["new_head"]:
            where = f"recipe {self.name!r}, new_head"
            self.head = node_module(model, self.options["new_head"], where)
            if self.head is None or not any(True for _ in self.head.parameters()):
                raise RecipeError(f"{where}: node {self.options['new_head']!r} has no weights "
                                  "to start afresh; name the output layer (a Linear)")
            self.head_init = {k: v.detach().clone() for k, v in self.head.state_dict().items()}
        self.head_reset = False

    def _twin_prediction(self, batch: dict[str, Tensor], train: bool = True) -> Tensor:
        module = self.calls[self.twin] if train else self.nets[self.twin]
        return self.output("model", module(*self.inputs("model", batch)),
                           self.options.get("output") or None)

    def step(self, ctx, batch):
        if self.head is not None and not self.head_reset:
            with torch.no_grad():
                self.head.load_state_dict(self.head_init)
            self.head_reset = True
        y = batch[self.target]
        loss, metrics = self.loss(self.prediction(batch), y)
        if not self.twin:
            ctx.optimize(loss, "model")
            return {"loss": loss, **metrics}
        loss_s, metrics_s = self.loss(self._twin_prediction(batch), y)
        ctx.optimize(loss + loss_s, "model", self.twin)  # disjoint weights: two descents
        return {"loss": loss, **metrics, "loss_scratch": loss_s,
                "scratch_accuracy": metrics_s["accuracy"]}

    def eval_batch(self, batch):
        out = super().eval_batch(batch)
        if self.twin:
            logits, y = self._flat(self._twin_prediction(batch, train=False).float(),
                                   batch[self.target])
            real = y != self.pad
            out["scratch_loss"] = F.cross_entropy(logits, y, ignore_index=self.pad,
                                                  reduction="sum")
            out["scratch_correct"] = ((logits.argmax(1) == y) & real).sum()
            out["scratch_n"] = real.sum()
        return out

    def eval_summary(self, totals, count):
        metrics, extras = super().eval_summary(totals, count)
        if "scratch_n" in totals:
            n = max(1.0, float(totals["scratch_n"]))
            metrics["loss_scratch"] = float(totals["scratch_loss"]) / n
            metrics["scratch_accuracy"] = float(totals["scratch_correct"]) / n
        return metrics, extras

    def state_dict(self):
        return {"head_reset": self.head_reset}

    def load_state_dict(self, state):
        self.head_reset = bool(state.get("head_reset", False))
