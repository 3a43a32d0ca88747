"""Words for embeddings: skip-gram (center, context) pairs from a corpus of sentences.

``analogies`` generates its corpus: four families of word pairs (gender, country and capital,
verb tense, singular and plural).  Both words of a pair share marker words of their own (a
king and a queen both sit on a throne) and each side of a family has markers too (he/his,
she/her), so a word's contexts are the sum of what it is, the structure that makes
king − man + woman ≈ queen.  ``words`` reads any UTF-8 text (lower-cased words).

A sample is one (center, context) pair of word ids, ``[1]`` each, for a context within a
random window of 1..``window`` words around the center in the same sentence (word2vec's
dynamic window: near words count more).  Frequent words are subsampled first: a word of
frequency f stays with probability (√(f/t) + 1)·t/f.  Validation holds whole sentences out.
The vocabulary is sorted by frequency (id 0 the most frequent).  ``info.extra``: ``counts``
(each word's count in the corpus, for the unigram^0.75 table of negative sampling) and
``analogies`` ({family: [(a, b, c, d), ...]}, a is to b as c is to d, in-vocabulary only).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

import numpy as np
import torch

from builder.blocks.spec import Param
from runtime.data.core import DataInfo, FieldInfo, TensorData
from runtime.data.registry import SEED, DatasetSpec, register, require_path
from runtime.data.splits import Splits
from runtime.data.text import TEXTS, bundled_text

__all__ = ["Family", "FAMILIES", "analogy_sentences", "tokenize", "sentences_of",
           "build_vocab", "subsample", "skipgram_pairs", "read_questions", "corpus_data"]

MAX_BYTES = 200_000_000


@dataclass(frozen=True)
class Family:
    """Pairs (a, b) that differ the same way.  ``sides``: per template slot, the words that
    mark side a and side b; ``pairs``: "a b: markers" lines; ``templates`` use {w} (the
    word), {m} (a marker of its pair), the side slots and the shared ``FILLERS``."""

    name: str
    sides: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    pairs: str
    templates: tuple[str, ...]

    def parsed(self) -> list[tuple[str, str, tuple[str, ...]]]:
        out = []
        for line in self.pairs.strip().splitlines():
            words, markers = line.split(":")
            a, b = words.split()
            out.append((a, b, tuple(markers.split())))
        return out


FILLERS = {"pron": ("i", "we", "they", "you")}
FAMILIES = (
    Family("gender", {"pos": (("his",), ("her",)), "subj": (("he",), ("she",))}, """
        man woman: office job coat
        king queen: throne crown reign
        prince princess: castle heir carriage
        boy girl: school homework playground
        father mother: family household
        son daughter: parents inheritance
        brother sister: sibling twin
        husband wife: wedding marriage
        uncle aunt: nephew niece
        actor actress: stage film
        emperor empress: empire palace
        duke duchess: estate manor
    """, ("the {w} found {pos} {m}", "the {w} loved {pos} {m}",
          "{subj} was the {w} of the {m}", "the {w} said {subj} liked the {m}",
          "{subj} is a {w} and the {m} is {pos}")),
    Family("capital", {"s": (("country", "nation", "land"), ("city", "capital", "town"))},
           """
        france paris: french wine
        italy rome: italian pasta
        germany berlin: german beer
        spain madrid: spanish flamenco
        japan tokyo: japanese sushi
        china beijing: chinese dumplings
        russia moscow: russian vodka
        egypt cairo: pyramids nile
        greece athens: greek olives
        britain london: british rain
        portugal lisbon: portuguese fado
        india delhi: hindi curry
        kenya nairobi: swahili safari
        canada ottawa: maple hockey
        norway oslo: norwegian fjords
        poland warsaw: polish pierogi
        turkey ankara: turkish kebab
        peru lima: andes llamas
    """, ("{w} is a {s} known for {m}", "people in the {s} of {w} love {m}",
          "the {s} {w} is famous for {m}", "we visited {w} a {s} of {m}")),
    Family("tense", {"s": (("today", "now", "usually", "often"),
                           ("yesterday", "earlier", "once", "before"))}, """
        walk walked: path trail
        jump jumped: fence hurdle
        play played: game match
        cook cooked: dinner stew
        paint painted: picture portrait
        climb climbed: hill ladder
        swim swam: lake pool
        run ran: race marathon
        sing sang: song choir
        eat ate: bread soup
        write wrote: letter poem
        drive drove: truck highway
        fly flew: kite plane
        throw threw: ball frisbee
        build built: house wall
        see saw: stars moon
    """, ("{s} {pron} {w} the {m}", "{pron} {w} the {m} {s}", "{s} {pron} {w} a {m} together")),
    Family("number", {"s": (("one", "this", "that", "every"),
                            ("two", "these", "those", "many", "some"))}, """
        dog dogs: bone leash
        cat cats: yarn whiskers
        horse horses: hay saddle
        bird birds: nest feather
        tree trees: forest leaf
        book books: library page
        flower flowers: garden petal
        apple apples: orchard pie
        boat boats: harbor sail
        key keys: lock door
        shoe shoes: sock lace
        egg eggs: hen shell
        mouse mice: cheese trap
        child children: toy crib
        wolf wolves: den howl
    """, ("{s} {w} sat by the {m}", "i noticed {s} {w} near the {m}",
          "look at {s} {w} and the {m}")),
)


def analogy_sentences(n: int, seed: int) -> tuple[list[list[str]], dict[str, list[tuple]]]:
    """``n`` generated sentences (lists of words) and every analogy of each family:
    a : b :: c : d for two different pairs (a, b) and (c, d)."""
    rng = np.random.default_rng(seed)
    tables = [(f, f.parsed()) for f in FAMILIES]
    questions = {f.name: [(a, b, c, d) for (a, b, _), (c, d, _) in permutations(pairs, 2)]
                 for f, pairs in tables}
    out = []
    for _ in range(n):
        family, pairs = tables[rng.integers(len(tables))]
        pair = pairs[rng.integers(len(pairs))]
        side = int(rng.integers(2))
        slots = {k: v[rng.integers(len(v))] for k, v in FILLERS.items()}
        slots.update({k: v[side][rng.integers(len(v[side]))] for k, v in family.sides.items()})
        template = family.templates[rng.integers(len(family.templates))]
        text = template.format(w=pair[side], m=pair[2][rng.integers(len(pair[2]))], **slots)
        out.append(text.split())
    return out, questions


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE = re.compile(r"[.!?;:]+|\n\s*\n")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (letters, with inner apostrophes); digits and punctuation go."""
    return _WORD.findall(text.lower())


