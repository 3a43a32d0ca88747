"""Sequence to sequence with teacher forcing: one network reads a source sequence and the
target so far, and predicts the target's next symbol at every step.

While training, the decoder's input ``y_in`` (an Input whose source is ``recipe``) is the
true target shifted right by one, ``<bos> y_0 … y_(T-2)``, so every step learns from the
right history at once (teacher forcing).  At test time there is no true history: greedy
decoding runs the network T times, each time on the prefix it has produced so far (the
network takes the whole ``y_in``; steps not decoded yet hold ``<pad>``, which a left-to-right
decoder never looks at).  The gap between the two accuracies is *exposure bias*: a model
that only ever saw perfect histories stumbles over its own mistakes.

A network with attention may send the attention weights to a second Output named
``attention`` ([Tq, Tk] per sample); the recipe then draws them for one validation example,
decoded output steps against source steps, next to the decoded text.

``layerloom sample`` decodes a prompt: its characters, looked up in the vocabulary, are the
source (padded to the source's width).  A prompt is required: the recipe keeps no data of
its own to pick sources from.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes import tokens
from runtime.recipes.base import Feed, Recipe, RecipeError, Role, eval_mode
from runtime.recipes.supervised import OUTPUT, TARGET

__all__ = ["Seq2Seq", "shift_right", "ATTENTION"]

TEXTS = 8  # validation sources decoded for the samples view
ATTENTION = "attention"  # the Output that carries the attention map, when there is one


def shift_right(y: Tensor, bos: int) -> Tensor:
    """``<bos>`` then ``y`` without its last step: what the decoder has seen before each step."""
    start = torch.full_like(y[:, :1], bos)
    return torch.cat([start, y[:, :-1]], 1)


class Seq2Seq(Recipe):
    name = "seq2seq"
    title = "Sequence to sequence"
    description = ("Map a source sequence to a target sequence (copy, reverse, sort, add); "
                   "trained with teacher forcing, tested by greedy decoding.")
    roles = (Role("model", "Reads the source (and the target so far, y_in) and predicts the "
                           "target's next symbol at every step."),)
    params = (
        TARGET,
        OUTPUT,
        Param("label_smoothing", "float", 0.0, min=0.0, max=0.5,
              help="Spread this share of the target probability over all symbols."),
    )
    tasks = ("sequence",)
    feeds = (Feed("model", "y_in", "the decoder's input: <bos> then the target shifted by one"),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        info, target = self.info, self.options["target"]
        if target not in info.fields or not tokens.is_tokens(info, target):
            raise RecipeError(f"recipe {self.name!r} predicts a token field {target!r}, but "
                              f"dataset {info.name!r} has {', '.join(sorted(info.fields))}")
        if "bos" not in info.extra or not info.vocab:
            raise RecipeError(f"recipe {self.name!r} needs a vocabulary with a start symbol "
                              f"<bos>; dataset {info.name!r} has none")
        self.target = target
        self.bos, self.pad = int(info.extra["bos"]), tokens.pad_id(info)
        self.classes = tokens.vocab_size(info, self.name)
        self.length = info.fields[target].shape[0]  # decoding steps

    # --- running the network -------------------------------------------------------------

    def logits(self, batch: dict[str, Tensor], y_in: Tensor, train: bool = True) -> Tensor:
        out = self.forward("model", batch, train, replace={"y_in": y_in})
        return self.output("model", out, self._prediction())

    def _prediction(self) -> str | None:
        """The Output of the logits: the one named in the params, else the first that is
        not the attention map."""
        outputs = self.compiled["model"].outputs
        return self.options.get("output") or next(
            (o for o in outputs if o != ATTENTION), None)

    def decode(self, batch: dict[str, Tensor], n: int, steps: int, temperature: float = 0.0,
               generator: torch.Generator | None = None) -> Tensor:
        """``[n, steps]`` ids, one step at a time, each fed back as the next input: the most
        likely symbol (``temperature`` ≈ 0) or one drawn from softmax(logits / temperature).
        The decoder input keeps the target's full width (a network may need that shape)."""
        device = next(iter(batch.values())).device
        width = max(steps, self.length if isinstance(self.length, int) else 0)
        y_in = torch.full((n, width), max(self.pad, 0), dtype=torch.int64, device=device)
        y_in[:, 0] = self.bos
        out = torch.empty((n, steps), dtype=torch.int64, device=device)
        for t in range(steps):
            step = self.logits(batch, y_in, train=False)[:, t]
            out[:, t] = tokens.pick(step, temperature, generator)
            if t + 1 < width:
                y_in[:, t + 1] = out[:, t]
        return out

    # --- the recipe ----------------------------------------------------------------------

    def check(self, batch):
        y = batch[self.target]
        pred = self.logits(batch, shift_right(y, self.bos), train=False)
        tokens.check_logits(pred, y, self.classes, self.names["model"], self.info.name)

    def step(self, ctx, batch):
        y = batch[self.target]
        pred = self.logits(batch, shift_right(y, self.bos))
        loss = tokens.token_loss(pred, y, self.pad, self.options["label_smoothing"])
        ctx.optimize(loss, "model")
        counts = tokens.token_counts(pred.detach().argmax(-1), y, self.pad)
        return {"loss": loss, "accuracy": counts["correct"] / counts["n"].clamp(min=1)}

    def eval_batch(self, batch):
        y = batch[self.target]
        pred = self.logits(batch, shift_right(y, self.bos), train=False)
        forced = tokens.token_counts(pred.argmax(-1), y, self.pad)
        free = tokens.token_counts(self.decode(batch, y.shape[0], y.shape[1]), y, self.pad)
        return {"loss": tokens.token_loss(pred, y, self.pad, reduction="sum"),
                "correct": forced["correct"], "n": forced["n"],
                "greedy_correct": free["correct"], "seq_correct": free["seq_correct"],
                "seqs": free["seqs"]}

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals["n"]))
        seqs = max(1.0, float(totals["seqs"]))
        return {"loss": float(totals["loss"]) / n,
                "accuracy": float(totals["correct"]) / n,  # teacher forced
                "greedy_accuracy": float(totals["greedy_correct"]) / n,  # free running
                "sequence_accuracy": float(totals["seq_correct"]) / seqs}, {}

    # --- pictures and sampling -----------------------------------------------------------

    def _source(self) -> str:
        fed = self.fed_inputs("model")
        if len(fed) != 1:
            raise RecipeError(f"recipe {self.name!r} decodes prompts for a network with one "
                              f"data input; {self.names['model']!r} has "
                              f"{', '.join(s.name for s in fed) or 'none'}")
        return fed[0].field

    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []
        batch = {k: v[:TEXTS] for k, v in val.items()}
        y = batch[self.target]
        pred = self.decode(batch, y.shape[0], y.shape[1])
        field = self._source()
        vocab, lines, right = self.info.vocab, [], []
        for src, guess, want in zip(batch[field], pred, y, strict=True):
            keep = (want != self.pad).tolist()
            text = tokens.decode(guess, vocab, keep)
            target = tokens.decode(want, vocab, keep)
            lines.append(tokens.text_line(tokens.decode(src, vocab, (src != self.pad).tolist()),
                                          text, target))
            right.append(text == target)
        text = Samples(step, epoch, "greedy decoding", "text", lines, None,
                       {"correct": np.array(right, dtype=bool)})
        if ATTENTION not in self.compiled["model"].outputs:
            return [text]
        return [text, self._attention_map(batch, field, pred, step, epoch)]

    def _attention_map(self, batch, field, pred, step, epoch) -> Samples:
        """The attention weights of the first validation example while the network decodes
        it (fed its own greedy output): one row per output step, one column per source
        step, padding left out of both."""
        one = {k: v[:1] for k, v in batch.items()}
        out = self.forward("model", one, False, replace={"y_in": shift_right(pred[:1],
                                                                             self.bos)})
        weights = self.output("model", out, ATTENTION)[0].float()
        src, want = one[field][0], one[self.target][0]
        if weights.dim() != 2:
            raise RecipeError(f"output {ATTENTION!r} of network {self.names['model']!r} "
                              f"should be a [Tq, Tk] attention map; it is "
                              f"{list(weights.shape)} per sample")
        rows = (want != self.pad).nonzero()[:, 0]
        cols = (src != self.pad).nonzero()[:, 0]
        vocab = self.info.vocab
        return Samples(step, epoch, "attention map", "matrix",
                       weights[rows][:, cols].cpu().numpy(), None,
                       {"rows": [tokens.decode(pred[0, i:i + 1], vocab) for i in rows.tolist()],
                        "columns": [tokens.decode(src[j:j + 1], vocab) for j in cols.tolist()],
                        "x_label": "source", "y_label": "output", "levels": [0.0, 1.0]})

    def sample(self, n, generator, prompt=None, temperature=1.0):
        if not prompt:
            raise RecipeError(f"recipe {self.name!r} decodes a source sequence: give it as "
                              "the prompt, e.g. --prompt abc")
        field = self._source()
        ids = tokens.encode_prompt(prompt, self.info.vocab, self.name)
        spec = next(s for s in self.fed_inputs("model") if s.field == field)
        width = spec.shape[0] if spec.shape and isinstance(spec.shape[0], int) else len(ids)
        if len(ids) > width:
            raise RecipeError(f"the prompt has {len(ids)} symbols; network "
                              f"{self.names['model']!r} reads at most {width}")
        # Shorter sources are padded, as the dataset pads its own.
        fill = self.pad if self.pad >= 0 else 0
        source = torch.tensor(ids + [fill] * (width - len(ids)), device=self.device)
        batch = {field: source.expand(n, width).contiguous()}
        # No end symbol in these data: where source and target are equally wide (copy,
        # reverse, sort) the answer is as long as the prompt, else as wide as the target.
        same = self.info.fields[field].shape[0] == self.length
        steps = len(ids) if same or not isinstance(self.length, int) else self.length
        with eval_mode(self.nets.values()), torch.no_grad():
            out = self.decode(batch, n, steps, temperature, generator)
        texts = [f"{prompt} → {tokens.decode(row, self.info.vocab)}" for row in out.tolist()]
        return Samples(0, 0, "decoded", "text", texts)
