"""Classification: cross-entropy on logits; accuracy, top-k accuracy and a confusion matrix.

The network's output is one logit per class (no softmax block needed: cross-entropy applies
log-softmax itself, which is numerically safer).  Outputs with extra axes, ``[B, T, C]`` with
targets ``[B, T]``, are scored per position: token data (sequence and language tasks) gets a
class per time step, its padding counts in neither loss nor accuracy, ``accuracy`` is over
real tokens and ``sequence_accuracy`` the share of sequences right at every real token.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.recipes import tokens
from runtime.recipes.supervised import OUTPUT, TARGET, SupervisedRecipe, plane_grid

__all__ = ["Classification"]

MAX_CONFUSION = 100  # classes; a larger matrix is too big to look at or to send each epoch
TEXTS = 8  # validation sequences shown as text samples


class Classification(SupervisedRecipe):
    name = "classification"
    title = "Classification"
    description = ("Predict one class per sample, or one symbol per time step of a token "
                   "sequence; trained with cross-entropy.")
    tasks = ("classification", "sequence", "language")
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
        self.classes = tokens.vocab_size(self.info, self.name)
        self.k = self.options["top_k"] if self.classes > self.options["top_k"] else 0
        # Per time step: padding is ignored and whole sequences are scored too.
        self.per_step = tokens.is_tokens(self.info, self.target)
        self.pad = tokens.pad_id(self.info) if self.per_step else tokens.IGNORE

    def _flat(self, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if logits.dim() > 2:  # [B, T, C] → [B·T, C]
            return logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        return logits, y

    def check_output(self, pred: Tensor, y: Tensor) -> None:
        tokens.check_logits(pred, y, self.classes, self.names["model"], self.info.name)

    def loss(self, pred, y):
        smoothing = self.options["label_smoothing"]
        if self.per_step:
            loss = tokens.token_loss(pred, y, self.pad, smoothing)
            counts = tokens.token_counts(pred.detach().argmax(-1), y, self.pad)
            return loss, {"accuracy": counts["correct"] / counts["n"].clamp(min=1),
                          "sequence_accuracy": counts["seq_correct"] / counts["seqs"]}
        logits, y = self._flat(pred, y)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
        acc = (logits.detach().argmax(1) == y).float().mean()
        return loss, {"accuracy": acc}

    def eval_batch(self, batch):
        pred_full = self.prediction(batch, train=False).float()
        y_full = batch[self.target]
        logits, y = self._flat(pred_full, y_full)
        pred = logits.argmax(1)
        real = y != self.pad
        out = {"loss": F.cross_entropy(logits, y, ignore_index=self.pad, reduction="sum")}
        if self.per_step:
            out.update(tokens.token_counts(pred_full.argmax(-1), y_full, self.pad))
        else:
            out.update(correct=(pred == y).sum(), n=torch.tensor(y.numel(), device=y.device))
        if self.k:
            top = logits.topk(self.k, dim=1).indices
            out["correct_top"] = ((top == y[:, None]).any(1) & real).sum()
        # A matrix per symbol of a sequence task says little and grows with the vocabulary.
        if not self.per_step and self.classes <= MAX_CONFUSION:
            c = self.classes
            out["confusion"] = torch.bincount(y * c + pred, minlength=c * c).reshape(c, c)
        return out

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        metrics = {"loss": float(totals["loss"]) / n, "accuracy": float(totals["correct"]) / n}
        if "seq_correct" in totals:
            metrics["sequence_accuracy"] = float(totals["seq_correct"]) / max(
                1.0, float(totals["seqs"]))
        if "correct_top" in totals:
            metrics[f"top{self.k}_accuracy"] = float(totals["correct_top"]) / n
        extras = {}
        if "confusion" in totals:
            extras["confusion"] = totals["confusion"].cpu().numpy().astype(np.int64)
        return metrics, extras

    def samples(self, data, step, epoch):
        if self.info.extra.get("tree"):  # trees are drawn as trees (SupervisedRecipe)
            return super().samples(data, step, epoch)
        fed = self.fed_inputs("model")
        if self.per_step:  # no plane or images for token ids; text where they have one
            return self.text_samples(data, step, epoch) if self.info.vocab else []
        if self.info.vocab and any(s.kind == "index" for s in fed):  # a sequence → a class
            return self.text_samples(data, step, epoch)
        if len(fed) == 1 and len(fed[0].shape) == 3 and data.info.fields.get(
                fed[0].field) is not None and data.info.fields[fed[0].field].kind == "image":
            return self.image_samples(data, fed[0].field, step, epoch)
        return super().samples(data, step, epoch)

    def text_samples(self, data, step, epoch) -> list:
        """The first validation sequences, decoded: input → prediction (target); the
        class names when a whole sequence has one class."""
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []
        batch = {k: v[:TEXTS] for k, v in val.items()}
        with torch.no_grad():
            pred = self.prediction(batch, train=False).argmax(-1)
        fed = [s for s in self.fed_inputs("model") if s.kind == "index"]
        vocab, lines, right = self.info.vocab, [], []
        names = self.info.class_names or tuple(str(c) for c in range(self.classes))
        pad = tokens.pad_id(self.info)
        for i, y in enumerate(batch[self.target]):
            x = batch[fed[0].field][i] if fed else y[:0]
            src = tokens.decode(x, vocab, (x != pad).tolist())
            if self.per_step:
                keep = (y != self.pad).tolist()
                guess, want = tokens.decode(pred[i], vocab, keep), tokens.decode(y, vocab, keep)
            else:
                guess, want = names[int(pred[i])], names[int(y)]
            lines.append(tokens.text_line(src, guess, want))
            right.append(guess == want)
        return [self.event(step, epoch, "predictions", "text", lines, None,
                           correct=np.array(right, dtype=bool))]

    def image_samples(self, data, field, step, epoch, count: int = 16,
                      name: str = "predictions") -> list:
        """The first validation images of ``data`` (the project's, or another stream's)
        with their predicted and true classes, named as that data names them."""
        val, info = data.val, data.info
        if not isinstance(val, TensorData) or len(val) == 0:
            return []  # file-backed parts have no cheap random access to show
        x, y = val[field][:count], val[self.target][:count]
        with torch.no_grad():
            pred = self.predict(x, field).argmax(-1)
        images = x.float()
        if info.mean is not None and info.std is not None:
            shape = (1, -1, 1, 1)
            images = images * torch.tensor(info.std, device=x.device).view(shape) \
                + torch.tensor(info.mean, device=x.device).view(shape)
        names = info.class_names or tuple(str(i) for i in range(int(pred.max()) + 1))
        labels = [f"{names[p]} / {names[t]}" if max(p, t) < len(names) else f"{p} / {t}"
                  for p, t in zip(pred.tolist(), y.tolist())]
        return [self.event(step, epoch, name, "images",
                           self.numpy(images.clamp(0, 1)), labels,
                           correct=self.numpy(pred == y).astype(bool))]

    def plane_samples(self, x, y, step, epoch):
        if x.shape[1] != 2:
            return []
        field = self.fed_inputs("model")[0].field
        grid, extent = plane_grid(x)
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
