"""Classification: cross-entropy on logits; accuracy, top-k accuracy and a confusion matrix.

The network's output is one logit per class (no softmax block needed: cross-entropy applies
log-softmax itself, which is numerically safer).  Outputs with extra axes, ``[B, T, C]`` with
targets ``[B, T]``, are scored per position.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.recipes.base import RecipeError
from runtime.recipes.supervised import OUTPUT, TARGET, SupervisedRecipe

__all__ = ["Classification"]

MAX_CONFUSION = 100  # classes; a larger matrix is too big to look at or to send each epoch


class Classification(SupervisedRecipe):
    name = "classification"
    title = "Classification"
    description = "Predict one class per sample; trained with cross-entropy."
    tasks = ("classification",)
    params = (
        TARGET,
        OUTPUT,
        Param("label_smoothing", "float", 0.0, min=0.0, max=0.5,
              help="Spread this share of the target probability over all classes."),
        Param("top_k", "int", 5, min=2, max=100, help="Also report top-k accuracy (when there "
              "are more than k classes)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.info.num_classes is None:
            raise RecipeError(f"dataset {self.info.name!r} has no class count; choose the "
                              "regression recipe or a labelled dataset")
        self.classes = int(self.info.num_classes)
        self.k = self.options["top_k"] if self.classes > self.options["top_k"] else 0

    def _flat(self, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if logits.dim() > 2:  # [B, T, C] → [B·T, C]
            return logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        return logits, y

    def check_output(self, pred: Tensor, y: Tensor) -> None:
        if pred.dim() < 2 or pred.shape[-1] != self.classes:
            raise RecipeError(
                f"the network's output has shape {list(pred.shape[1:])} per sample, but "
                f"{self.info.name!r} has {self.classes} classes: the last layer needs "
                f"{self.classes} units (one logit per class)")
        if pred.shape[:-1] != y.shape:
            raise RecipeError(f"the output {list(pred.shape)} does not line up with the "
                              f"labels {list(y.shape)}")

    def loss(self, pred, y):
        logits, y = self._flat(pred, y)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.options["label_smoothing"])
        acc = (logits.detach().argmax(1) == y).float().mean()
        return loss, {"accuracy": acc}

    def eval_batch(self, batch):
        logits, y = self._flat(self.prediction(batch, train=False), batch[self.target])
        logits = logits.float()
        pred = logits.argmax(1)
        out = {
            "loss": F.cross_entropy(logits, y, reduction="sum"),
            "correct": (pred == y).sum(),
            "n": torch.tensor(y.numel(), device=y.device),
        }
        if self.k:
            top = logits.topk(self.k, dim=1).indices
            out["correct_top"] = (top == y[:, None]).any(1).sum()
        if self.classes <= MAX_CONFUSION:
            c = self.classes
            out["confusion"] = torch.bincount(y * c + pred, minlength=c * c).reshape(c, c)
        return out

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        metrics = {"loss": float(totals["loss"]) / n, "accuracy": float(totals["correct"]) / n}
        if "correct_top" in totals:
            metrics[f"top{self.k}_accuracy"] = float(totals["correct_top"]) / n
        extras = {}
        if "confusion" in totals:
            extras["confusion"] = totals["confusion"].cpu().numpy().astype(np.int64)
        return metrics, extras

    def samples(self, data, step, epoch):
        fed = self.fed_inputs("model")
        if len(fed) == 1 and len(fed[0].shape) == 3 and data.info.fields.get(
                fed[0].field) is not None and data.info.fields[fed[0].field].kind == "image":
            return self.image_samples(data, fed[0].field, step, epoch)
        return super().samples(data, step, epoch)

    def image_samples(self, data, field, step, epoch, count: int = 16) -> list:
        """The first validation images with their predicted and true classes."""
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []  # file-backed parts have no cheap random access to show
        x, y = val[field][:count], val[self.target][:count]
        with torch.no_grad():
            pred = self.predict(x, field).argmax(-1)
        images = x.float()
        if self.info.mean is not None and self.info.std is not None:
            shape = (1, -1, 1, 1)
            images = images * torch.tensor(self.info.std, device=x.device).view(shape) \
                + torch.tensor(self.info.mean, device=x.device).view(shape)
        names = self.info.class_names or tuple(str(i) for i in range(self.classes))
        labels = [f"{names[p]} / {names[t]}" for p, t in zip(pred.tolist(), y.tolist())]
        return [self.event(step, epoch, "predictions", "images",
                           self.numpy(images.clamp(0, 1)), labels,
                           correct=self.numpy(pred == y).astype(bool))]

    def plane_samples(self, x, y, step, epoch):
        if x.shape[1] != 2:
            return []
        field = self.fed_inputs("model")[0].field
        grid, extent = self.grid(x)
        with torch.no_grad():
            probs = self.predict(grid, field).float().softmax(-1)
            pred = self.predict(x, field).argmax(-1)
        size = int(round(grid.shape[0] ** 0.5))
        # Class index + confidence: the GUI colours by class and shades by confidence.
        conf, cls = probs.max(-1)
        return [
            self.event(step, epoch, "decision boundary", "heatmap",
                       self.numpy(cls.reshape(size, size)), None, extent=extent,
                       confidence=self.numpy(conf.reshape(size, size)),
                       classes=self.classes),
            self.event(step, epoch, "validation points", "points", self.numpy(x),
                       self.numpy(y).astype(np.int64),
                       predicted=self.numpy(pred).astype(np.int64)),
        ]
