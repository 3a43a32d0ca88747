"""Skip-gram word embeddings with negative sampling (word2vec, Mikolov et al. 2013).

Two networks, as in the paper's two tables: ``words`` turns a center word id into its vector
u (the word vectors one keeps) and ``contexts`` turns context ids into vectors v (its Input
has source ``recipe`` and field ``contexts``: the recipe fills it with the true context word
followed by k noise words).  The loss pulls u towards the true context and pushes it away
from the noise words, drawn from the unigram distribution raised to 3/4:

    −log σ(u·v_context) − Σₖ log σ(−u·v_noise,k)

Validation reports that loss on held-out pairs (with the same noise words every time) and,
where the data has analogy questions (a : b :: c : d), the share answered right by 3CosAdd:
the word nearest in cosine to b − a + c on unit vectors, a, b and c themselves excluded.
``layerloom sample --prompt "king - man + woman"`` lists the nearest words; a single word
lists its neighbours.
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from builder.blocks.spec import Param
from runtime.events import Samples
from runtime.recipes.base import Feed, Recipe, RecipeError, Role, eval_mode

__all__ = ["SkipGram", "parse_query", "nearest", "analogy_answers"]

CHUNK = 512  # analogy questions scored at once: [CHUNK, V] cosines
SHOWN_PER_FAMILY = 3  # analogy results in the text sample, per family
_TERM = re.compile(r"\s*([+\-−]?)\s*([^\s+\-−]+)")


def parse_query(text: str) -> list[tuple[int, str]]:
    """``"king - man + woman"`` → [(1, "king"), (-1, "man"), (1, "woman")] (lower-cased;
    ``−`` counts as minus).  Raises ValueError for an empty or malformed query."""
    text = text.strip()
    terms, at = [], 0
    while at < len(text):
        m = _TERM.match(text, at)
        if m is None or m.end() == at:
            break
        sign, word = m.groups()
        if not sign and terms:
            raise ValueError(f"put + or - between words: {text!r}")
        terms.append((-1 if sign in ("-", "−") else 1, word.lower()))
        at = m.end()
    if not terms or text[at:].strip():
        raise ValueError(f"a query is a word, or words joined by + and -, such as "
                         f"'king - man + woman'; received {text!r}")
    return terms


def nearest(unit: Tensor, query: Tensor, exclude: Tensor | None, k: int
            ) -> tuple[Tensor, Tensor]:
    """(scores, ids) of the ``k`` rows of ``unit`` [V, D] (unit vectors) nearest in cosine
    to each row of ``query`` [Q, D]; ``exclude`` [Q, E] ids never returned."""
    sims = F.normalize(query.float(), dim=-1) @ unit.float().T
    if exclude is not None:
        sims.scatter_(1, exclude, float("-inf"))
    return sims.topk(min(k, sims.shape[1]), dim=1)


def analogy_answers(unit: Tensor, questions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """3CosAdd for questions [Q, 4] of ids a, b, c, d: (the answer of each, its cosine,
    the rank of d among all words but a, b, c, from 1)."""
    answers, scores, ranks = [], [], []
    for part in questions.split(CHUNK):
        a, b, c, d = part.unbind(1)
        sims = F.normalize(unit[b] - unit[a] + unit[c], dim=-1) @ unit.T
        sims.scatter_(1, part[:, :3], float("-inf"))
        best, answer = sims.max(1)
        ranks.append((sims > sims.gather(1, d[:, None])).sum(1) + 1)
        answers.append(answer)
        scores.append(best)
    return torch.cat(answers), torch.cat(scores), torch.cat(ranks)


def _embeddings(module: nn.Module) -> list[tuple[str, nn.Embedding]]:
    return [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Embedding)]


class SkipGram(Recipe):
    name = "skipgram"
    title = "Skip-gram word embeddings (word2vec)"
    description = ("Learn a vector per word from the words around it: skip-gram with "
                   "negative sampling; analogies such as king − man + woman ≈ queen test it.")
    tasks = ("language",)
    roles = (
        Role("words", "A center word id → its vector (an Embedding): the word vectors."),
        Role("contexts", "Context word ids → their vectors (a second Embedding); its Input "
                         "has source 'recipe' and field 'contexts'."),
    )
    feeds = (Feed("contexts", "contexts", "the true context word, then k noise words"),)
    params = (
        Param("context", "str", "context", help="The data field holding each center "
                                                "word's true context word."),
        Param("negatives", "int", 5, min=1, max=100,
              help="k: noise words drawn per pair, which the center word is pushed from."),
        Param("power", "float", 0.75, min=0.0, max=1.0,
              help="Noise words are drawn with probability ∝ count^power (0.75 in "
                   "word2vec; 0: uniform, 1: as often as in the text)."),
        Param("shown_words", "int", 300, min=2, max=500,
              help="The projector shows this many of the most frequent words."),
    )
    monitor = ("analogy_accuracy", "max")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vocab = self.info.vocab
        if not self.vocab:
            raise RecipeError(f"recipe {self.name!r} needs words: dataset {self.info.name!r} "
                              "has no vocabulary; choose analogies or words")
        if self.options["context"] not in self.info.fields:
            raise RecipeError(f"recipe {self.name!r} reads context words from field "
                              f"{self.options['context']!r}, but dataset {self.info.name!r} "
                              f"has {', '.join(sorted(self.info.fields))}")
        fed = self.fed_inputs("words")
        if len(fed) != 1:
            raise RecipeError(f"network {self.names['words']!r} needs exactly one Input of "
                              f"word ids from the data; it has {len(fed)}")
        self.center = fed[0].field
        for role in self.compiled:
            for node, table in _embeddings(self.nets[role]):
                if table.num_embeddings < len(self.vocab):
                    raise RecipeError(
                        f"Embedding {node!r} of network {self.names[role]!r} holds "
                        f"{table.num_embeddings} words, but {self.info.name!r} has "
                        f"{len(self.vocab)}: set its vocab to {len(self.vocab)}")
        counts = self.info.extra.get("counts") or [1] * len(self.vocab)
        self.counts = torch.as_tensor(counts, dtype=torch.float64)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.questions = {family: torch.tensor([[self.index[w] for w in q] for q in qs])
                          for family, qs in self.info.extra.get("analogies", {}).items()
                          if qs and all(w in self.index for q in qs for w in q)}
        if not self.questions:
            self.monitor = ("loss", "min")  # nothing to ask the vectors
        self._cdf: Tensor | None = None
        self._val_noise: torch.Generator | None = None

    # --- the loss ----------------------------------------------------------------------------

    def noise(self, n: int, generator: torch.Generator | None,
              device: torch.device | None = None) -> Tensor:
        """[n, k] noise word ids ∝ count^power, drawn on ``device`` (the batch's) from
        ``generator``, by inverting the cumulative distribution."""
        device = device or self.device
        if self._cdf is None or self._cdf.device != device:
            cdf = (self.counts ** self.options["power"]).cumsum(0)
            self._cdf = (cdf / cdf[-1]).float().to(device)
        k = self.options["negatives"]
        u = torch.rand(n, k, device=device, generator=generator)
        return torch.searchsorted(self._cdf, u).clamp_(max=len(self.vocab) - 1)

    def vectors(self, batch: dict[str, Tensor], noise: Tensor, train: bool = True
                ) -> tuple[Tensor, Tensor]:
        """u [B, D] of the center words, v [B, 1 + k, D] of the true context and the noise."""
        n = noise.shape[0]
        contexts = torch.cat([batch[self.options["context"]].reshape(n, 1), noise], 1)
        u = self.output("words", self.forward("words", batch, train)).reshape(n, -1)
        v = self.output("contexts", self.forward("contexts", batch, train,
                                                 replace={"contexts": contexts}))
        return u, v.reshape(n, contexts.shape[1], -1)

    @staticmethod
    def loss(u: Tensor, v: Tensor) -> Tensor:
        """Per pair: −log σ(u·v₀) − Σₖ log σ(−u·vₖ)."""
        s = (v.float() @ u.float()[:, :, None]).squeeze(2)
        return -F.logsigmoid(s[:, 0]) - F.logsigmoid(-s[:, 1:]).sum(1)

    def check(self, batch):
        ids = batch[self.center]
        u, v = self.vectors(batch, self.noise(len(ids), None, ids.device), train=False)
        if u.shape[1] != v.shape[2]:
            raise RecipeError(f"network {self.names['words']!r} makes vectors of {u.shape[1]} "
                              f"numbers, {self.names['contexts']!r} of {v.shape[2]}: the two "
                              "Embeddings need the same dim")

    def step(self, ctx, batch):
        ids = batch[self.center]
        u, v = self.vectors(batch, self.noise(len(ids), self.generator, ids.device))
        loss = self.loss(u, v).mean()
        ctx.optimize(loss, "words", "contexts")
        return {"loss": loss.detach()}

    # --- validation --------------------------------------------------------------------------

    def eval_batch(self, batch):
        ids = batch[self.center]
        if self._val_noise is None:  # the same noise words at every validation
            self._val_noise = torch.Generator(ids.device).manual_seed(0)
        u, v = self.vectors(batch, self.noise(len(ids), self._val_noise, ids.device), False)
        return {"loss": self.loss(u, v).sum(), "n": torch.tensor(len(ids), device=u.device)}

    def eval_summary(self, totals, count):
        self._val_noise = None
        metrics = {"loss": float(totals["loss"]) / max(1.0, float(totals["n"]))}
        metrics.update(self.analogy_metrics())
        return metrics, {}

    def word_vectors(self, count: int | None = None) -> Tensor:
        """[V, D] the words network's vector of each word (the first ``count`` words: the
        most frequent), in eval mode."""
        with eval_mode([self.nets["words"]]), torch.no_grad():
            ids = torch.arange(count or len(self.vocab), device=self.device)[:, None]
            out = self.output("words", self.forward("words", {self.center: ids}, False))
        return out.reshape(len(ids), -1).float()

    def analogy_metrics(self) -> dict[str, float]:
        if not self.questions:
            return {}
        unit = F.normalize(self.word_vectors(), dim=1)
        right = {f: (analogy_answers(unit, q.to(unit.device))[0] == q[:, 3].to(unit.device))
                 for f, q in self.questions.items()}
        every = torch.cat(list(right.values()))
        out = {"analogy_accuracy": float(every.float().mean())}
        out.update({f"analogy_{f}": float(r.float().mean()) for f, r in right.items()})
        return out

    # --- pictures and sampling -----------------------------------------------------------------

    def samples(self, data, step, epoch):
        shown = min(len(self.vocab), self.options["shown_words"])
        vectors = self.word_vectors(shown)
        groups = [""] * shown  # each word's analogy family, for colours
        for family, qs in self.questions.items():
            for i in qs.flatten().tolist():
                if i < shown:
                    groups[i] = family
        out = [Samples(step, epoch, "word vectors", "embedding", vectors.cpu().numpy(),
                       list(self.vocab[:shown]),
                       {"analogies": [tuple(self.vocab[i] for i in q)
                                      for qs in self.questions.values()
                                      for q in qs.tolist() if max(q) < shown],
                        "groups": groups})]
        if self.questions:
            out.append(Samples(step, epoch, "analogies", "text",
                               self.analogy_lines(F.normalize(self.word_vectors(), dim=1))))
        return out

    def analogy_lines(self, unit: Tensor) -> list[str]:
        """A few questions of each family answered: "king − man + woman → queen ✓ (0.83)"."""
        lines = []
        for family, qs in self.questions.items():
            pick = qs[torch.linspace(0, len(qs) - 1, min(len(qs), SHOWN_PER_FAMILY)).long()]
            answers, scores, ranks = analogy_answers(unit, pick.to(unit.device))
            for (a, b, c, d), got, score, rank in zip(pick.tolist(), answers.tolist(),
                                                      scores.tolist(), ranks.tolist()):
                w = self.vocab
                mark = "✓" if got == d else f"✗, {w[d]} is #{rank}"
                lines.append(f"{family}: {w[c]} − {w[a]} + {w[b]} → {w[got]} {mark} "
                             f"({score:.2f})")
        return lines

    def sample(self, n, generator, prompt=None, temperature=1.0):
        """The ``n`` words nearest to the prompt: a word, or words joined by + and -."""
        if not prompt:
            raise RecipeError(f"recipe {self.name!r} answers a word or an analogy: give it as "
                              "the prompt, e.g. --prompt 'king - man + woman'")
        try:
            terms = parse_query(prompt)
        except ValueError as e:
            raise RecipeError(str(e)) from None
        unknown = [w for _, w in terms if w not in self.index]
        if unknown:
            raise RecipeError(f"not in the vocabulary of {self.info.name!r}: "
                              f"{', '.join(unknown)}")
        unit = F.normalize(self.word_vectors(), dim=1)
        ids = [self.index[w] for _, w in terms]
        query = sum(s * unit[i] for (s, _), i in zip(terms, ids))
        scores, found = nearest(unit, query[None], torch.tensor([ids], device=unit.device), n)
        asked = " ".join(f"{'−' if s < 0 else '+'} {w}" for s, w in terms).lstrip("+ ")
        lines = [f"{asked} → {self.vocab[i]} ({s:.3f})"
                 for s, i in zip(scores[0].tolist(), found[0].tolist()) if np.isfinite(s)]
        return Samples(0, 0, "nearest words", "text", lines)
