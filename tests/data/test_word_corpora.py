"""Word data for skip-gram: the generated analogies corpus, any text file, the pairs within
a window, frequent-word subsampling and analogy questions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from runtime.data import DATASETS, load
from runtime.data.words import (
    FAMILIES,
    analogy_sentences,
    build_vocab,
    read_questions,
    sentences_of,
    skipgram_pairs,
    subsample,
    tokenize,
)

SMALL = {"sentences": 3000, "seed": 3}


def test_analogies_are_deterministic_pairs_of_word_ids():
    a, b = load("analogies", SMALL), load("analogies", SMALL)
    info = a.info
    assert info.task == "language" and DATASETS["analogies"].kind == "generated"
    assert {k: (f.shape, f.kind, f.dtype) for k, f in info.fields.items()} == {
        "center": ((1,), "tokens", "int64"), "context": ((1,), "tokens", "int64")}
    for part in ("train", "val"):
        for k in ("center", "context"):
            assert torch.equal(getattr(a, part)[k], getattr(b, part)[k])
            assert getattr(a, part)[k].max() < len(info.vocab)
    assert len(a.val) > 0 and len(a.train) > 10 * len(a.val)
    other = load("analogies", {**SMALL, "seed": 4})
    assert not torch.equal(other.train["center"][:100], a.train["center"][:100])


def test_analogies_vocabulary_counts_and_questions():
    info = load("analogies", SMALL).info
    counts = info.extra["counts"]
    assert len(counts) == len(info.vocab) and counts == sorted(counts, reverse=True)
    assert info.vocab[0] == "the"  # the most frequent word comes first
    questions = info.extra["analogies"]
    assert set(questions) == {"gender", "capital", "tense", "number"}
    assert ("man", "woman", "king", "queen") == questions["gender"][0]
    assert ("france", "paris", "italy", "rome") in questions["capital"]
    assert ("walk", "walked", "swim", "swam") in questions["tense"]
    assert ("dog", "dogs", "mouse", "mice") in questions["number"]
    for qs in questions.values():
        assert all(w in info.vocab for q in qs for w in q)
        n = round((1 + (1 + 4 * len(qs)) ** 0.5) / 2)  # n pairs give n(n-1) questions
        assert len(qs) == n * (n - 1)


def test_every_family_word_is_used_once_so_the_relations_are_clean():
    seen = Counter()
    for family in FAMILIES:
        for a, b, markers in family.parsed():
            seen.update((a, b, *markers))
        for left, right in family.sides.values():
            seen.update(left + right)
    assert [w for w, c in seen.items() if c > 1] == []
    sentences, _ = analogy_sentences(200, 0)
    fillers = {w for s in sentences for w in s} - set(seen)
    assert fillers and fillers <= {"a", "and", "at", "by", "famous", "for", "found", "i", "in",
                                   "is", "known", "liked", "look", "love", "loved", "near",
                                   "noticed", "of", "people", "said", "sat", "the", "they",
                                   "together", "visited", "was", "we", "you"}


def test_pairs_stay_in_their_sentence_and_window():
    ids = np.arange(10)
    sentence = np.array([0] * 4 + [1] * 6)
    center, context = skipgram_pairs(ids, sentence, 2, np.random.default_rng(0))
    assert len(center) == len(context) > 0
    assert (sentence[center] == sentence[context]).all()
    distance = np.abs(center - context)
    assert distance.min() >= 1 and distance.max() <= 2
    # Window 1 has no randomness: every neighbour within the sentence, both directions.
    c1, x1 = skipgram_pairs(ids, sentence, 1, np.random.default_rng(0))
    assert sorted(zip(c1.tolist(), x1.tolist())) == sorted(
        [(i, i + 1) for i in (0, 1, 2, 4, 5, 6, 7, 8)] + [(i + 1, i) for i in (0, 1, 2, 4, 5,
                                                                               6, 7, 8)])
    # The dynamic window: near contexts are more frequent than far ones.
    long = np.arange(5000)
    c, x = skipgram_pairs(long, np.zeros(5000, dtype=np.int64), 4, np.random.default_rng(1))
    near, far = (np.abs(c - x) == 1).sum(), (np.abs(c - x) == 4).sum()
    assert near > 3 * far > 0


def test_subsampling_thins_out_frequent_words_only():
    counts = np.array([9000.0, 900, 90, 10])
    ids = np.repeat(np.arange(4), counts.astype(int))
    keep = subsample(ids, counts, 1e-3, np.random.default_rng(0))
    kept = np.bincount(ids[keep], minlength=4) / counts
    assert kept[0] < 0.05 and kept[3] == 1.0 and kept[0] < kept[1] < kept[2]
    assert subsample(ids, counts, 0.0, np.random.default_rng(0)).all()


def test_tokenize_and_vocabulary():
    assert tokenize("The Queen's 2 CROWNS—naïve café!") == ["the", "queen's", "crowns", "naïve",
                                                            "café"]
    assert sentences_of("One cat. Two cats!\n\nA dog") == [["one", "cat"], ["two", "cats"],
                                                          ["a", "dog"]]
    vocab, counts = build_vocab([["b", "a", "b"], ["c", "a", "b"]], min_count=2, max_vocab=10)
    assert vocab == ("b", "a") and counts == [3, 2]
    assert build_vocab([["b", "a", "b", "a", "c"]], 1, 2)[0] == ("a", "b")  # ties: alphabetical


def test_words_reads_a_user_text_with_questions(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("The cat sat on the mat. The dog sat on the log.\n" * 30
                    + "A rare word appears once.", encoding="utf-8")
    questions = tmp_path / "questions.txt"
    questions.write_text(": animals\ncat mat dog log\nCat Mat Unicorn Horn\n", encoding="utf-8")
    s = load("words", {"path": str(text), "questions": str(questions), "min_count": 2,
                       "window": 2, "subsample": 0.0, "val_fraction": 0.1})
    assert s.info.source == str(text)
    assert "rare" not in s.info.vocab and s.info.vocab[0] == "the"
    assert s.info.extra["analogies"] == {"animals": [("cat", "mat", "dog", "log")]}
    assert len(s.train) > 0 and len(s.val) > 0
    capped = load("words", {"path": str(text), "max_vocab": 3, "subsample": 0.0})
    assert capped.info.vocab == ("the", "on", "sat")
    assert capped.train["center"].max() < 3


def test_words_defaults_to_the_bundled_text_and_explains_problems(tmp_path):
    s = load("words")
    assert s.info.source == "bundled:both" and len(s.info.vocab) > 100
    assert s.info.extra["analogies"] == {}
    bad = tmp_path / "q.txt"
    bad.write_text("king queen man\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: an analogy is four words"):
        read_questions(bad)
    short = tmp_path / "short.txt"
    short.write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match="fewer than 2 words"):
        load("words", {"path": str(short)})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load("words", {"path": str(tmp_path / "missing.txt")})