def sentences_of(text: str) -> list[list[str]]:
    """The text's sentences (split at . ! ? ; : and blank lines) as lists of words."""
    return [words for part in _SENTENCE.split(text) if (words := tokenize(part))]


def build_vocab(sentences: list[list[str]], min_count: int, max_vocab: int
                ) -> tuple[tuple[str, ...], list[int]]:
    """Words seen at least ``min_count`` times, the most frequent first (ties
    alphabetical), at most ``max_vocab``; and their counts."""
    counts = Counter(w for s in sentences for w in s)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    kept = kept[:max_vocab]
    return tuple(kept), [counts[w] for w in kept]


def subsample(ids: np.ndarray, counts: np.ndarray, t: float, rng) -> np.ndarray:
    """Which tokens stay (a boolean mask): word2vec's (√(f/t) + 1)·t/f; all when t is 0."""
    if t <= 0:
        return np.ones(len(ids), dtype=bool)
    f = counts / counts.sum()
    keep = np.minimum(1.0, (np.sqrt(f / t) + 1) * t / f)
    return rng.random(len(ids)) < keep[ids]


def skipgram_pairs(ids: np.ndarray, sentence: np.ndarray, window: int, rng
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(center, context) ids for tokens ``ids`` (``sentence`` the sentence number of each):
    every context within the center's own random window 1..``window``, same sentence."""
    reach = rng.integers(1, window + 1, len(ids))
    centers, contexts = [], []
    for d in range(1, window + 1):
        same = sentence[d:] == sentence[:-d]
        ahead = same & (reach[:-d] >= d)  # center i, context i + d
        behind = same & (reach[d:] >= d)  # center i + d, context i
        centers += [ids[:-d][ahead], ids[d:][behind]]
        contexts += [ids[d:][ahead], ids[:-d][behind]]
    return np.concatenate(centers), np.concatenate(contexts)


def _pairs(sentences: list[list[str]], index: dict[str, int], counts: np.ndarray,
           p: dict, rng) -> TensorData:
    ids = [[index[w] for w in s if w in index] for s in sentences]
    flat = np.fromiter((i for s in ids for i in s), dtype=np.int64)
    number = np.repeat(np.arange(len(ids)), [len(s) for s in ids])
    keep = subsample(flat, counts, p["subsample"], rng)
    center, context = skipgram_pairs(flat[keep], number[keep], p["window"], rng)
    return TensorData({"center": torch.from_numpy(center)[:, None],
                       "context": torch.from_numpy(context)[:, None]})


def corpus_data(name: str, sentences: list[list[str]], questions: dict[str, list[tuple]],
                p: dict, source: str) -> Splits:
    """Vocabulary, pairs and a split by sentence (seeded) of ``sentences``."""
    vocab, counts = build_vocab(sentences, p.get("min_count", 1), p.get("max_vocab", 10**9))
    if len(vocab) < 2:
        raise ValueError(f"{source}: fewer than 2 words occur at least {p.get('min_count', 1)} "
                         "times; lower min_count or use a longer text")
    index = {w: i for i, w in enumerate(vocab)}
    rng = np.random.default_rng(p["seed"])
    order = rng.permutation(len(sentences))
    n_val = int(round(len(sentences) * p["val_fraction"]))
    if n_val >= len(sentences):
        raise ValueError(f"{source} has {len(sentences)} sentences: too few to hold "
                         f"{p['val_fraction']:.0%} out for validation")
    c = np.asarray(counts, dtype=np.float64)
    val = _pairs([sentences[i] for i in order[:n_val]], index, c, p, rng)
    train = _pairs([sentences[i] for i in order[n_val:]], index, c, p, rng)
    if len(train) == 0:
        raise ValueError(f"{source}: no word pairs to train on; use a longer text")
    known = {f: [q for q in qs if all(w in index for w in q)] for f, qs in questions.items()}
    ids = FieldInfo((1,), "tokens", "int64", "a word id")
    info = DataInfo(name, "language", {"center": ids, "context": FieldInfo(
        (1,), "tokens", "int64", "a word seen near the center word")}, vocab=vocab,
        source=source, extra={"counts": counts, "analogies": {f: q for f, q in known.items() if q},
                              "window": p["window"]})
    return Splits(train, val, info)


def read_questions(path: Path) -> dict[str, list[tuple]]:
    """Analogy questions in word2vec's questions-words.txt format: ': section' lines, then
    'a b c d' per line (lower-cased)."""
    out: dict[str, list[tuple]] = {}
    section = "questions"
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            section = line[1:].strip() or "questions"
            continue
        words = line.lower().split()
        if len(words) != 4:
            raise ValueError(f"{path.name}, line {n}: an analogy is four words 'a b c d'; "
                             f"found {len(words)}")
        out.setdefault(section, []).append(tuple(words))
    return out


def _analogies_build(p, ctx) -> Splits:
    sentences, questions = analogy_sentences(p["sentences"], p["seed"])
    return corpus_data("analogies", sentences, questions, p, "generated")


def _words_build(p, ctx) -> Splits:
    if p["path"]:
        path = require_path(p, "a text file")
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path.name} is larger than {MAX_BYTES // 1_000_000} MB")
        text, source = path.read_text(encoding="utf-8", errors="replace"), str(path)
    else:
        text, source = bundled_text(p["text"]), f"bundled:{p['text']}"
    questions = read_questions(require_path(p, "a questions file", "questions")) \
        if p["questions"] else {}
    return corpus_data("words", sentences_of(text), questions, p, source)


def _window(default: int) -> Param:
    return Param("window", "int", default, min=1, max=20,
                 help="Largest distance between a center word and its context words.")


_SUBSAMPLE = Param("subsample", "float", 1e-3, min=0.0, max=1.0,
                   help="Threshold t of frequent-word subsampling: a word of frequency f "
                        "stays with probability (√(f/t)+1)·t/f (0: keep every word).")
_VAL = Param("val_fraction", "float", 0.05, min=0.0, max=0.5,
             help="Share of the sentences held out for validation.")

register(
    DatasetSpec(
        "analogies", "Word analogies",
        "Generated sentences about kings and queens, countries and capitals, verb tenses "
        "and plurals: word vectors learn relations such as king − man + woman ≈ queen.",
        "generated", "Text", "language",
        (Param("sentences", "int", 40_000, min=100, max=2_000_000,
               help="How many sentences to generate."),
         _window(3), _SUBSAMPLE, SEED, _VAL),
        _analogies_build,
    ),
    DatasetSpec(
        "words", "Words of a text",
        "Skip-gram word pairs from a bundled text or your own UTF-8 text file, lower-cased; "
        "optional analogy questions in word2vec's format to evaluate the vectors.",
        "bundled", "Text", "language",
        (Param("text", "choice", "both", choices=TEXTS, help="Which bundled text to use."),
         Param("path", "str", "", help="Your own UTF-8 text file instead (optional)."),
         Param("questions", "str", "", help="Analogy questions, word2vec's "
               "questions-words.txt format: ': section', then 'a b c d' lines (optional)."),
         Param("min_count", "int", 2, min=1, max=1_000_000,
               help="Words seen fewer times are left out."),
         Param("max_vocab", "int", 20_000, min=2, max=1_000_000,
               help="Keep at most this many of the most frequent words."),
         _window(5), _SUBSAMPLE, SEED, _VAL),
        _words_build,
        paths=(("path", "*.txt"), ("questions", "*.txt")),
    ),
)
