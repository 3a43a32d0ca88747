"""Predictions of a trained project on inputs the user gives: ``layerloom predict``
(``runtime.predict_cli``) and the training dock's inference panel both use ``Predictor``.

The recipe is built over the project's networks with the trained weights of a run folder
(``runtime.sampling.load_trained``, as ``layerloom sample``), in eval mode on the CPU.  Inputs
are read on the raw scale (``runtime.predict_inputs``) and standardised exactly as the export
does (``runtime.preprocess.WithPreprocess``, with the run's recorded statistics, else the
dataset's).  What comes out depends on the recipe: the top-k classes with probabilities, the
labels' independent probabilities, the predicted values, or decoded text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from builder.document import Project
from runtime.assemble import load_data, make_recipe
from runtime.data.core import TensorData
from runtime.export import run_preprocess
from runtime.predict_inputs import InputError, read_raw
from runtime.preprocess import Preprocess, WithPreprocess
from runtime.recipes import tokens
from runtime.recipes.language import LanguageModel
from runtime.recipes.multilabel import MultiLabel
from runtime.recipes.regression import Regression
from runtime.recipes.seq2seq import Seq2Seq
from runtime.recipes.supervised import SupervisedRecipe
from runtime.sampling import load_trained

__all__ = ["PredictError", "InputError", "Sample", "Prediction", "Predictor", "TOP"]

TOP = 5


class PredictError(ValueError):
    """The project or its weights cannot predict from an input; one line."""


@dataclass
class Sample:
    """One input as the network sees it: ``tensor`` is standardised, per sample."""

    name: str
    tensor: torch.Tensor
    truth: str = ""  # a validation sample's right answer, in words


@dataclass
class Prediction:
    input: str
    kind: str  # "classes", "labels" (independent probabilities), "value" or "text"
    classes: list[tuple[str, float]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    text: str = ""
    truth: str = ""

    def to_json(self) -> dict:
        out: dict = {"input": self.input}
        if self.kind == "value":
            out["predictions"] = [{"value": v} for v in self.values]
        elif self.kind == "text":
            out["predictions"] = [{"text": self.text}]
            if self.classes:  # a language model's next symbol
                out["next"] = [{"class": c, "probability": p} for c, p in self.classes]
        else:
            out["predictions"] = [{"class": c, "probability": p} for c, p in self.classes]
        if self.truth:
            out["truth"] = self.truth
        return out

    def summary(self) -> str:
        """The answer in a few words: ``cat 0.91, dog 0.05``, ``3.14``, the decoded text."""
        if self.kind == "value":
            return ", ".join(f"{v:.4g}" for v in self.values)
        if self.kind == "text":
            nxt = ", ".join(f"{c!r} {p:.2f}" for c, p in self.classes[:3])
            return self.text + (f"   (next: {nxt})" if nxt else "")
        return ", ".join(f"{c} {p:.2f}" for c, p in self.classes)


class Predictor:
    """A project's model network with the weights of ``weights`` (a run folder or one
    .safetensors file), ready to answer inputs."""

    def __init__(self, project: Project, weights: str | Path, device: str = "cpu"):
        self.data = load_data(project)
        recipe = make_recipe(project, self.data)
        if not isinstance(recipe, (SupervisedRecipe, Seq2Seq)):
            raise PredictError(f"recipe {recipe.name!r} does not map an input to an answer; "
                               "predict works with classification, regression, multi-label, "
                               "language and seq2seq projects (try layerloom sample)")
        load_trained(project, weights, None, device, recipe)
        self.recipe, self.info = recipe, recipe.info
        fed = recipe.fed_inputs("model")
        if len(fed) != 1:
            raise PredictError(f"network {recipe.names['model']!r} reads "
                               f"{len(fed)} inputs from the data "
                               f"({', '.join(s.name for s in fed)}); predict reads one")
        self.spec = fed[0]
        preprocess, _ = run_preprocess(weights)
        if preprocess is None:  # a run from before the record: the data's own statistics
            preprocess = Preprocess.from_splits(self.data)
        # The export's wrapper, used for its two directions: raw → standardised and back.
        self.scaler = WithPreprocess(recipe.nets["model"], [self.spec], preprocess)
        self.standardised = bool(self.scaler.steps)
        self.pad = tokens.pad_id(self.info)

    # --- inputs ----------------------------------------------------------------------------

    @property
    def is_image(self) -> bool:
        return len(self.spec.shape) == 3 and self.spec.kind != "index"

    def describe_input(self) -> str:
        shape = "[" + ", ".join(map(str, self.spec.shape)) + "]"
        kind = "token ids" if self.spec.kind == "index" else \
            "an image" if self.is_image else "numbers"
        return f"input {self.spec.name!r}: {kind} {shape}"

    def read_input(self, source: str | Path) -> list[Sample]:
        """The sample(s) in ``source`` (a file, an inline CSV row or text), standardised as
        training did; InputError names what does not fit."""
        raws = read_raw(source, self.spec, self.info.vocab, self.pad)
        return [Sample(r.name, self._standardise(r.tensor)) for r in raws]

    def _standardise(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.kind == "index":
            return x.long()
        return self.scaler.standardise([x.float()[None]])[0][0]

    def validation_size(self) -> int:
        return len(self.data.val)

    def validation(self, indices) -> list[Sample]:
        """Validation samples (already standardised by the dataset) with their answers."""
        val, out = self.data.val, []
        for i in indices:
            row = {k: v[i] for k, v in val.items()} if isinstance(val, TensorData) else val[i]
            target = getattr(self.recipe, "target", None)
            truth = self._words(row[target]) if target in row else ""
            out.append(Sample(f"validation #{i}", row[self.spec.field].cpu(), truth))
        return out

    def _words(self, y: torch.Tensor) -> str:
        if isinstance(self.recipe, Seq2Seq) or (y.dim() >= 1 and not y.is_floating_point()
                                                and self.info.vocab):
            return tokens.decode(y, self.info.vocab, (y != self.pad).tolist())
        if y.is_floating_point():
            return ", ".join(f"{v:.4g}" for v in y.reshape(-1).tolist())
        if y.dim() == 0:
            return self._names()[int(y)] if int(y) < len(self._names()) else str(int(y))
        return ", ".join(self._names()[i] for i in y.nonzero()[:, 0].tolist())  # multi-label

    def _names(self) -> tuple[str, ...]:
        count = int(self.info.num_classes or len(self.info.vocab) or 0)
        return self.info.class_names or self.info.vocab or tuple(map(str, range(count)))

    def shown(self, sample: Sample):
        """The input as the model sees it, for display: an image de-standardised to [0, 1]
        ([C, H, W] numpy), the decoded text of token ids, else the standardised numbers."""
        x = sample.tensor
        if self.spec.kind == "index":
            return tokens.decode(x, self.info.vocab, (x != self.pad).tolist()) \
                if self.info.vocab else " ".join(map(str, x.tolist()))
        if self.is_image:
            raw = self.scaler.raw([x.float()[None]])[0][0]
            return raw.clamp(0, 1).numpy()
        return x.float().numpy()

    # --- answers ---------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, samples: list[Sample], top: int = TOP) -> list[Prediction]:
        return [self._one(s, max(1, int(top))) for s in samples]

    def _one(self, sample: Sample, top: int) -> Prediction:
        r, x = self.recipe, sample.tensor.to(self.recipe.device)[None]
        batch = {self.spec.field: x}
        if isinstance(r, Seq2Seq):
            real = int((x != self.pad).sum())
            same = r.info.fields[self.spec.field].shape[0] == r.length
            steps = real if same or not isinstance(r.length, int) else r.length
            ids = r.decode(batch, 1, max(1, steps))[0]
            return Prediction(sample.name, "text", text=tokens.decode(ids, self.info.vocab),
                              truth=sample.truth)
        out = r.prediction(batch, train=False).float()[0]
        if isinstance(r, Regression):
            return Prediction(sample.name, "value", values=out.reshape(-1).tolist(),
                              truth=sample.truth)
        if isinstance(r, MultiLabel):
            return Prediction(sample.name, "labels", self._top(out.reshape(-1).sigmoid(), top),
                              truth=sample.truth)
        if getattr(r, "per_step", False) or out.dim() > 1:  # a symbol per position
            keep = (x[0] != self.pad).tolist() if self.spec.kind == "index" and \
                x.shape[1] == out.shape[0] else None
            ids = out.argmax(-1)
            text = tokens.decode(ids, self.info.vocab, keep) if self.info.vocab else \
                " ".join(self._names()[i] for i in ids.tolist())
            nxt = []
            if isinstance(r, LanguageModel):  # what the model would write next
                last = (sum(keep) if keep else out.shape[0]) - 1
                nxt = self._top(out[last].softmax(-1), top, names=self.info.vocab)
            return Prediction(sample.name, "text", nxt, text=text, truth=sample.truth)
        return Prediction(sample.name, "classes", self._top(out.softmax(-1), top),
                          truth=sample.truth)

    def _top(self, probs: torch.Tensor, k: int, names=None) -> list[tuple[str, float]]:
        names = names or self._names()
        p, i = probs.topk(min(k, probs.numel()))
        return [(names[j] if j < len(names) else str(j), float(q))
                for q, j in zip(p.tolist(), i.tolist())]
