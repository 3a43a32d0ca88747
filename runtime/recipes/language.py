"""Language model: predict the next token at every position of a text, then write by feeding
each prediction back in.

Training is classification per position (the data's ``y`` is ``x`` shifted by one), scored by
the loss, the accuracy, the perplexity exp(loss) (as unsure as choosing among that many
tokens) and bits per character.  The samples continue a prompt one token at a time: each
token is drawn from softmax(logits / temperature), so a low temperature writes the likeliest
(and most repetitive) text and a high one takes risks; the temperature is a *live* setting,
changed between steps of a running run (``runtime.adjust``).

Generation windows the context: the network reads at most the last T tokens (T its input's
fixed length, else the data's window length, which positional encodings were trained on).
A context shorter than a fixed T is padded on the right and the prediction read at its last
real position: a left-to-right network (an LSTM, a causal Transformer) never looks right of
a position, so the padding changes nothing, where padding on the left would put characters
it never saw before the prompt.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from builder.blocks.spec import Param
from runtime.adjust import live_controls
from runtime.data.core import TensorData
from runtime.recipes import tokens
from runtime.recipes.base import RecipeError, eval_mode
from runtime.recipes.classification import Classification

__all__ = ["LanguageModel"]

TEXTS = 3  # continuations of the prompt per picture
PROMPT_CHARS = 16  # the default prompt: about this much of the text's start, cut at a space


class LanguageModel(Classification):
    name = "language"
    title = "Language model"
    description = ("Predict the next character (token) at every position of a text; samples "
                   "continue a prompt at a temperature you can change while it trains.")
    tasks = ("language",)
    params = (
        *Classification.params,
        Param("prompt", "str", "", help="The text the samples continue (empty: the first "
              "words of the training text)."),
        Param("temperature", "float", 0.8, min=0.0, max=5.0,
              help="Sampling temperature: 0 always takes the likeliest token, 1 draws from "
                   "the model's own probabilities, higher is wilder. Changes apply live."),
        Param("sample_length", "int", 200, min=1, max=5000,
              help="Tokens written after the prompt for each sample. Changes apply live."),
    )
    live = ("temperature", "sample_length")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fed = [s for s in self.fed_inputs("model") if s.kind == "index"]
        if len(fed) != 1:
            raise RecipeError(f"recipe {self.name!r} writes text with a network of one token "
                              f"input; {self.names['model']!r} has "
                              f"{', '.join(s.name for s in fed) or 'none'}")
        self.field = fed[0].field
        width = fed[0].shape[0] if fed[0].shape else None
        self.fixed = width if isinstance(width, int) else None
        data_width = self.info.fields[self.field].shape[0]
        self.window = self.fixed or (data_width if isinstance(data_width, int) else 256)
        if self.options["prompt"]:  # a bad character is named now, not at the first sample
            tokens.encode_prompt(self.options["prompt"], self.info.vocab, self.name)
        self.default_prompt = ""  # the text's first words, once the data is seen

    # --- training and validation ---------------------------------------------------------

    def loss(self, pred, y):
        loss = tokens.token_loss(pred, y, self.pad, self.options["label_smoothing"])
        plain = tokens.token_loss(pred.detach(), y, self.pad) \
            if self.options["label_smoothing"] else loss.detach()
        counts = tokens.token_counts(pred.detach().argmax(-1), y, self.pad)
        return loss, {"accuracy": counts["correct"] / counts["n"].clamp(min=1),
                      "perplexity": plain.exp()}

    def eval_summary(self, totals, count):
        metrics, extras = super().eval_summary(totals, count)
        metrics.pop("sequence_accuracy", None)  # a whole window right says nothing here
        metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
        metrics["bits_per_token"] = metrics["loss"] / math.log(2)
        return metrics, extras

    # --- writing -------------------------------------------------------------------------

    def generate(self, ids: list[int], n: int, length: int, temperature: float,
                 generator: torch.Generator | None = None) -> Tensor:
        """``[n, len(ids) + length]``: the prompt ``ids`` and ``length`` tokens after it."""
        seq = torch.tensor(ids, dtype=torch.int64, device=self.device).expand(n, -1)
        for _ in range(length):
            context = seq[:, -self.window:]
            last = context.shape[1] - 1
            if self.fixed and context.shape[1] < self.fixed:
                context = F.pad(context, (0, self.fixed - context.shape[1]), value=0)
            logits = self.prediction({self.field: context}, train=False)[:, last]
            seq = torch.cat([seq, tokens.pick(logits, temperature, generator)[:, None]], 1)
        return seq

    def write(self, prompt: str, n: int, length: int, temperature: float,
              generator: torch.Generator | None = None) -> list[str]:
        """``n`` texts, each the prompt and what the model writes after it (eval mode)."""
        ids = tokens.encode_prompt(prompt, self.info.vocab, self.name)
        with eval_mode(self.nets.values()), torch.no_grad():
            out = self.generate(ids, n, length, temperature, generator)
        return [prompt + tokens.decode(row[len(ids):], self.info.vocab) for row in out.tolist()]

    def _first_words(self, data) -> str:
        train = data.train
        if not isinstance(train, TensorData) or len(train) == 0:
            return ""
        text = tokens.decode(train[self.field][0][:PROMPT_CHARS], self.info.vocab)
        cut = text.rfind(" ")
        return text[:cut + 1] if cut > 0 else text

    def samples(self, data, step, epoch):
        self.default_prompt = self.default_prompt or self._first_words(data)
        prompt = self.options["prompt"] or self.default_prompt
        if not prompt:
            return []
        t = self.options["temperature"]
        texts = self.write(prompt, TEXTS, self.options["sample_length"], t,
                           torch.Generator().manual_seed(step))
        return [self.event(step, epoch, "generated text", "text", texts, None, prompt=prompt,
                           temperature=t, live=live_controls(self))]

    def sample(self, n, generator, prompt=None, temperature=1.0):
        prompt = prompt or self.options["prompt"] or self.default_prompt
        seed = ""
        if not prompt:  # nothing to continue: start after a line break, or any token
            seed = prompt = "\n" if "\n" in self.info.vocab else self.info.vocab[0]
        texts = self.write(prompt, n, self.options["sample_length"], temperature, generator)
        return self.event(0, 0, "generated text", "text",
                          [t[len(seed):] for t in texts], None, prompt=prompt[len(seed):],
                          temperature=temperature)
