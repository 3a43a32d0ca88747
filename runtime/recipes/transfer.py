"""Transfer learning in one run: pre-train on a large source task, then fine-tune on the small
target task, beside the same network trained on the target alone from the same initial
weights.

Two streams: ``data`` (the project's dataset: the target task, a few labelled samples,
validated on) and ``source`` (many labelled samples with the same input shape).  Two stages:

1. ``pre-train``: classification of the source batches (``source.x`` → ``source.y``),
   reported as ``source_accuracy``; the prediction is ``source_output`` (default: the same
   Output as the target's).
2. ``fine-tune``: the ``fine_tune`` recipe on the target: the head is given back its initial
   weights (a new head for the new classes), then everything trains (``fine_tune: all``) or
   the head alone on the frozen pre-trained features (``head``: feature extraction), while a
   copy of the network from its initial weights learns the target from scratch.  Its
   ``accuracy`` and ``scratch_accuracy`` share one plot.

A source task with a different number of classes gets its own head: a second Output in the
network, named by ``source_output``.
"""

from __future__ import annotations

from torch import Tensor

from builder.blocks.spec import Param
from runtime.recipes import tokens
from runtime.recipes.base import RecipeError, Stage, Stream
from runtime.recipes.classification import Classification
from runtime.recipes.fine_tune import NEW_HEAD

__all__ = ["Transfer"]

PREFIX = "source."


class Transfer(Classification):
    name = "transfer"
    title = "Transfer learning (pre-train, then fine-tune)"
    description = ("Pre-train on a large source task, then fine-tune on a small target task "
                   "beside the same network trained from scratch: both curves in one plot.")
    tasks = ("classification",)
    streams = (Stream("data", "The target task: few labelled samples, fine-tuned and "
                              "validated on."),
               Stream("source", "The source task to pre-train on: many labelled samples "
                                "with the same inputs."))
    params = Classification.params + (
        Param("source_output", "str", "",
              help="The Output node that answers the source task (default: the target's); "
                   "a second head when the source has other classes."),
        Param("pretrain_share", "float", 0.5, min=0.05, max=0.95,
              help="Share of the run's epochs spent pre-training on the source."),
        NEW_HEAD,
        Param("fine_tune", "choice", "all", choices=("all", "head"),
              help="all: every layer learns the target; head: only the new head, on the "
                   "frozen pre-trained features (feature extraction)."),
        Param("scratch", "bool", True,
              help="Train the from-scratch copy on the target alongside, for the comparison."),
    )
    monitor = ("source_accuracy", "max")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        source = self.others["source"]
        fields = [s.field for s in self.fed_inputs("model")] + [self.target]
        missing = [f for f in fields if f not in source.fields]
        if missing:
            raise RecipeError(f"the source dataset {source.name!r} has no field(s) "
                              f"{', '.join(missing)}; it has {', '.join(sorted(source.fields))}")
        for f in fields[:-1]:
            if tuple(source.fields[f].shape) != tuple(self.info.fields[f].shape):
                raise RecipeError(
                    f"field {f!r} is {list(source.fields[f].shape)} in the source dataset "
                    f"{source.name!r} but {list(self.info.fields[f].shape)} in the target "
                    f"{self.info.name!r}: pre-training needs inputs of the same shape")
        self.source_classes = tokens.vocab_size(source, self.name)
        self.head_output = self.options["source_output"] or self.options["output"] or None

    def stages(self):
        o = self.options
        keep = {k: o[k] for k in ("target", "output", "label_smoothing", "top_k",
                                  "new_head", "scratch")}
        head = [o["new_head"]] if o["new_head"] else []
        if o["fine_tune"] == "head" and not head:
            raise RecipeError("fine_tune 'head' trains the new head alone: name it in "
                              "new_head (the output layer's node id)")
        train = {"model": head} if o["fine_tune"] == "head" else None
        return [Stage("pre-train", share=o["pretrain_share"]),
                Stage("fine-tune", recipe="fine_tune", params=keep, train=train)]

    # --- the pre-training stage: the source batches, the source head ----------------------

    @staticmethod
    def source_batch(batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k[len(PREFIX):]: v for k, v in batch.items() if k.startswith(PREFIX)}

    def prediction(self, batch, train=True):
        return self.output("model", self.forward("model", batch, train), self.head_output)

    def check(self, batch):
        source = self.source_batch(batch)
        tokens.check_logits(self.prediction(source, train=False), source[self.target],
                            self.source_classes, self.names["model"], self.others["source"].name)

    def step(self, ctx, batch):
        metrics = super().step(ctx, self.source_batch(batch))
        return {("loss_source" if k == "loss" else f"source_{k}"): v for k, v in metrics.items()}

    def eval_batch(self, batch):
        out = super().eval_batch(self.source_batch(batch))
        out.pop("confusion", None)  # sized for the target's classes
        return out

    def eval_summary(self, totals, count):
        metrics, _ = super().eval_summary(totals, count)
        return {("loss_source" if k == "loss" else f"source_{k}"): v
                for k, v in metrics.items()}, {}

    def samples(self, data, step, epoch):
        """While pre-training: the source's validation images with the predicted and true
        source classes (the target's pictures come with the fine-tuning stage)."""
        source = data.others["source"]
        fed = self.fed_inputs("model")
        if len(fed) != 1 or source.info.fields[fed[0].field].kind != "image":
            return []
        return self.image_samples(source, fed[0].field, step, epoch,
                                  name="source predictions")
